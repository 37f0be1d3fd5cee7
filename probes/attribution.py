"""Captum attributions of a probe's read-out `Y_m` (or of the chosen action) to input cells and to neurons.

A candidate probe reads `Y_m = sigmoid(w . a + b)` from the flattened output `a` of one site (a
module name) at an episode's first step. `ReadoutModule` turns agent + site + probe into a torch
module `obs -> probe logit`, so captum's attribution classes apply to it:

- `attribute_inputs`: per-cell attributions `(B, C, H, W)` of the chosen action's logit or of the
  probe read-out (`IntegratedGradients`, `Saliency`, `InputXGradient`);
- `attribute_neurons`: the site's neurons ranked by how much they drive `Y_m`
  (`LayerIntegratedGradients`, or `LayerConductance`);
- summaries of them for reports live in `probes.attribution_maps`, their figure in
  `analysis.figures.attribution_figure`.

Agents need a differentiable `policy_logits(obs)` (see `training.Agent`). Modules that declare a
`nondifferentiable` reason (the planted planners' value iteration, say) make input attributions
of targets downstream of them raise `AgentError` instead of returning gradients that are zero or
misleading; neuron attributions by layer integrated gradients integrate in the site's own
activation space and stay valid there. captum and matplotlib are imported on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from core.errors import AgentError, ConfigError, DataError, unknown_name
from core.hooks import forward_hooks
from core.modules import resolve_modules
from probes.hooks import flatten_rows

INPUT_METHODS: tuple[str, ...] = ("integrated_gradients", "saliency", "input_x_gradient")
NEURON_METHODS: tuple[str, ...] = ("layer_integrated_gradients", "layer_conductance")

__all__ = [
    "INPUT_METHODS",
    "NEURON_METHODS",
    "ReadoutModule",
    "attribute_inputs",
    "attribute_neurons",
    "linear_readout",
]


def _policy_logits(agent):
    fn = getattr(agent, "policy_logits", None)
    if not callable(fn):
        raise AgentError(
            f"{type(agent).__name__} has no policy_logits(obs); attribution needs a differentiable forward. "
            f"Implement policy_logits(obs: torch.Tensor) -> torch.Tensor returning action logits (B, A) with "
            f"gradients enabled (no torch.no_grad) and running every probed module (see training.Agent)."
        )
    return fn


def _weight_vector(weight) -> np.ndarray:
    w = np.asarray(weight.detach().cpu() if isinstance(weight, torch.Tensor) else weight, dtype=np.float64)
    if w.ndim == 2 and w.shape[0] == 1:
        w = w[0]
    if w.ndim != 1 or w.size == 0:
        raise ConfigError(f"a probe weight is a vector (d,) or (1, d); got shape {w.shape}.")
    if not np.all(np.isfinite(w)):
        raise ConfigError("the probe weight has non-finite entries.")
    return w


class ReadoutModule(nn.Module):
    """`obs (B, C, H, W) -> (B,)`: the probe read-out `w . a + b` of site `site` (its logit).

    `forward` runs `agent.policy_logits(obs)` with a forward hook on the site that captures its
    output, flattened per row as `probes.capture` stores it (first element of a tuple output); the
    hook lives only during the call and is removed in `finally`, so no hook outlives a forward.
    Because the hook is registered inside the call, it sees what hooks registered before it
    return (captum's layer methods replace the site's output that way). `probability=True`
    returns `sigmoid(w . a + b)` instead of the logit.
    """

    def __init__(self, agent, site: str, weight, bias: float = 0.0, *, probability: bool = False) -> None:
        super().__init__()
        self._forward_fn = _policy_logits(agent)
        object.__setattr__(self, "agent", agent)  # never registered as a submodule
        self.site = site
        object.__setattr__(self, "site_module", resolve_modules(agent, [site])[site])
        self.register_buffer("weight", torch.as_tensor(_weight_vector(weight), dtype=torch.float32))
        bias = float(np.asarray(bias, dtype=np.float64).reshape(-1)[0]) if np.size(bias) == 1 else bias
        if not isinstance(bias, float) or not np.isfinite(bias):
            raise ConfigError(f"the probe bias must be one finite number, got {bias!r}.")
        self.bias = bias
        self.probability = bool(probability)

    @property
    def width(self) -> int:
        """Number of activations the probe reads (the length of `weight`)."""
        return int(self.weight.numel())

    def site_activations(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(logits (B, A), activations (B, d))` of one forward, gradients kept."""
        captured: list[Any] = []
        with forward_hooks([(self.site_module, lambda _m, _i, out: captured.append(out))]):
            logits = self._forward_fn(obs)
        if len(captured) != 1:
            raise AgentError(
                f"site {self.site!r} ran {len(captured)} times in one {type(self.agent).__name__}.policy_logits call; "
                f"a probed site must run exactly once per forward (probe a module on the policy's path)."
            )
        acts = flatten_rows(captured[0], self.site)
        if acts.shape[1] != self.width:
            raise ConfigError(
                f"the probe weight has {self.width} entries but site {self.site!r} has width {acts.shape[1]} "
                f"(its output flattened per row); fit the probe on this site's activations."
            )
        return logits, acts

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        _, acts = self.site_activations(obs)
        z = acts @ self.weight.to(acts.device, acts.dtype) + self.bias
        return torch.sigmoid(z) if self.probability else z

    def extra_repr(self) -> str:
        return f"site={self.site!r}, width={self.width}, bias={self.bias:.4g}, probability={self.probability}"


