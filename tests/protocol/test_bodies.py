from __future__ import annotations

import codecs
import importlib.resources
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netbench.protocol.bodies import DecodedBody, decode_body
from netbench.protocol.images import ImageInfo

ASSET = (importlib.resources.files("netbench") / "assets" / "test.jpg").read_bytes()
ASSET_INFO = ImageInfo("image/jpeg", 320, 200, len(ASSET))
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x03\x00\x00\x00\x02"

FORM = b"application/x-www-form-urlencoded"


def form(*fields: tuple[str, str], error: str | None = None) -> DecodedBody:
    return DecodedBody("form", fields=fields, error=error)


def text(value: str, error: str | None = None) -> DecodedBody:
    return DecodedBody("text", text=value, error=error)


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        pytest.param(None, b"", DecodedBody("empty"), id="empty"),
        pytest.param(b"application/json", b"", DecodedBody("empty"), id="empty-json"),
        # application/x-www-form-urlencoded
        pytest.param(FORM, b"a=1&b=2", form(("a", "1"), ("b", "2")), id="form"),
        pytest.param(
            FORM,
            b"tag=x&tag=y&blank=&bare&sp=a+b%20c",
            form(("tag", "x"), ("tag", "y"), ("blank", ""), ("bare", ""), ("sp", "a b c")),
            id="form-duplicates-and-blanks",
        ),
        pytest.param(FORM, b"q=caf%C3%A9", form(("q", "café")), id="form-utf8-escapes"),
        pytest.param(FORM, b"q=caf\xc3\xa9", form(("q", "café")), id="form-raw-utf8"),
        pytest.param(FORM, b"q=caf%E9&r=%C3%A9", form(("q", "café"), ("r", "Ã©")), id="latin1"),
        pytest.param(
            b"Application/X-WWW-Form-Urlencoded; Charset=ISO-8859-1",
            b"q=caf%E9",
            form(("q", "café")),
            id="form-charset",
        ),
        pytest.param(
            FORM + b"; charset=klingon",
            b"q=caf%C3%A9",
            form(("q", "café"), error="unknown charset 'klingon'"),
            id="form-unknown-charset",
        ),
        pytest.param(
            FORM + b"; charset=hex", b"q=1", form(("q", "1"), error="unknown charset 'hex'")
        ),
        pytest.param(FORM, b"k=\x1b[2J", form(("k", "\x1b[2J")), id="form-not-sanitised-here"),
        # JSON
        pytest.param(
            b"application/json",
            b'{"name":"caf\xc3\xa9","n":[1,2]}',
            DecodedBody(
                "json", json_pretty='{\n  "name": "café",\n  "n": [\n    1,\n    2\n  ]\n}'
            ),
            id="json",
        ),
        pytest.param(
            b"application/problem+json; charset=utf-8",
            b'{"title":"nope"}',
            DecodedBody("json", json_pretty='{\n  "title": "nope"\n}'),
            id="plus-json",
        ),
        pytest.param(
            b"application/json",
            '["é"]'.encode("utf-16"),
            DecodedBody("json", json_pretty='[\n  "é"\n]'),
            id="json-utf16-bom",
        ),
        pytest.param(
            b"application/json; charset=iso-8859-1",
            b'"caf\xe9"',
            DecodedBody("json", json_pretty='"café"'),
            id="json-declared-charset",
        ),
        pytest.param(
            b"application/json",
            b"[1, ]",
            text("[1, ]", error="invalid JSON: Expecting value at line 1 col 5"),
            id="invalid-json",
        ),
        pytest.param(
            b"application/vnd.api+json",
            b'{\n  "a": 1,\n}',
            text(
                '{\n  "a": 1,\n}',
                error="invalid JSON: Expecting property name enclosed in double quotes"
                " at line 3 col 1",
            ),
            id="invalid-json-trailing-comma",
        ),
        pytest.param(
            b"application/json",
            b"[NaN]",
            text("[NaN]", error="invalid JSON: Expecting value at line 1 col 2"),
            id="json-nan",
        ),
        pytest.param(
            b"application/json",
            b"[" * 100_000,
            text("[" * 100_000, error="invalid JSON: Expecting value at line 1 col 100001"),
            id="json-unclosed-deep",
        ),
        pytest.param(
            b"application/json",
            b"9" * 5000,
            DecodedBody("json", json_pretty="9" * 5000),
            id="json-huge-int-as-sent",
        ),
        pytest.param(
            b"application/json",
            b'"\xff\xfe\xfd"',
            DecodedBody("binary", error="invalid JSON: not utf-8 at byte 1"),
            id="json-not-utf8",
        ),
        pytest.param(
            b"application/json",
            ASSET,
            DecodedBody("image", image=ASSET_INFO, error="invalid JSON: not utf-8 at byte 0"),
            id="json-that-is-a-jpeg",
        ),
        # text/*
        pytest.param(b"text/plain", b"hello\r\n", text("hello\r\n"), id="text"),
        pytest.param(
            b"text/html; charset=utf-8", b"<p>caf\xc3\xa9</p>", text("<p>café</p>"), id="html"
        ),
        pytest.param(b"text/plain", b"caf\xe9", text("café"), id="text-latin1-fallback"),
        pytest.param(
            b"text/plain; charset=utf-16-le", "hé".encode("utf-16-le"), text("hé"), id="utf16"
        ),
        pytest.param(
            b"text/plain; charset=utf-8", b"bad \xff byte", text("bad \ufffd byte"), id="replace"
        ),
        pytest.param(
            b"text/plain; charset=martian",
            b"hi",
            text("hi", error="unknown charset 'martian'"),
            id="text-unknown-charset",
        ),
        pytest.param(
            b"text/plain; charset=unicode-escape",
            b"\\x41",
            text("\\x41", error="unknown charset 'unicode-escape'"),
            id="escape-codec-is-no-charset",
        ),
        pytest.param(
            b"text/plain; charset=utf\x008",
            b"hi",
            text("hi", error="unknown charset 'utf\\x008'"),
            id="nul-in-charset",
        ),
        pytest.param(
            b"text/plain", b"\x1b]0;pwned\x07\x00", text("\x1b]0;pwned\x07\x00"), id="unsanitised"
        ),
        pytest.param(
            b"text/html", ASSET, DecodedBody("image", image=ASSET_INFO), id="jpeg-as-html"
        ),
        # images, sniffed whatever the declared type
        pytest.param(b"image/jpeg", ASSET, DecodedBody("image", image=ASSET_INFO), id="jpeg"),
        pytest.param(None, ASSET, DecodedBody("image", image=ASSET_INFO), id="jpeg-untyped"),
        pytest.param(
            b"application/octet-stream",
            PNG_HEAD,
            DecodedBody("image", image=ImageInfo("image/png", 3, 2, len(PNG_HEAD))),
            id="png-as-octet-stream",
        ),
        # sniffed text and binary
        pytest.param(None, b"plain\twords\r\n", text("plain\twords\r\n"), id="sniffed-text"),
        pytest.param(
            b"application/javascript", b"let x = '\xc3\xa9';", text("let x = 'é';"), id="js"
        ),
        pytest.param(
            b"application/xml; charset=iso-8859-1", b"<a>\xe9</a>", text("<a>é</a>"), id="xml"
        ),
        pytest.param(b"image/svg+xml", b"<svg/>", text("<svg/>"), id="svg-is-text"),
        pytest.param(None, b"\x1b[31mred", DecodedBody("binary"), id="escape-is-binary"),
        pytest.param(None, b"nul\x00", DecodedBody("binary"), id="nul-is-binary"),
        pytest.param(None, b"form\x0cfeed", DecodedBody("binary"), id="form-feed-is-binary"),
        pytest.param(None, b"c1 \xc2\x85", DecodedBody("binary"), id="c1-is-binary"),
        pytest.param(None, b"\xff\xfe\x00\x01", DecodedBody("binary"), id="not-utf8"),
        pytest.param(b"nonsense", b"\x00\x01", DecodedBody("binary"), id="malformed-type"),
        pytest.param(b"nonsense", b"words", text("words"), id="malformed-type-text"),
        pytest.param(b"", b"words", text("words"), id="blank-type"),
        pytest.param(b"text/plain\r\nX-Evil: 1", b"hi", text("hi"), id="crlf-in-type"),
    ],
)
def test_decode_body(content_type: bytes | None, body: bytes, expected: DecodedBody) -> None:
    assert decode_body(content_type, body) == expected


