"""`TorchAgent`: make any `torch.nn.Module` policy (feed-forward or recurrent) an `Agent`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from core.errors import AgentError
from training.agent import sample_from_logits

State = tuple[torch.Tensor, ...]


def _describe(value) -> str:
    """Short description of what a module returned, for error messages."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_describe(v) for v in value[:3]) + (", ..." if len(value) > 3 else "")
        return f"a {type(value).__name__} of {len(value)} ({inner})"
    return f"a {type(value).__name__}"


class TorchAgent:
    """Adapter that makes a `torch.nn.Module` policy an `Agent`.

    Feed-forward (`recurrent=False`): `module(obs)` returns logits `(B, A)`, or a tuple/list whose
    first element is the logits (e.g. `(logits, value)`).

    Recurrent (`recurrent=True`): `module(obs, state)` returns `(logits, new_state)`, and
    `module.initial_state(batch_size)` returns the fresh state, a tensor or a tuple of tensors with
    the batch in dim 0. The agent keeps one state per environment slot: `act(..., slots=ids)` says
    which slot each row belongs to (rows are slots `0..B-1` when `slots` is None) and
    `episode_start` marks rows whose state is re-initialised. `reset_state()` forgets every slot.

    `preprocess` turns the numpy batch into the module's input (default: a float32 tensor on
    `device`). Actions are drawn by `sample_from_logits` from `rng` only, so a seed fixes them.
    Hook names are the module's own dotted names (`named_modules()`). `policy_logits(obs)` is the
    differentiable forward used for attribution (recurrent modules start from `initial_state`).
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        name: str = "agent",
        device: str | torch.device = "cpu",
        recurrent: bool = False,
        preprocess: Callable[[np.ndarray], torch.Tensor] | None = None,
    ) -> None:
        if not isinstance(module, nn.Module):
            raise AgentError(
                f"TorchAgent needs a torch.nn.Module policy, got {type(module).__name__}. "
                f"Wrap other objects in an nn.Module or write your own Agent (see training.Agent)."
            )
        if recurrent and not callable(getattr(module, "initial_state", None)):
            raise AgentError(
                f"recurrent=True needs {type(module).__name__}.initial_state(batch_size) returning the fresh "
                f"state (a tensor or tuple of tensors with the batch in dim 0); the module has none."
            )
        if preprocess is not None and not callable(preprocess):
            raise AgentError(f"preprocess must be a callable numpy batch -> tensor, got {type(preprocess).__name__}.")
        self._device = torch.device(device)
        self.module = module.to(self._device)
        self.name = name
        self.recurrent = bool(recurrent)
        self.preprocess = preprocess
        self._states: dict[int, State] = {}
        self._state_is_tuple = True

    @property
    def device(self) -> torch.device:
        """The torch device the module lives on."""
        return self._device

    def named_modules(self) -> Iterator[tuple[str, nn.Module]]:
        """Named modules of the wrapped module (its own dotted names; the root is named '')."""
        return self.module.named_modules()

    def reset_state(self) -> None:
        """Forget the recurrent state of every slot (no-op for feed-forward agents)."""
        self._states.clear()

    def _to_input(self, obs: np.ndarray) -> torch.Tensor:
        if self.preprocess is None:
            return torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self._device)
        out = self.preprocess(obs)
        if isinstance(out, np.ndarray):
            out = torch.from_numpy(out)
        return out.to(self._device) if isinstance(out, torch.Tensor) else out

    def _as_state(self, state, batch: int, where: str) -> State:
        is_tuple = isinstance(state, (tuple, list))
        parts = tuple(state) if is_tuple else (state,)
        if not parts or not all(isinstance(p, torch.Tensor) and p.ndim >= 1 and p.shape[0] == batch for p in parts):
            raise AgentError(
                f"{type(self.module).__name__}.{where} returned {_describe(state)}; expected a tensor or a "
                f"tuple of tensors with the batch ({batch}) in dim 0."
            )
        self._state_is_tuple = is_tuple
        return parts

    def _gather_state(self, slots: list[int], episode_start: np.ndarray) -> State:
        """The state for each row: the slot's stored state, or a fresh one at episode starts."""
        batch = len(slots)
        fresh = self._as_state(self.module.initial_state(batch), batch, "initial_state(batch_size)")
        keep = [j for j, slot in enumerate(slots) if not episode_start[j] and slot in self._states]
        if not keep:
            return fresh
        out = []
        for k, part in enumerate(fresh):
            part = part.clone()
            for j in keep:
                part[j] = self._states[slots[j]][k]
            out.append(part)
        return tuple(out)

    def _logits(self, output, batch: int) -> torch.Tensor:
        logits = output[0] if isinstance(output, (tuple, list)) and output else output
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != batch:
            form = "(logits, new_state)" if self.recurrent else "logits or a tuple (logits, ...)"
            raise AgentError(
                f"{type(self.module).__name__} returned {_describe(output)}; TorchAgent expects {form} with "
                f"logits of shape (B, A) = ({batch}, n_actions) for a batch of {batch}."
            )
        return logits

    @torch.no_grad()
    def logits(
        self,
        obs: np.ndarray,
        *,
        slots: Sequence[int] | None = None,
        episode_start: Sequence[bool] | np.ndarray | None = None,
    ) -> torch.Tensor:
        """Action logits `(B, A)` for a batch; recurrent agents read and update their slots' state."""
        obs = np.asarray(obs)
        batch = obs.shape[0] if obs.ndim else 0
        module = self.module
        was_training = module.training
        module.eval()
        try:
            x = self._to_input(obs)
            if not self.recurrent:
                return self._logits(module(x), batch)
            slot_ids = list(range(batch)) if slots is None else [int(s) for s in slots]
            starts = np.zeros(batch, bool) if episode_start is None else np.asarray(episode_start, bool).reshape(-1)
            if len(slot_ids) != batch or len(set(slot_ids)) != batch or starts.shape[0] != batch:
                raise AgentError(
                    f"slots and episode_start need one entry per row and distinct slots; got {len(slot_ids)} "
                    f"slots ({len(set(slot_ids))} distinct) and {starts.shape[0]} episode_start flags for a batch "
                    f"of {batch}."
                )
            state = self._gather_state(slot_ids, starts)
            output = module(x, state if self._state_is_tuple else state[0])
            if not isinstance(output, (tuple, list)) or len(output) != 2:
                raise AgentError(
                    f"recurrent {type(module).__name__} returned {_describe(output)}; expected (logits, new_state)."
                )
            logits = self._logits(output, batch)
            new_state = self._as_state(output[1], batch, "forward(obs, state)[1] (the new state)")
            for j, slot in enumerate(slot_ids):
                self._states[slot] = tuple(part[j].detach() for part in new_state)
            return logits
        finally:
            if was_training:
                module.train()

    def policy_logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Differentiable action logits `(B, A)` for a float tensor batch (gradients enabled, for captum).

        Feed-forward modules are called on `obs`; recurrent ones on `(obs, initial_state(B))`, the
        state at an episode's first step, and the stored slot states are left untouched. The module
        runs in eval mode. A `preprocess` function (numpy -> tensor) cannot carry gradients, so
        agents built with one raise `AgentError`: move the preprocessing into the module instead.
        """
        if self.preprocess is not None:
            raise AgentError(
                f"{self!r} has a numpy `preprocess` function, which gradients cannot pass through; for "
                f"attribution, do the preprocessing inside the module (an nn.Module taking the raw observation)."
            )
        if not isinstance(obs, torch.Tensor):
            raise AgentError(f"policy_logits takes a torch.Tensor batch, got {type(obs).__name__}.")
        batch = obs.shape[0] if obs.ndim else 0
        module = self.module
        was_training = module.training
        module.eval()
        try:
            x = obs.to(self._device)
            if not self.recurrent:
                return self._logits(module(x), batch)
            state = self._as_state(module.initial_state(batch), batch, "initial_state(batch_size)")
            output = module(x, state if self._state_is_tuple else state[0])
            if not isinstance(output, (tuple, list)) or len(output) != 2:
                raise AgentError(
                    f"recurrent {type(module).__name__} returned {_describe(output)}; expected (logits, new_state)."
                )
            return self._logits(output, batch)
        finally:
            if was_training:
                module.train()

    def act(
        self,
        obs: np.ndarray,
        *,
        deterministic: bool = False,
        rng: np.random.Generator | None = None,
        slots: Sequence[int] | None = None,
        episode_start: Sequence[bool] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Actions `(B,)` for a batch of observations, drawn from `rng` only.

        For recurrent agents `slots` gives each row's environment slot (default `0..B-1`) and
        `episode_start` marks rows whose state restarts; feed-forward agents ignore both.
        """
        logits = self.logits(obs, slots=slots, episode_start=episode_start)
        return sample_from_logits(logits, deterministic=deterministic, rng=rng)

    def __repr__(self) -> str:
        n_params = sum(p.numel() for p in self.module.parameters())
        extra = f", slots_with_state={len(self._states)}" if self.recurrent else ""
        return (
            f"TorchAgent(name={self.name!r}, module={type(self.module).__name__}, device={str(self._device)!r}, "
            f"recurrent={self.recurrent}, params={n_params}{extra})"
        )