def linear_readout(probe) -> tuple[np.ndarray, float]:
    """`(weight (d,), bias)` of a fitted linear probe on the raw activations (a leading standardisation folded in).

    `probe` is a fitted `probes.Probe` (a `LinearProbe`, or any scikit-learn linear model with
    `coef_` and `intercept_`, alone or after a `StandardScaler` in a pipeline). For a logistic
    probe `sigmoid(acts @ weight + bias)` equals `probe.readout(acts)`; for a ridge probe or a
    `RidgeClassifier`, `acts @ weight + bias` does. Raises `DataError` for a probe fitted on a
    constant target or one that is not linear (an MLP).
    """
    if getattr(probe, "constant_", None) is not None:
        raise DataError(
            f"the probe was fitted on a constant target ({probe.constant_:g}); it reads nothing, so there is no "
            f"weight to attribute."
        )
    model = getattr(probe, "model_", None)
    if model is None:
        raise ConfigError("the probe is not fitted; call probe.fit(X, y) first.")
    from sklearn.preprocessing import StandardScaler

    steps = list(model) if hasattr(model, "steps") else [model]
    head, scalers = steps[-1], steps[:-1]
    if not hasattr(head, "coef_") or len(scalers) > 1 or any(not isinstance(t, StandardScaler) for t in scalers):
        raise DataError(
            f"the probe ({' → '.join(type(t).__name__ for t in steps)}) is not a linear model on (standardised) "
            f"activations: it has no single weight vector to attribute. Use a linear probe (LinearProbe, "
            f"LogisticRegression, RidgeClassifier, alone or after a StandardScaler)."
        )
    coef = np.asarray(head.coef_, dtype=np.float64).reshape(-1)
    intercept = float(np.asarray(head.intercept_, dtype=np.float64).reshape(-1)[0])
    if not scalers:
        return coef, intercept
    scaler = scalers[0]
    scale = np.asarray(scaler.scale_, dtype=np.float64) if scaler.with_std else np.ones_like(coef)
    mean = np.asarray(scaler.mean_, dtype=np.float64) if scaler.with_mean else np.zeros_like(coef)
    weight = coef / scale
    return weight, float(intercept - np.sum(weight * mean))


def _prepare_obs(agent, obs) -> torch.Tensor:
    x = obs.detach() if isinstance(obs, torch.Tensor) else torch.as_tensor(np.asarray(obs, dtype=np.float32))
    x = x.to(getattr(agent, "device", "cpu"), torch.float32)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[0] == 0:
        raise ConfigError(
            f"attribution takes grid observations (B, C, H, W) or one (C, H, W); got shape {tuple(x.shape)}."
        )
    return x


def _prepare_baseline(baseline, x: torch.Tensor) -> torch.Tensor:
    if baseline is None:
        return torch.zeros_like(x)
    if isinstance(baseline, (int, float)):
        return torch.full_like(x, float(baseline))
    b = baseline.detach() if isinstance(baseline, torch.Tensor) else torch.as_tensor(np.asarray(baseline, np.float32))
    b = b.to(x.device, x.dtype)
    if b.shape == x.shape[1:]:
        b = b.unsqueeze(0)
    if b.ndim != x.ndim or not all(bd in (1, xd) for bd, xd in zip(b.shape, x.shape, strict=True)):
        raise ConfigError(
            f"baseline of shape {tuple(b.shape)} does not fit observations {tuple(x.shape)}; pass a number, one "
            f"observation (C, H, W) or a batch of the same shape."
        )
    return b.expand_as(x).contiguous()


