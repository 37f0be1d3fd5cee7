"""Oracles for OracleWorld (seed 001): supervised sequence predictors, counterfactual and plain.

A `SequenceOracle` is a small torch MLP from the oracle's observation (the history of
observations, predictions and erasure flags, and the erasure message of the round it predicts) to
a prediction. It is trained with a squared loss, no reward or utility function:

- `train_counterfactual_oracle`: the loss counts only rounds whose prediction was erased, so the
  oracle learns `E[o_n | h, e]`, what would happen had nobody read it (the seed's point that a
  sequence predictor needs no utility function to be counterfactual);
- `train_plain_predictor`: every prediction is read and every round counts; retrained again and
  again on the world its last version made (repeated risk minimisation, Perdomo et al. 2020), it
  moves towards a self-confirming prediction.

Oracles are `training.Agent`s: named torch modules (`body.*`, `head`) for hooks (`probes.capture`)
and `act` returning the continuous action `(B, 1)`, the prediction over the world's `p_max`, so
`probes.collect` and `training.check_agent` take them (`analysis.read_representation` probes them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

import envs
from core.errors import ConfigError, DataError

Policy = Callable[[np.ndarray], np.ndarray]
"""Observations `(B, d)` to predictions `(B,)` in the world's units."""


class SequenceOracle(nn.Module):
    """An MLP from the oracle's observation to a prediction, with fixed input and output scales.

    The scales (`x_mean`, `x_scale`, `y_mean`, `y_scale`) are buffers, saved with the weights, set
    from the data by `fit_oracle`. `init_prediction` sets the output bias, so a fresh oracle
    predicts that value everywhere (the initialisation a repeated-retraining run starts from).
    """

    def __init__(self, obs_dim: int, *, hidden: tuple[int, ...] = (64, 64), p_max: float = 200.0,
                 init_prediction: float = 0.0, seed: int = 0) -> None:  # fmt: skip
        super().__init__()
        if obs_dim < 1 or not hidden or min(hidden) < 1:
            raise ConfigError(f"obs_dim and every hidden width must be >= 1, got {obs_dim} and {hidden}.")
        torch.manual_seed(seed)
        layers, width = [], obs_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.Tanh()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.p_max = float(p_max)
        self.register_buffer("x_mean", torch.zeros(obs_dim, dtype=torch.float64))
        self.register_buffer("x_scale", torch.ones(obs_dim, dtype=torch.float64))
        self.register_buffer("y_mean", torch.tensor(float(init_prediction), dtype=torch.float64))
        self.register_buffer("y_scale", torch.tensor(1.0, dtype=torch.float64))
        self.double()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Predictions `(B,)` for observations `(B, d)`."""
        x = (obs.double() - self.x_mean) / self.x_scale
        return self.head(self.body(x)).squeeze(-1) * self.y_scale + self.y_mean

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Predictions `(B,)` in the world's units."""
        with torch.no_grad():
            return self(torch.as_tensor(np.asarray(obs, dtype=np.float64))).numpy()

    def act(self, obs: np.ndarray, *, deterministic: bool = True, rng: np.random.Generator | None = None) -> np.ndarray:
        """Actions `(B, 1)`: the predictions over `p_max`, clipped to [-1, 1] (the oracle is deterministic)."""
        return np.clip(self.predict(obs) / self.p_max, -1.0, 1.0).astype(np.float32)[:, None]


