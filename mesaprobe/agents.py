"""Build the agents a study config names that are not trained here: planted agents and users' torch policies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model
from torch import nn

import envs
import training
from core.errors import AgentError, ConfigError
from mesaprobe.config import AgentConfig
from mesaprobe.plugins import load_callable
from training.checkpoint import write_meta


def build_agent(
    cfg: AgentConfig, *, env: str, env_kwargs: dict[str, Any], device: str = "cpu", seed: int = 0
) -> training.Agent:
    """The agent of a `planted` or `torch` agent config, checked with `training.check_agent`.

    A torch factory is called as `factory(env)` with a fresh environment instance and must return
    an `nn.Module` (wrapped in `training.TorchAgent`, with `weights` loaded strictly from
    safetensors) or an object that already satisfies `training.Agent`. A failed check raises
    `AgentError` naming the check and why, before any rollout is spent.
    """
    where = f"agents[{cfg.name}]"
    device = training.resolve_device(device)
    instance = envs.make(env, **env_kwargs)
    try:
        if cfg.kind == "planted":
            agent = training.planted_agent(instance, cfg.goal or "", beta=cfg.beta, name=cfg.name, device=device)
        elif cfg.kind == "torch":
            agent = _torch_agent(cfg, instance, device, where, seed)
        else:
            raise ConfigError(f"{where}: kind {cfg.kind!r} agents are trained by the study, not built.")
        training.check_agent(agent, instance, layers=cfg.layers_or(()), seed=seed, raise_on_fail=True)
    finally:
        instance.close()
    return agent


def _torch_agent(cfg: AgentConfig, instance, device: str, where: str, seed: int) -> training.Agent:
    factory = load_callable(cfg.factory or "", field=f"{where}.factory")
    # Seeded, and without touching the global generator: a network initialised at random is the same network
    # in every run and in every worker process.
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        made = factory(instance)
    if isinstance(made, nn.Module):
        if cfg.weights:
            _load_weights(made, cfg.weights, where)
        return training.TorchAgent(made, name=cfg.name, device=device, recurrent=cfg.recurrent)
    if cfg.weights:
        raise ConfigError(
            f"{where}.weights: the factory returned a {type(made).__name__}, not an nn.Module to load into."
        )
    if callable(getattr(made, "act", None)) and callable(getattr(made, "named_modules", None)):
        return made
    raise AgentError(
        f"{where}.factory {cfg.factory!r} returned a {type(made).__name__}; it must return a torch.nn.Module "
        f"(logits from observations) or an object with act(obs, deterministic=, rng=) and named_modules()."
    )


def _load_weights(module: nn.Module, path: str, where: str) -> None:
    if not Path(path).is_file():
        raise ConfigError(f"{where}.weights: file {path!r} does not exist.")
    try:
        missing, unexpected = load_model(module, path, strict=False, device="cpu")
    except (SafetensorError, OSError) as exc:
        raise ConfigError(f"{where}.weights: {path!r} is not a readable safetensors file ({exc}).") from None
    except RuntimeError as exc:  # shape mismatches
        raise ConfigError(f"{where}.weights: {path!r} does not fit the module: {exc}") from None
    if missing or unexpected:
        raise ConfigError(
            f"{where}.weights: {path!r} does not match the module's parameters "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})."
        )


def save_agent_description(cfg: AgentConfig, out: str | os.PathLike[str], *, env: str, env_kwargs: dict) -> Path:
    """Write `agent.json` for an agent the study did not train (how to rebuild it)."""
    meta = {
        "kind": cfg.kind,
        "name": cfg.name,
        "env_id": env,
        "env_kwargs": env_kwargs,
        "goal": cfg.goal,
        "beta": cfg.beta,
        "factory": cfg.factory,
        "weights": cfg.weights,
        "recurrent": cfg.recurrent,
        "torch": torch.__version__,
    }
    return write_meta(out, meta)
