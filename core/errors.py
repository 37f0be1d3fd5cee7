"""The exception and warning hierarchy shared by every layer, and the did-you-mean helpers.

Every error mesaprobe raises on purpose is a `MesaprobeError` that also subclasses the matching
built-in (`ValueError`, `KeyError`, `TypeError`, `RuntimeError`), so `except ValueError` keeps
working; every statistical caveat is a `MesaprobeWarning` of its own category.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MesaprobeError(Exception):
    """Root of every error mesaprobe raises on purpose."""


class ConfigError(MesaprobeError, ValueError):
    """A value given by the user is out of range or malformed."""


class DataError(MesaprobeError, ValueError):
    """Data passed to a statistical routine cannot support it (NaNs, one regime, wrong lengths)."""


class AgentError(MesaprobeError, TypeError):
    """An object used as an agent does not satisfy `training.Agent`."""


class UnknownNameError(MesaprobeError, KeyError):
    """A name (environment id, layer, method, config field) that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable.
        return str(self.args[0]) if self.args else ""


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a " Did you mean ...?" sentence for the closest `choices` to `name` ('' if none)."""
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    if not close:
        # Substring matches catch short names that difflib scores low ("coin" in a long id).
        close = [c for c in choices if name.lower() in c.lower() or c.lower() in name.lower()][:n]
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build an `UnknownNameError` that lists the closest valid names."""
    choices = sorted(choices)
    hint = suggest(name, choices)
    listing = "" if hint else f" Valid names: {', '.join(choices[:20])}{' ...' if len(choices) > 20 else ''}."
    return UnknownNameError(f"Unknown {kind} {name!r}.{hint}{listing}")


class MesaprobeWarning(UserWarning):
    """Root of mesaprobe's statistical caveats."""


class FewEpisodesWarning(MesaprobeWarning):
    """A regime has too few episodes for the requested test to be reliable."""


class ConstantColumnWarning(MesaprobeWarning):
    """A variable is constant, so a test or probe degenerates."""


class OverlapWarning(MesaprobeWarning):
    """The candidate signal hardly overlaps between regimes (propensities near 0 or 1)."""


class FitError(MesaprobeError, RuntimeError):
    """A regression inside a statistical test failed to fit, so no p-value is returned."""


class CandidateError(MesaprobeError, RuntimeError):
    """A user's candidate-achievement function raised or returned something that is not a bool."""