def part(headers: str, payload: bytes) -> bytes:
    return b"--XyZ\r\n" + headers.encode().replace(b"\n", b"\r\n") + b"\r\n\r\n" + payload + b"\r\n"


MULTIPART = b"multipart/form-data; boundary=XyZ"
BINARY = bytes(range(256)) + b"\r\n\r\n--Xy\r\n\n\r"
BROWSER_FORM = (
    b"preamble is ignored\r\n"
    + part('Content-Disposition: form-data; name="title"', b"Hello, w\xc3\xb6rld")
    + part('Content-Disposition: form-data; name="tag"', b"a")
    + part('Content-Disposition: form-data; name="tag"', b"")
    + part(
        'Content-Disposition: form-data; name="upload"; filename="pic.jpg"\n'
        "Content-Type: image/jpeg",
        ASSET,
    )
    + part(
        'Content-Disposition: form-data; name="blob"; filename="raw.bin"\n'
        "Content-Type: application/octet-stream",
        BINARY,
    )
    + part(
        'Content-Disposition: form-data; name="nothing"; filename=""\n'
        "Content-Type: application/octet-stream",
        b"",
    )
    + b"--XyZ--\r\nepilogue too\r\n"
)
BROWSER_FIELDS = (
    ("title", "Hello, wörld"),
    ("tag", "a"),
    ("tag", ""),
    ("upload", f"<file pic.jpg, {len(ASSET)} bytes, image/jpeg>"),
    ("blob", f"<file raw.bin, {len(BINARY)} bytes, application/octet-stream>"),
    ("nothing", "<file , 0 bytes, application/octet-stream>"),
)


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        pytest.param(
            MULTIPART, BROWSER_FORM, DecodedBody("multipart", fields=BROWSER_FIELDS), id="browser"
        ),
        pytest.param(
            b'Multipart/Form-Data; boundary="XyZ"',
            BROWSER_FORM,
            DecodedBody("multipart", fields=BROWSER_FIELDS),
            id="quoted-boundary",
        ),
        pytest.param(
            MULTIPART,
            part('Content-Disposition: form-data; name="f"; filename="caf\xe9.txt"', b"x").replace(
                "caf\xe9".encode(), "café".encode()
            )
            + part('Content-Disposition: form-data; name="f"; filename="a"', b"12")
            + b"--XyZ--\r\n",
            DecodedBody(
                "multipart",
                fields=(
                    ("f", "<file café.txt, 1 byte, text/plain>"),
                    ("f", "<file a, 2 bytes, text/plain>"),
                ),
            ),
            id="raw-utf8-filename",
        ),
        pytest.param(
            MULTIPART,
            part(
                "Content-Disposition: form-data; name*=utf-8''n%C3%A4me;"
                " filename*=utf-8''r%C3%A9sum%C3%A9.pdf\nContent-Type: application/pdf",
                b"%PDF",
            )
            + b"--XyZ--\r\n",
            DecodedBody(
                "multipart", fields=(("näme", "<file résumé.pdf, 4 bytes, application/pdf>"),)
            ),
            id="rfc2231-names",
        ),
        pytest.param(
            MULTIPART,
            part(
                'Content-Disposition: form-data; name="b64"; filename="x.bin"\n'
                "Content-Transfer-Encoding: base64",
                b"AAECAwQ=",
            )
            + part(
                'Content-Disposition: form-data; name="latin"\n'
                "Content-Type: text/plain; charset=iso-8859-1",
                b"\xe9t\xe9",
            )
            + part('Content-Disposition: form-data; name="guess"', b"\xe9t\xe9")
            + b"--XyZ--\r\n",
            DecodedBody(
                "multipart",
                fields=(
                    ("b64", "<file x.bin, 5 bytes, text/plain>"),
                    ("latin", "été"),
                    ("guess", "été"),
                ),
            ),
            id="transfer-encoding-and-charsets",
        ),
        pytest.param(
            MULTIPART,
            part(
                'Content-Disposition: form-data; name="files"\n'
                "Content-Type: multipart/mixed; boundary=Inner",
                b'--Inner\r\nContent-Disposition: file; filename="1.txt"\r\n\r\none\r\n'
                b'--Inner\r\nContent-Disposition: file; filename="2.txt"\r\n\r\ntwo!\r\n'
                b"--Inner--",
            )
            + b"--XyZ--\r\n",
            DecodedBody(
                "multipart",
                fields=(
                    ("files", "<file 1.txt, 3 bytes, text/plain>"),
                    ("files", "<file 2.txt, 4 bytes, text/plain>"),
                ),
            ),
            id="rfc2388-nested-mixed",
        ),
        pytest.param(
            b"multipart/mixed; boundary=XyZ",
            part("Content-Type: text/plain", b"first") + b"--XyZ--\r\n",
            DecodedBody("multipart", fields=(("", "first"),)),
            id="mixed-without-names",
        ),
        pytest.param(
            MULTIPART,
            part('Content-Disposition: form-data; name="a"', b"1") + b"--XyZ\r\nContent-Dis",
            DecodedBody(
                "multipart",
                fields=(("a", "1"), ("", "Content-Dis")),
                error="multipart body ends without its closing boundary",
            ),
            id="truncated",
        ),
        pytest.param(
            b"multipart/form-data",
            b"--XyZ\r\n\r\nx\r\n--XyZ--\r\n",
            text("--XyZ\r\n\r\nx\r\n--XyZ--\r\n", error="invalid multipart: no boundary parameter"),
            id="no-boundary",
        ),
        pytest.param(
            b"multipart/form-data; boundary=Other",
            b"--XyZ\r\n\r\n\x00\r\n--XyZ--\r\n",
            DecodedBody("binary", error="invalid multipart: boundary not found in body"),
            id="wrong-boundary",
        ),
        pytest.param(
            b"multipart/form-data; boundary*=undefined''XyZ",
            b"--XyZ\r\n\r\nx\r\n--XyZ--\r\n",
            text(
                "--XyZ\r\n\r\nx\r\n--XyZ--\r\n",
                error="invalid multipart: undecodable boundary parameter",
            ),
            id="undecodable-boundary",
        ),
        pytest.param(
            MULTIPART,
            part(
                "Content-Disposition: form-data; name*=idna''x; filename*=undefined''y",
                b"z",
            )
            + b"--XyZ--\r\n",
            DecodedBody(
                "multipart", fields=(("", "<file (undecodable name), 1 byte, text/plain>"),)
            ),
            id="undecodable-names",
        ),
    ],
)
def test_multipart(content_type: bytes, body: bytes, expected: DecodedBody) -> None:
    assert decode_body(content_type, body) == expected


