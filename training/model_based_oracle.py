"""The model-based counterfactual oracle for non-explicit erasure (seed 001).

When the oracle is not told which predictions will be erased, but the designers record it, the
oracle can still be counterfactual: fit a causal model of the world, `E[o_n | h, p_n, e_n]`, from
logged rounds (history, prediction, erasure flag, outcome), and answer with the prediction that
best fits the outcome *conditional on the erasure happening*: the `p` with `p = E[o | h, p, e = 1]`
(in a sound design the right-hand side does not depend on `p`, so one evaluation settles it; a few
fixed-point steps cover a model that learned a small dependence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import envs
from core.errors import DataError
from training.oracles import SequenceOracle, fit_oracle, oracle_rounds


@dataclass(frozen=True)
class ModelBasedOracle:
    """A fitted world model `E[o | h, p, e]` and the history length it reads (`window` rounds).

    `predict(obs)` takes the oracle's observations (the erasure message, if any, is ignored: the
    erasure is assumed) and returns the prediction consistent with the model under erasure.
    """

    world_model: SequenceOracle
    window: int
    steps: int = 5

    def features(self, obs: np.ndarray, p: np.ndarray, erased: float) -> np.ndarray:
        """The world model's inputs: the history `(B, 3·window)`, the prediction and the erasure flag."""
        obs = np.asarray(obs, dtype=np.float64)
        return np.column_stack([obs[:, : 3 * self.window], p, np.full(len(obs), erased)])

    def expected(self, obs: np.ndarray, p: np.ndarray, erased: bool) -> np.ndarray:
        """`E[o | h, p, e]` for a batch of histories and predictions."""
        return self.world_model.predict(self.features(obs, p, float(erased)))

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """The prediction `p = E[o | h, p, e = 1]` for each history `(B,)`."""
        p = self.expected(obs, np.zeros(len(obs)), True)
        for _ in range(self.steps):
            p = self.expected(obs, p, True)
        return p


def train_model_based_oracle(
    *,
    env: str = "mesaprobe/OracleWorld-v0",
    env_kwargs: dict | None = None,
    n_episodes: int = 200,
    behaviour: float = 10.0,
    explore: float = 5.0,
    epochs: int = 300,
    hidden: tuple[int, ...] = (32, 32),
    seed: int = 0,
) -> ModelBasedOracle:
    """Fit `E[o | h, p, e]` on logged rounds and return the oracle that conditions it on erasure.

    The rounds are logged under a behaviour that predicts `behaviour` plus Gaussian noise of scale
    `explore` (so that the model sees how outcomes respond to predictions), with the erasure message
    hidden from the predictor (`ask="read"`) and the erasure flag recorded.
    """
    kwargs = {**(env_kwargs or {}), "ask": "read"}
    rounds, X = oracle_rounds(
        lambda obs: np.full(len(obs), float(behaviour)), env=env, n_episodes=n_episodes, seed=seed, explore=explore,
        env_kwargs=kwargs,
    )  # fmt: skip
    n_erased = int(rounds["e"].sum())
    if n_erased < 20:
        raise DataError(f"{n_erased} erased rounds logged; the model needs at least 20 (raise shift or n_episodes).")
    world = envs.make(env, **kwargs).unwrapped
    oracle = ModelBasedOracle(
        SequenceOracle(3 * world.window + 2, hidden=hidden, p_max=world.p_max, seed=seed), world.window
    )
    features = oracle.features(X, rounds["prediction"].to_numpy(), 0.0)
    features[:, -1] = rounds["e"].to_numpy()
    fit_oracle(oracle.world_model, features, rounds["observation"].to_numpy(), epochs=epochs)
    return oracle