@dataclass
class _Trace:
    logits: torch.Tensor
    acts: torch.Tensor | None
    blockers: list[tuple[str, str]]
    """`(module name, reason)` of the `nondifferentiable` modules upstream of the target."""
    differentiable: bool
    """Whether the target (logits, or the site's activations) carries a gradient to the observation."""


def _trace(agent, x: torch.Tensor, readout: ReadoutModule | None) -> _Trace:
    """One checked forward: shapes, site width, and the non-differentiable modules before the target.

    "Before" is by completion order (a module that finished before the site's output was
    produced, the site included); that over-approximates the site's ancestors, so a refusal may be
    conservative in branching models but a gradient through a declared blocker is never returned.
    """
    fn = _policy_logits(agent)
    marked = {
        name: str(m.nondifferentiable)
        for name, m in agent.named_modules()
        if isinstance(getattr(m, "nondifferentiable", None), str) and m.nondifferentiable
    }
    modules = dict(agent.named_modules())
    order: list[str] = []
    site_at: list[int] = []
    hooks = [(modules[name], lambda _m, _i, _o, name=name: order.append(name)) for name in marked]
    if readout is not None:
        hooks.append((readout.site_module, lambda _m, _i, _o: site_at.append(len(order))))
    xg = x.detach().clone().requires_grad_(True)
    with forward_hooks(hooks), torch.enable_grad():
        try:
            if readout is None:
                logits, acts = fn(xg), None
            else:
                logits, acts = readout.site_activations(xg)
        except RuntimeError as err:
            raise ConfigError(
                f"{type(agent).__name__} could not run on observations of shape {tuple(x.shape)}: {err}"
            ) from err
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != x.shape[0]:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise AgentError(
            f"{type(agent).__name__}.policy_logits returned {shape}; expected logits (B, A) = ({x.shape[0]}, n_actions)."
        )
    upstream = order if readout is None else order[: site_at[0]]
    differentiable = bool(logits.requires_grad if acts is None else acts.requires_grad)
    blockers = [(name, marked[name]) for name in dict.fromkeys(upstream)]
    return _Trace(logits.detach(), None if acts is None else acts.detach(), blockers, differentiable)


def _refuse_blocked(agent, what: str, trace: _Trace) -> None:
    if trace.blockers:
        name, reason = trace.blockers[0]
        others = [n for n, _ in trace.blockers[1:]]
        also = f" (also {', '.join(repr(o) for o in others)})" if others else ""
        raise AgentError(
            f"input attributions of {what} for {getattr(agent, 'name', type(agent).__name__)!r} would be wrong: "
            f"module {name!r}{also} is not differentiable in the observation: {reason}. Gradients there are zero "
            f"or misleading, so no attribution is returned; attribute a differentiable site, or use "
            f"attribute_neurons (layer integrated gradients work in the site's own activations)."
        )


def _parse_target(agent, target) -> ReadoutModule | None:
    if isinstance(target, str) and target == "action":
        return None
    if isinstance(target, ReadoutModule):
        if target.agent is not agent:
            raise ConfigError("the ReadoutModule target reads another agent; build it on the agent you attribute.")
        return target
    raise ConfigError(
        f"target must be 'action' or a ReadoutModule(agent, site, weight, bias); got {type(target).__name__}."
    )


