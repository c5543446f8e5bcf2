"""The Textual app: the only package that imports textual (and rich).

Network-derived text reaches widgets only as `Content`/`Text` built from
strings that went through `netbench.protocol.textsafe`: never as markup.
"""
