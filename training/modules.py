"""Deprecated location: module resolution moved to `core.modules`; this re-export stays for one release."""

from core.modules import count_hooks, hooks_per_module, missing_module_reason, module_table, resolve_modules

__all__ = ["count_hooks", "hooks_per_module", "missing_module_reason", "module_table", "resolve_modules"]
