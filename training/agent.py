"""The `Agent` protocol every agent satisfies, and the Stable-Baselines3 adapter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from core.errors import AgentError, ConfigError


@runtime_checkable
class Agent(Protocol):
    """Anything that acts on a batch of observations and exposes its named torch modules.

    `act(obs)` takes a batch `(B, *obs_shape)` and returns `(B,)` integer actions; sampling must
    draw only from `rng` so that a seed fixes the actions. `named_modules()` yields
    `(dotted_name, module)` pairs, like `torch.nn.Module.named_modules`; hooks are placed on them.

    Optional, for attribution (`probes.attribute_inputs`, `probes.attribute_neurons`):
    `policy_logits(obs: torch.Tensor) -> torch.Tensor`, a differentiable forward (no
    `torch.no_grad`) from a float batch `(B, *obs_shape)` to action logits `(B, A)` that runs every
    module whose activations are probed. A module with a `nondifferentiable` attribute (a string
    giving the reason: thresholds, argmax, ...) declares that gradients through it to the
    observation are zero or misleading; attribution to the input refuses targets downstream of it.
    """

    def act(
        self, obs: np.ndarray, *, deterministic: bool = False, rng: np.random.Generator | None = None
    ) -> np.ndarray: ...

    def named_modules(self) -> Iterator[tuple[str, nn.Module]]: ...


def sample_from_logits(logits: torch.Tensor, *, deterministic: bool, rng: np.random.Generator | None) -> np.ndarray:
    """Sample actions `(B,)` from logits `(B, A)` using only `rng` (argmax if deterministic)."""
    if deterministic:
        return logits.argmax(dim=-1).cpu().numpy()
    probs = torch.softmax(logits.double(), dim=-1).cpu().numpy()
    rng = rng if rng is not None else np.random.default_rng()
    u = rng.random((probs.shape[0], 1))
    # Inverse-CDF sampling keeps the draw a pure function of rng's state (no torch global RNG).
    actions = (np.cumsum(probs, axis=1) < u).sum(axis=1)
    return np.minimum(actions, probs.shape[1] - 1)


class SB3Agent:
    """Adapter that makes a Stable-Baselines3 on-policy model (PPO, A2C) an `Agent`.

    `act` runs the actor *and* the critic, so hooks on any module of the policy fire once per
    call; module names are those of `model.policy` (e.g. `features_extractor.fc`, `value_net`).
    """

    def __init__(self, model, *, name: str = "agent") -> None:
        policy = getattr(model, "policy", None)
        if policy is None or not hasattr(policy, "mlp_extractor") or not hasattr(policy, "action_net"):
            raise AgentError(
                f"SB3Agent needs an on-policy Stable-Baselines3 model with an ActorCriticPolicy "
                f"(PPO, A2C); got {type(model).__name__}. Wrap other policies with your own Agent."
            )
        self.model = model
        self.policy = policy
        self.name = name
        self.learning_curve = None
        """Its training episodes with their regimes (`training.learning_curve`), when trained or loaded with them."""

    @property
    def device(self) -> torch.device:
        """The torch device the policy lives on."""
        return self.policy.device

    def named_modules(self) -> Iterator[tuple[str, nn.Module]]:
        """Named modules of the SB3 policy (dotted paths relative to `model.policy`)."""
        return self.policy.named_modules()

    def _heads(self, obs_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Action logits `(B, A)` and values `(B,)` for an observation tensor (grad mode as the caller's)."""
        policy = self.policy
        features = policy.extract_features(obs_t)
        if policy.share_features_extractor:
            latent_pi, latent_vf = policy.mlp_extractor(features)
        else:
            latent_pi = policy.mlp_extractor.forward_actor(features[0])
            latent_vf = policy.mlp_extractor.forward_critic(features[1])
        return policy.action_net(latent_pi), policy.value_net(latent_vf).squeeze(-1)

    @torch.no_grad()
    def logits_and_values(self, obs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Action logits `(B, A)` and value estimates `(B,)` for a batch of observations."""
        self.policy.set_training_mode(False)
        obs_t, _ = self.policy.obs_to_tensor(np.asarray(obs, dtype=np.float32))
        return self._heads(obs_t)

    def policy_logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Differentiable action logits `(B, A)` for a float tensor batch `(B, *obs_shape)`.

        Features -> `mlp_extractor` -> `action_net` with gradients enabled (for captum). The critic
        runs too, its value discarded, so that hooks on every module fire once per call as in `act`
        (a probe may read `value_net`); it does not change the logits or their gradients.
        """
        if not isinstance(obs, torch.Tensor):
            raise AgentError(f"policy_logits takes a torch.Tensor batch, got {type(obs).__name__}.")
        expected = tuple(self.policy.observation_space.shape)
        if obs.ndim != len(expected) + 1 or tuple(obs.shape[1:]) != expected:
            raise ConfigError(
                f"observations of shape {tuple(obs.shape)} do not fit the policy; expected a batch "
                f"(B, {', '.join(map(str, expected))})."
            )
        self.policy.set_training_mode(False)
        logits, _ = self._heads(obs.to(self.device, torch.float32))
        return logits

    def act(
        self, obs: np.ndarray, *, deterministic: bool = False, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Actions `(B,)` for observations `(B, C, H, W)`."""
        logits, _ = self.logits_and_values(obs)
        return sample_from_logits(logits, deterministic=deterministic, rng=rng)

    def __repr__(self) -> str:
        return f"SB3Agent(name={self.name!r}, model={type(self.model).__name__})"
