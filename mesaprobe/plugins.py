"""Users' own code in a study: plugin files that register environments, and `file.py:callable` factories.

A plugin is a Python file (`my_envs.py`, relative to the study's YAML) or an importable module
name (`my_package.envs`); importing it runs its `gymnasium.register(...)` calls. A factory is
`"my_agents.py:make_policy"` or `"my_package.agents:make_policy"`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from core.errors import ConfigError, suggest


def is_file_spec(spec: str) -> bool:
    """Whether `spec` names a Python file rather than a module (`.py` suffix or a path separator)."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def resolve_path(spec: str, base_dir: str | Path | None) -> str:
    """`spec` made absolute relative to `base_dir` when it names a file; module names are left alone."""
    if not is_file_spec(spec) or base_dir is None:
        return spec
    path = Path(spec).expanduser()
    return str(path if path.is_absolute() else (Path(base_dir) / path).resolve())


def import_plugin(spec: str, *, field: str = "plugins") -> ModuleType:
    """Import a plugin file or module once (a second call returns the loaded module).

    Raises `ConfigError` naming `field` when the file is missing or the module cannot be found;
    an exception raised by the plugin's own code propagates unchanged, so its traceback points at
    the user's line.
    """
    if not is_file_spec(spec):
        try:
            return importlib.import_module(spec)
        except ModuleNotFoundError as exc:
            if exc.name and spec.startswith(exc.name):
                raise ConfigError(
                    f"{field}: cannot import module {spec!r} ({exc}). Give a path to a .py file or install the package."
                ) from None
            raise
    path = Path(spec).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"{field}: file {spec!r} does not exist (paths are relative to the study's YAML file).")
    # One module per file path, so importing twice does not register an environment twice.
    name = f"mesaprobe_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"{field}: {spec!r} is not an importable Python file.")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_plugins(specs: Iterable[str]) -> list[ModuleType]:
    """Import every plugin in `specs` (see `import_plugin`)."""
    return [import_plugin(spec) for spec in specs]


def load_callable(spec: str, *, field: str) -> Callable[..., Any]:
    """The callable named by `"file.py:name"` or `"package.module:name"`, with errors naming `field`."""
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise ConfigError(
            f"{field} must look like 'my_agents.py:make_policy' or 'my_package.agents:make_policy', got {spec!r}."
        )
    module = import_plugin(where, field=field)
    target = getattr(module, attr, None)
    if target is None:
        public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise ConfigError(f"{field}: {where!r} has no {attr!r}.{suggest(attr, public)}")
    if not callable(target):
        raise ConfigError(f"{field}: {spec!r} is a {type(target).__name__}, not a callable.")
    return target