def test_multipart_file_size_is_exact() -> None:
    """The CRLF before each boundary belongs to the boundary, not to the file."""
    for payload in (b"", b"\r", b"\n", b"\r\n", b"x\r\n\r\n", BINARY, ASSET):
        body = part('Content-Disposition: form-data; name="f"; filename="f"', payload) + b"--XyZ--"
        decoded = decode_body(MULTIPART, body)
        size = "1 byte" if len(payload) == 1 else f"{len(payload)} bytes"
        assert decoded.fields == (("f", f"<file f, {size}, text/plain>"),), payload


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        pytest.param(
            b"application/json",
            b'["\\ud800 lone", "\\ud83d\\ude00"]',
            DecodedBody("json", json_pretty='[\n  "\\ud800 lone",\n  "\\ud83d\\ude00"\n]'),
            id="json-escapes-stay-escaped",
        ),
        pytest.param(
            b"text/plain; charset=utf-7", b"a+2AA-b", text("a\ufffdb"), id="utf7-surrogate"
        ),
        pytest.param(
            FORM + b"; charset=utf-7",
            b"k+2AA-=%2B2AA-",
            form(("k\ufffd", "\ufffd")),
            id="form-utf7-surrogate",
        ),
        pytest.param(
            MULTIPART,
            part(
                "Content-Disposition: form-data; name*=utf-7''+2AA-; filename*=utf-7''+2AA-x",
                b"z",
            )
            + b"--XyZ--\r\n",
            DecodedBody("multipart", fields=(("\ufffd", "<file \ufffdx, 1 byte, text/plain>"),)),
            id="multipart-utf7-surrogate",
        ),
    ],
)
def test_results_are_valid_unicode(content_type: bytes, body: bytes, expected: DecodedBody) -> None:
    decoded = decode_body(content_type, body)
    assert decoded == expected
    _assert_valid_unicode(decoded)


