"""Deprecated location: the atomic writers moved to `core.io`; this re-export stays for one release."""

from core.io import atomic_directory, atomic_path, write_bytes_atomic, write_json_atomic, write_text_atomic

__all__ = ["atomic_directory", "atomic_path", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]