def attribute_inputs(
    agent,
    obs,
    *,
    target: str | ReadoutModule = "action",
    method: str = "integrated_gradients",
    baseline=None,
    n_steps: int = 32,
    internal_batch_size: int | None = None,
) -> np.ndarray:
    """Attributions `(B, C, H, W)` of `target` to each observation cell, by captum.

    `obs` is a batch `(B, C, H, W)` (or one `(C, H, W)`), numpy or torch. `target="action"`
    attributes the logit of the action the agent would choose (argmax of `policy_logits`) in each
    row; a `ReadoutModule(agent, site, weight, bias)` the probe logit `w . a + b` of `site` (see
    `linear_readout`). `method`: `"integrated_gradients"` (from `baseline`,
    default all-zeros, in `n_steps` steps; rows sum to target(obs) - target(baseline)),
    `"saliency"` (|gradient|, captum's default `abs=True`) or `"input_x_gradient"`. Deterministic:
    the same inputs give the same attributions.

    Raises `AgentError` for agents without `policy_logits` or whose target passes through a module
    declared `nondifferentiable`, `UnknownNameError` for an unknown site or method and
    `ConfigError` for a probe weight of the wrong width or observations of the wrong shape.
    """
    from captum.attr import InputXGradient, IntegratedGradients, Saliency

    if method not in INPUT_METHODS:
        raise unknown_name("input attribution method", method, INPUT_METHODS)
    if n_steps < 2:
        raise ConfigError(f"n_steps must be >= 2, got {n_steps}.")
    readout = _parse_target(agent, target)
    x = _prepare_obs(agent, obs)
    trace = _trace(agent, x, readout)
    what = "the chosen action" if readout is None else f"the probe at {readout.site!r}"
    _refuse_blocked(agent, what, trace)
    if readout is None:
        forward, target_idx = _policy_logits(agent), trace.logits.argmax(dim=1)
    else:
        forward, target_idx = readout, None
    if not trace.differentiable:
        raise AgentError(
            f"{what} does not depend differentiably on the observation (its value carries no gradient): "
            f"{type(agent).__name__}.policy_logits detaches or runs under torch.no_grad before it."
        )
    inputs = x.detach().clone().requires_grad_(True)
    if method == "integrated_gradients":
        attr = IntegratedGradients(forward).attribute(
            inputs,
            baselines=_prepare_baseline(baseline, x),
            target=target_idx,
            n_steps=n_steps,
            internal_batch_size=internal_batch_size,
        )
    elif method == "saliency":
        attr = Saliency(forward).attribute(inputs, target=target_idx)
    else:
        attr = InputXGradient(forward).attribute(inputs, target=target_idx)
    return attr.detach().cpu().numpy().astype(np.float32)


def attribute_neurons(
    agent,
    obs,
    site: str,
    weight,
    bias: float = 0.0,
    *,
    top_k: int | None = 10,
    method: str = "layer_integrated_gradients",
    baseline=None,
    n_steps: int = 32,
    probability: bool = False,
) -> pd.DataFrame:
    """The neurons of `site` that drive the probe read-out `Y_m`, ranked by mean |attribution|.

    Attributions of the probe logit (or of `Y_m` itself with `probability=True`) to each
    flattened activation of `site`, by captum's `LayerIntegratedGradients` (default: integrates in
    the site's activations from those at `baseline`, default all-zero observations, to those at
    `obs`; valid even when modules before the site are not differentiable) or `LayerConductance`
    (integrates along the input path; refused past `nondifferentiable` modules). Returns the
    `top_k` rows (all with `top_k=None`) of: `rank`, `neuron` (flat index), `mean_abs` (mean
    |attribution| over the batch), `mean`, `sign` (+1/-1/0 of `mean`), `weight` (the probe's)
    and `activation` (mean activation at `obs`). Per row, the logit attributions of layer
    integrated gradients sum to `Y(obs) - Y(baseline)`.
    """
    from captum.attr import LayerConductance, LayerIntegratedGradients

    if method not in NEURON_METHODS:
        raise unknown_name("neuron attribution method", method, NEURON_METHODS)
    if n_steps < 2:
        raise ConfigError(f"n_steps must be >= 2, got {n_steps}.")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k must be >= 1 or None, got {top_k}.")
    readout = ReadoutModule(agent, site, weight, bias, probability=probability)
    x = _prepare_obs(agent, obs)
    trace = _trace(agent, x, readout)
    base = _prepare_baseline(baseline, x)
    inputs = x.detach().clone()
    if method == "layer_conductance":
        _refuse_blocked(agent, f"the probe at {site!r} (layer conductance)", trace)
        attr = LayerConductance(readout, readout.site_module).attribute(
            inputs.requires_grad_(True), baselines=base, n_steps=n_steps
        )
    else:
        attr = LayerIntegratedGradients(readout, readout.site_module).attribute(inputs, baselines=base, n_steps=n_steps)
    if isinstance(attr, (tuple, list)):
        attr = attr[0]
    flat = attr.detach().reshape(attr.shape[0], -1).cpu().double().numpy()
    mean = flat.mean(axis=0)
    table = pd.DataFrame(
        {
            "neuron": np.arange(flat.shape[1]),
            "mean_abs": np.abs(flat).mean(axis=0),
            "mean": mean,
            "sign": np.sign(mean).astype(int),
            "weight": readout.weight.cpu().double().numpy(),
            "activation": trace.acts.detach().cpu().double().numpy().mean(axis=0),
        }
    )
    table = table.sort_values(["mean_abs", "neuron"], ascending=[False, True], kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table if top_k is None else table.head(top_k).reset_index(drop=True)