def _assert_valid_unicode(decoded: DecodedBody) -> None:
    strings = [decoded.json_pretty, decoded.text, decoded.error]
    strings += [item for field in decoded.fields for item in field]
    for value in strings:
        if value is not None:
            value.encode("utf-8")


def test_decoded_body_is_frozen() -> None:
    decoded = decode_body(None, b"x")
    with pytest.raises(AttributeError):
        decoded.kind = "binary"  # type: ignore[misc]


def test_modules_import_only_the_standard_library() -> None:
    # Compared with what the interpreter had loaded before (site hooks load
    # third-party .pth helpers in some environments).
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import netbench.protocol.bodies, netbench.protocol.images\n"
        "top = {name.partition('.')[0] for name in set(sys.modules) - before}\n"
        "print(sorted(top - set(sys.stdlib_module_names) - {'netbench'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"


CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            b"application/json",
            b"application/ld+json; charset=utf-16",
            b"application/x-www-form-urlencoded",
            b"application/x-www-form-urlencoded; charset=utf-7",
            b"multipart/form-data; boundary=XyZ",
            b"multipart/form-data",
            b"multipart/mixed; boundary*=utf-8''%FF",
            b"text/plain; charset=utf-16",
            b"text/plain; charset=utf-7",
            b"text/html; charset*=bogus''x",
            b"image/png",
        ]
    ),
    st.binary(max_size=80),
    st.text(max_size=80).map(lambda value: value.encode("utf-8", "surrogatepass")),
    st.builds(
        lambda mime, param, value: mime + b"; " + param + value.encode("utf-8", "surrogatepass"),
        st.sampled_from([b"text/plain", b"application/json", FORM, b"multipart/form-data"]),
        st.sampled_from([b"charset=", b"charset*=", b"boundary=", b"boundary*="]),
        st.text(max_size=20),
    ),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(CONTENT_TYPES, st.binary(max_size=512))
