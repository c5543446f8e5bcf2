"""Regenerate netbench/assets/test.jpg, the picture the HTTP page server serves.

Pillow is needed only to run this script; it is not a dependency of netbench.
The committed JPEG is the artefact; run this only to change it:

    pip install pillow
    python scripts/make_test_jpg.py
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

WIDTH, HEIGHT = 320, 200
OUT = Path(__file__).resolve().parent.parent / "netbench" / "assets" / "test.jpg"

TOP = (18, 32, 74)
BOTTOM = (16, 132, 140)
NODE = (250, 204, 96)
LINK = (170, 220, 235)
FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/Library/Fonts/Arial Bold.ttf",
)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_PATHS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _gradient() -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(image)
    for y in range(HEIGHT):
        # A diagonal tint on top of the vertical blend keeps it from looking flat.
        for x in range(0, WIDTH, 4):
            f = min(1.0, max(0.0, y / (HEIGHT - 1) * 0.8 + x / (WIDTH - 1) * 0.2))
            colour = tuple(round(a + (b - a) * f) for a, b in zip(TOP, BOTTOM, strict=True))
            draw.line([(x, y), (x + 3, y)], fill=colour)
    return image.filter(ImageFilter.GaussianBlur(1))


def _network(draw: ImageDraw.ImageDraw) -> None:
    # A small ring of hosts around a switch, one host bridging to a second hub.
    hub = (78, 128)
    hosts = [
        (hub[0] + round(48 * math.cos(a)), hub[1] + round(40 * math.sin(a)))
        for a in (math.radians(d) for d in (200, 250, 300, 350, 40, 140))
    ]
    hub2 = (252, 138)
    hosts2 = [(212, 176), (292, 176), (300, 106)]
    for host in hosts:
        draw.line([hub, host], fill=LINK, width=2)
    for host in hosts2:
        draw.line([hub2, host], fill=LINK, width=2)
    draw.line([hosts[3], hub2], fill=LINK, width=2)
    for x, y in [*hosts, *hosts2]:
        draw.ellipse([x - 6, y - 6, x + 6, y + 6], fill=NODE, outline=(255, 255, 255))
    for x, y in (hub, hub2):
        draw.rounded_rectangle([x - 11, y - 8, x + 11, y + 8], 3, fill=(255, 255, 255))
        for i in range(4):
            draw.rectangle([x - 8 + i * 5, y - 2, x - 6 + i * 5, y + 2], fill=(30, 60, 110))


def main() -> None:
    image = _gradient()
    draw = ImageDraw.Draw(image)
    _network(draw)
    font = _font(44)
    text = "netbench"
    left, top, right, _ = draw.textbbox((0, 0), text, font=font)
    x = (WIDTH - (right - left)) // 2 - left
    y = 22 - top
    draw.text((x + 2, y + 2), text, font=font, fill=(8, 16, 40))
    draw.text((x, y), text, font=font, fill=(255, 255, 255))
    small = _font(13)
    caption = "test.jpg · 320×200"
    left, top, right, _ = draw.textbbox((0, 0), caption, font=small)
    draw.text(((WIDTH - (right - left)) // 2 - left, 76 - top), caption, font=small, fill=LINK)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    image.save(OUT, "JPEG", quality=88, optimize=True, progressive=False)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
