"""Reward that reads the agent's own activations: `reward_from_activations` (seed 003 §6).

PPO's reward becomes `r + β·f(Y_m)`, where `Y_m` is read out of the agent's own network at the
state its action led to: a logistic probe at one site ("will this episode achieve `candidate`?",
fitted on the agent's own recent steps) or the mean of named neurons. The read-out is recomputed
with the current network at every step, so as PPO changes the network the reward changes with it.

Two probe schedules, which mean different things causally:

- `frozen`: the probe is fitted once (as soon as both outcomes have been seen `warmup_episodes`
  times) and never again. `Y_m` is then a fixed function of the network's activations; nothing
  ties it back to the outcome, so the agent is paid for whatever moves those activations along
  the probe's direction, and the read-out's meaning drifts as the network changes.
- `refit`: the probe is refitted every `refit_every` rollouts on the last `window` steps. `Y_m` is
  re-anchored to the outcome each time (in the influence diagram the outcome is a parent of the
  probe), but the agent's own behaviour chooses the probe's training data, which adds a control
  incentive on the probe itself (`analysis.incentives`).

At `β = 0` the wrapper pays nothing and consumes no randomness: the agent trains exactly as
without it (tested), and its probe is fitted on the same schedule, so its read-out is the
reference the wireheading measures compare against.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from core.errors import ConfigError
from core.hooks import forward_hooks
from core.modules import resolve_modules
from training.agent import SB3Agent

PROBE_SCHEDULES: tuple[str, ...] = ("refit", "frozen")


@dataclass(frozen=True)
class ActivationReward:
    """Settings of `train(..., reward_from_activations=...)`."""

    beta: float
    """Weight of the read-out in the reward (`r + β·f(Y_m)` per step)."""
    site: str = "mlp_extractor.policy_net"
    """Dotted module name of the policy whose output is read."""
    candidate: str = "coin"
    """The candidate objective the probe reads (`info["achieved"][candidate]` at the episode's end)."""
    probe: str = "refit"
    """`refit` (every `refit_every` rollouts) or `frozen` (fitted once); see the module docstring."""
    neurons: tuple[int, ...] | None = None
    """Read the mean of these units of `site` instead of a probe (no fitting; `probe` is then unused)."""
    refit_every: int = 2
    """Rollouts between refits (`refit`)."""
    warmup_episodes: int = 20
    """Episodes of each outcome needed before the first fit; until then `f(Y_m) = 0`."""
    window: int = 4096
    """Most recent steps kept for fitting."""

    def __post_init__(self) -> None:
        if not self.beta >= 0:  # NaN fails too
            raise ConfigError(f"reward_from_activations.beta must be >= 0, got {self.beta}.")
        if self.probe not in PROBE_SCHEDULES:
            raise ConfigError(f"reward_from_activations.probe must be 'refit' or 'frozen', got {self.probe!r}.")
        if min(self.refit_every, self.warmup_episodes, self.window) < 1:
            raise ConfigError("reward_from_activations: refit_every, warmup_episodes and window must be >= 1.")
        if self.neurons is not None and (not self.neurons or min(self.neurons) < 0):
            raise ConfigError(f"reward_from_activations.neurons must name unit indices >= 0, got {self.neurons}.")


@dataclass(frozen=True)
class Readout:
    """`f(Y_m)` from a site's activations `h (n, d)`: `σ(h·w + b)` for a probe, the mean of `neurons` otherwise."""

    site: str
    w: tuple[float, ...] | None = None
    b: float = 0.0
    neurons: tuple[int, ...] | None = None

    def __call__(self, h: np.ndarray) -> np.ndarray:
        h = np.asarray(h, dtype=np.float64)
        if self.neurons is not None:
            if max(self.neurons) >= h.shape[1]:
                raise ConfigError(f"neurons {list(self.neurons)} exceed the {h.shape[1]} units of site {self.site!r}.")
            return h[:, list(self.neurons)].mean(axis=1)
        return expit(h @ np.asarray(self.w) + self.b)

    def to_dict(self) -> dict:
        """Plain JSON (stored in the agent's `agent.json`)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Readout:
        """Inverse of `to_dict`."""
        w, neurons = data.get("w"), data.get("neurons")
        return cls(data["site"], None if w is None else tuple(w), float(data.get("b", 0.0)),
                   None if neurons is None else tuple(neurons))  # fmt: skip


def site_activations(agent: SB3Agent, site: str, obs: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Outputs `(n, d)` of module `site` of an `SB3Agent` on observations `obs` (actor and critic both run)."""
    module = resolve_modules(agent, [site])[site]
    chunks: list[np.ndarray] = []

    def hook(_m, _i, out) -> None:
        out = out[0] if isinstance(out, tuple) else out
        chunks.append(out.detach().reshape(out.shape[0], -1).to("cpu").numpy())

    with forward_hooks([(module, hook)]):
        for start in range(0, len(obs), batch):
            agent.logits_and_values(obs[start : start + batch])
    return np.concatenate(chunks) if chunks else np.zeros((0, 0))


class ActivationRewardVecEnv(VecEnvWrapper):
    """A VecEnv that adds `β·f(Y_m)` to each step's reward, `Y_m` read from the attached policy at the state reached.

    `attach(model)` before stepping; `fit()` refits the probe on the kept steps (the callback
    `ProbeSchedule` calls it on the settings' schedule). `infos[i]["y_m"]` is the read-out paid for.
    """

    def __init__(self, venv: VecEnv, spec: ActivationReward) -> None:
        super().__init__(venv)
        self.spec = spec
        self.agent: SB3Agent | None = None
        self.readout: Readout | None = (
            Readout(spec.site, neurons=tuple(spec.neurons)) if spec.neurons is not None else None
        )
        self.n_fits = 0
        self._episode: list[list[np.ndarray]] = [[] for _ in range(self.num_envs)]
        self._rows: deque[tuple[np.ndarray, float]] = deque(maxlen=spec.window)
        self._outcomes = [0, 0]

    def attach(self, model: BaseAlgorithm) -> None:
        """Read activations from `model` (an on-policy SB3 model such as PPO); its site is checked now."""
        agent = SB3Agent(model)
        resolve_modules(agent, [self.spec.site])
        self.agent = agent

    def reset(self) -> np.ndarray:
        """Reset every environment and forget the episodes in progress."""
        self._episode = [[] for _ in range(self.num_envs)]
        return self.venv.reset()

    def step_wait(self):
        """Step, read `f(Y_m)` at each state reached (the terminal one when an episode ends) and add `β·f(Y_m)`."""
        obs, rewards, dones, infos = self.venv.step_wait()
        reached = np.array(obs, copy=True)
        for i, done in enumerate(dones):
            if done and "terminal_observation" in infos[i]:
                reached[i] = infos[i]["terminal_observation"]
        y = self._read(reached)
        for i in range(self.num_envs):
            infos[i]["y_m"] = float(y[i])
            self._episode[i].append(reached[i])
            if dones[i]:
                label = float(bool(infos[i].get("achieved", {}).get(self.spec.candidate, False)))
                self._outcomes[int(label)] += 1
                self._rows.extend((o, label) for o in self._episode[i])
                self._episode[i] = []
        if self.spec.beta:
            rewards = (rewards + self.spec.beta * y).astype(rewards.dtype)
        return obs, rewards, dones, infos

    def _read(self, obs: np.ndarray) -> np.ndarray:
        if self.readout is None or self.agent is None:
            return np.zeros(len(obs))
        return self.readout(site_activations(self.agent, self.spec.site, obs))

    @property
    def ready(self) -> bool:
        """Whether both outcomes have been seen `warmup_episodes` times."""
        return min(self._outcomes) >= self.spec.warmup_episodes

    def fit(self) -> bool:
        """Refit the probe on the kept steps with the current network; False (nothing changed) before `ready`."""
        if self.spec.neurons is not None or self.agent is None or not self.ready:
            return False
        obs = np.stack([o for o, _ in self._rows])
        labels = np.array([lab for _, lab in self._rows])
        if len(np.unique(labels)) < 2:
            return False
        h = site_activations(self.agent, self.spec.site, obs)
        model = LogisticRegression(max_iter=500).fit(h, labels)
        self.readout = Readout(self.spec.site, tuple(float(v) for v in model.coef_[0]), float(model.intercept_[0]))
        self.n_fits += 1
        return True


class ProbeSchedule(BaseCallback):
    """Fits the reward's probe at the end of rollouts: once (`frozen`) or every `refit_every` rollouts (`refit`)."""

    def __init__(self, env: ActivationRewardVecEnv) -> None:
        super().__init__()
        self.env = env
        self.rollouts = 0

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.rollouts += 1
        spec = self.env.spec
        if spec.probe == "frozen":
            if self.env.n_fits == 0:
                self.env.fit()
        elif self.env.n_fits == 0 or self.rollouts % spec.refit_every == 0:
            self.env.fit()


__all__ = [
    "PROBE_SCHEDULES",
    "ActivationReward",
    "ActivationRewardVecEnv",
    "ProbeSchedule",
    "Readout",
    "site_activations",
]
