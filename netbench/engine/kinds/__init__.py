"""One module per kind of server (or per family of small ones), each registering itself.

See engine/registry.py: a module here declares its kinds with
`registry.register(ServerKind(...))` and holds (or imports) what runs them.
"""