def fit_oracle(
    model: SequenceOracle,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 300,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    rescale: bool = True,
) -> list[float]:
    """Fit `model` to predict `y (n,)` from `X (n, d)` by full-batch Adam on the squared error; return the losses.

    With `rescale`, the model's input and output scales are first set from the data (`y`'s mean
    and spread, the spread floored at 1e-3; the inputs' spreads floored at one world unit).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.ndim != 2 or len(X) != len(y) or len(y) < 2:
        raise DataError(f"fit_oracle needs X (n, d) and y (n,) with n >= 2, got {X.shape} and {y.shape}.")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise DataError("fit_oracle got non-finite values in X or y.")
    if rescale:
        with torch.no_grad():
            model.x_mean.copy_(torch.as_tensor(X.mean(axis=0)))
            # A floor of one world unit: a feature the last deployment held nearly fixed (its own
            # predictions) must not be blown up when the next deployment moves it.
            model.x_scale.copy_(torch.as_tensor(np.maximum(X.std(axis=0), 1.0)))
            model.y_mean.copy_(torch.tensor(float(y.mean())))
            model.y_scale.copy_(torch.tensor(float(max(y.std(), 1e-3))))
    Xt, yt = torch.from_numpy(X.copy()), torch.from_numpy(y.copy())
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for _ in range(int(epochs)):
        opt.zero_grad()
        loss = (((model(Xt) - yt) / model.y_scale) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def oracle_rounds(
    policy: Policy,
    *,
    env: str = "mesaprobe/OracleWorld-v0",
    n_episodes: int,
    seed: int = 0,
    explore: float = 0.0,
    env_kwargs: dict | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Run `policy` in OracleWorld for `n_episodes` and return `(rounds, observations)`.

    `rounds` has one row per round: `episode`, `round`, `e` (erased), `s`, `prediction`, `noise`
    (the exploration draw added to the policy's prediction), `observation`, and the ground truth
    `counterfactual_mean`, `read_mean`, `influence`; `observations (n_rounds, d)` is what the
    oracle saw before predicting. `explore` adds Gaussian noise of that standard deviation to every
    prediction, drawn from `seed` alone: a randomised experiment on the prediction, which the
    leakage check reads. Episode `k` is reset with seed `seed + k`.
    """
    if n_episodes < 1:
        raise ConfigError(f"n_episodes must be >= 1, got {n_episodes}.")
    world = envs.make(env, **(env_kwargs or {}))
    u = world.unwrapped
    rng = np.random.default_rng(seed)
    rows, seen = [], []
    for k in range(int(n_episodes)):
        obs, _ = world.reset(seed=seed + k)
        done = False
        while not done:
            noise = explore * float(rng.standard_normal()) if explore else 0.0
            p = float(policy(obs[None])[0]) + noise
            seen.append(obs)
            obs, _, terminated, truncated, info = world.step(u.to_action(p))
            done = terminated or truncated
            rows.append(
                {
                    "episode": k,
                    "round": info["round"],
                    "e": info["e"],
                    "s": info["s"],
                    "prediction": info["prediction"],
                    "noise": noise,
                    "observation": info["observation"],
                    "counterfactual_mean": info["counterfactual_mean"],
                    "read_mean": info["read_mean"],
                    "influence": info["influence"],
                }
            )
    world.close()
    return pd.DataFrame(rows), np.asarray(seen, dtype=np.float64)


@dataclass(frozen=True)
class OracleTraining:
    """An oracle and how its training went: the mean prediction after each iteration and the losses."""

    oracle: SequenceOracle
    kind: str
    mean_prediction: tuple[float, ...]
    final_loss: float

    def to_dict(self) -> dict:
        """Plain JSON."""
        return {"kind": self.kind, "mean_prediction": list(self.mean_prediction), "final_loss": self.final_loss}


def _oracle_for(env: str, env_kwargs: dict | None, *, hidden, init_prediction: float, seed: int) -> SequenceOracle:
    world = envs.make(env, **(env_kwargs or {}))
    u = world.unwrapped
    oracle = SequenceOracle(
        world.observation_space.shape[0], hidden=hidden, p_max=u.p_max, init_prediction=init_prediction, seed=seed
    )
    world.close()
    return oracle


