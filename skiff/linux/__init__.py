"""Thin ctypes wrappers for the syscalls Python lacks.

One module per concern; every wrapper raises ``OSError`` with errno. The runtime reaches the
kernel only through here.
"""