def test_garbage_never_raises(content_type: bytes | None, body: bytes) -> None:
    decoded = decode_body(content_type, body)
    assert decoded.kind == "empty" or body
    _assert_valid_unicode(decoded)


@settings(max_examples=200, deadline=None)
@given(CONTENT_TYPES, st.integers(0, len(BROWSER_FORM)), st.integers(0, len(BROWSER_FORM)))
def test_truncated_multipart_never_raises(
    content_type: bytes | None, start: int, stop: int
) -> None:
    _assert_valid_unicode(decode_body(content_type, BROWSER_FORM[start:stop]))
    _assert_valid_unicode(decode_body(MULTIPART, BROWSER_FORM[start:stop]))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(ASSET)), st.integers(0, len(ASSET)))
def test_truncated_asset_never_raises(start: int, stop: int) -> None:
    decoded = decode_body(b"image/jpeg", ASSET[start:stop])
    if start == 0 and stop >= 3:
        assert decoded.kind == "image"


@settings(max_examples=200, deadline=None)
@given(JSONISH)
def test_json_round_trips(document: object) -> None:
    decoded = decode_body(b"application/json", json.dumps(document).encode())
    assert decoded.kind == "json"
    assert decoded.json_pretty is not None
    assert json.loads(decoded.json_pretty) == document


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(), st.text())), st.sampled_from(["utf-8", "iso-8859-1"]))
def test_form_round_trips(fields: list[tuple[str, str]], charset: str) -> None:
    from urllib.parse import urlencode

    encodable = [
        (name, value)
        for name, value in fields
        if _encodes(name + value, charset) and "\x00" not in name + value
    ]
    body = urlencode(encodable, encoding=charset).encode("ascii")
    content_type = f"application/x-www-form-urlencoded; charset={charset}".encode()
    decoded = decode_body(content_type, body)
    assert decoded.kind == ("form" if body else "empty")
    assert decoded.fields == tuple(encodable if body else ())


def _encodes(value: str, charset: str) -> bool:
    try:
        codecs.encode(value, charset)
    except UnicodeError:
        return False
    return True