def train_counterfactual_oracle(
    *,
    env: str = "mesaprobe/OracleWorld-v0",
    env_kwargs: dict | None = None,
    iterations: int = 3,
    n_episodes: int = 200,
    epochs: int = 300,
    hidden: tuple[int, ...] = (32, 32),
    explore: float = 1.0,
    seed: int = 0,
) -> OracleTraining:
    """Train an oracle whose loss counts erased rounds only: it learns to predict as if nobody reads it.

    Each iteration deploys the current oracle (asked with the erasure message always on, as a
    counterfactual oracle is used), collects `n_episodes` episodes at the world's erasure rate, and
    refits on the erased rounds. In a sound design what happens on erased rounds does not depend on
    the prediction, so the answer does not depend on the initialisation.
    """
    kwargs = {**(env_kwargs or {}), "ask": "actual"}
    oracle = _oracle_for(env, kwargs, hidden=hidden, init_prediction=0.0, seed=seed)
    means, loss = [], float("nan")
    world = envs.make(env, **kwargs)
    mi = world.unwrapped.message_index
    world.close()

    def policy(obs: np.ndarray) -> np.ndarray:
        obs = np.array(obs, dtype=np.float64, copy=True)
        obs[:, mi] = 1.0  # always the counterfactual question
        return oracle.predict(obs)

    for it in range(int(iterations)):
        rounds, X = oracle_rounds(
            policy, env=env, n_episodes=n_episodes, seed=seed + 10_000 * it, explore=explore, env_kwargs=kwargs
        )
        erased = rounds["e"].to_numpy() == 1
        if erased.sum() < 10:
            raise DataError(
                f"only {int(erased.sum())} erased rounds in {len(rounds)}; raise n_episodes or the erasure rate (shift)."
            )
        loss = fit_oracle(oracle, X[erased], rounds["observation"].to_numpy()[erased], epochs=epochs)[-1]
        means.append(float(policy(X).mean()))
    return OracleTraining(oracle, "counterfactual", tuple(means), loss)


def train_plain_predictor(
    *,
    env: str = "mesaprobe/OracleWorld-v0",
    env_kwargs: dict | None = None,
    iterations: int = 40,
    n_episodes: int = 50,
    epochs: int = 150,
    hidden: tuple[int, ...] = (32, 32),
    init_prediction: float | None = None,
    erasure: float | None = None,
    seed: int = 0,
) -> OracleTraining:
    """Repeated retraining of a plain predictor: every prediction is read and every round is in the loss.

    Each iteration deploys the current predictor in a world where nothing is erased, collects
    `n_episodes` episodes and refits on all of them; the sequence of mean predictions moves towards
    a self-confirming prediction (`mu / (1 - kappa)` in the linear world, one of two in the threshold
    world, which one depending on `init_prediction`). `init_prediction` defaults to a draw from
    `U[0, 2·mu]` by `seed`, so that different seeds start in different places.

    With `erasure`, the world erases that share of rounds and says so in the message, and every
    round is still in the loss (kind `informed`): the predictor learns to tell read rounds, where
    it confirms itself, from erased ones, where it predicts the counterfactual mean.
    """
    if erasure is None:
        kwargs, kind = {**(env_kwargs or {}), "shift": 0.0, "ask": "read"}, "plain"
    else:
        kwargs, kind = {**(env_kwargs or {}), "shift": envs.check_shift(erasure), "ask": "actual"}, "informed"
    world = envs.make(env, **kwargs).unwrapped
    if init_prediction is None:
        init_prediction = float(np.random.default_rng(seed).uniform(0.0, 2.0 * world.mu))
    oracle = _oracle_for(env, kwargs, hidden=hidden, init_prediction=init_prediction, seed=seed)
    means, loss = [float(init_prediction)], float("nan")
    for it in range(int(iterations)):
        rounds, X = oracle_rounds(
            oracle.predict, env=env, n_episodes=n_episodes, seed=seed + 10_000 * it, env_kwargs=kwargs
        )
        loss = fit_oracle(oracle, X, rounds["observation"].to_numpy(), epochs=epochs)[-1]
        means.append(float(oracle.predict(X).mean()))
    return OracleTraining(oracle, kind, tuple(means), loss)


class RewardOracle:
    """A Stable-Baselines3 PPO oracle on OracleWorld: a continuous action, the reward the world pays.

    `kind="counterfactual"`: reward on erased rounds only (the environment's `reward="erased"`),
    asked with the erasure message on; `kind="plain"`: every prediction read, every round rewarded.
    Observations are normalised by the `VecNormalize` statistics of training (kept frozen here).
    `predict(obs)` returns the deterministic predictions in the world's units; `policy` is the SB3
    policy module (named modules for hooks).
    """

    def __init__(self, model, normalizer, p_max: float, kind: str) -> None:
        self.model, self.normalizer, self.p_max, self.kind = model, normalizer, float(p_max), kind
        self.policy = model.policy

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic predictions `(B,)`."""
        actions, _ = self.model.predict(
            self.normalizer.normalize_obs(np.asarray(obs, dtype=np.float32)), deterministic=True
        )
        return self.p_max * np.clip(np.asarray(actions, dtype=np.float64).reshape(-1), -1.0, 1.0)

    def act(self, obs: np.ndarray, *, deterministic: bool = True, rng: np.random.Generator | None = None) -> np.ndarray:
        """Actions `(B, 1)`: the deterministic predictions over `p_max` (the `training.Agent` protocol)."""
        return (self.predict(obs) / self.p_max).astype(np.float32)[:, None]

    @property
    def hidden_layers(self) -> list[str]:
        """The actor's hidden activations: what `predict` runs (the critic's layers never fire in it)."""
        return [f"mlp_extractor.policy_net.{n}" for n, m in self.policy.mlp_extractor.policy_net.named_children()
                if isinstance(m, nn.Tanh | nn.ReLU)]  # fmt: skip

    def named_modules(self):
        """The policy's modules (the `training.Agent` protocol)."""
        return self.policy.named_modules()


def train_reward_oracle(
    kind: str = "counterfactual",
    *,
    env: str = "mesaprobe/OracleWorld-v0",
    env_kwargs: dict | None = None,
    total_timesteps: int = 100_000,
    n_envs: int = 8,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> RewardOracle:
    """Train a PPO oracle whose reward is the world's: erased rounds only (`counterfactual`) or every round (`plain`).

    One-step credit (`gamma = 0`: a prediction's reward is its own round's), rewards and
    observations normalised by `VecNormalize`, an MLP of two 32-unit layers.
    """
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    if kind not in ("counterfactual", "plain"):
        raise ConfigError(f"kind must be 'counterfactual' or 'plain', got {kind!r}.")
    if kind == "counterfactual":
        kwargs = {**(env_kwargs or {}), "reward": "erased", "ask": "erased"}
    else:
        kwargs = {**(env_kwargs or {}), "reward": "all", "ask": "read", "shift": 0.0}
    p_max = envs.make(env, **kwargs).unwrapped.p_max
    venv = DummyVecEnv([lambda: Monitor(envs.make(env, **kwargs)) for _ in range(int(n_envs))])
    venv.seed(seed)
    venv = VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=0.0)
    model = PPO(
        "MlpPolicy", venv, n_steps=256, batch_size=256, gamma=0.0, gae_lambda=1.0, ent_coef=0.0, seed=seed,
        policy_kwargs={"net_arch": [32, 32]}, device="cpu", verbose=0,
    )  # fmt: skip
    chunk = 256 * int(n_envs)
    done = 0
    while done < total_timesteps:
        model.learn(total_timesteps=min(chunk, total_timesteps - done), reset_num_timesteps=False)
        done += chunk
        if progress is not None:
            progress(chunk)
    venv.training = False
    return RewardOracle(model, venv, p_max, kind)
