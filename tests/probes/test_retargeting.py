"""Retargeting along a spatial probe: known answers on synthetic activations and planted planners."""

import numpy as np
import pytest
import torch
from torch import nn

import envs
from analysis.figures import retargeting_figure
from analysis.retargeting import summarize_retargeting
from core.errors import ConfigError, DataError
from probes import count_hooks
from probes.retargeting import (
    MOVED,
    STEERED,
    UNSTEERED,
    goal_probe,
    pick_target,
    retarget,
    retargeting_rate,
)
from probes.spatial import SpatialProbe
from probes.steering import Intervention, steer_rows
from training import planted_agent

ENV = "mesaprobe/CheeseMaze-v0"
SMALL = {"min_size": 5, "max_size": 7, "max_steps": 60}


def _patterned(n, C=3, H=7, W=7, seed=0):
    """Activations where the target cell carries a 3x3 pattern on channel 1 (centre 4, ring 1.5)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, C, H, W))
    y = np.stack([rng.integers(1, H - 1, n), rng.integers(1, W - 1, n)], axis=1)
    pattern = np.full((3, 3), 1.5)
    pattern[1, 1] = 4.0
    for i, (r, c) in enumerate(y):
        X[i, 1, r - 1 : r + 2, c - 1 : c + 2] += pattern
    return X, y


def test_kernel_probe_reads_a_neighbourhood_pattern_and_gives_its_direction():
    X, y = _patterned(600)
    wide = SpatialProbe(kernel=3).fit(X[:400], y[:400])
    assert wide.coef_.shape == (3, 3, 3) and wide.margin_ > 0
    assert wide.score(X[400:], y[400:]) > SpatialProbe(kernel=1).fit(X[:400], y[:400]).score(X[400:], y[400:])
    assert wide.score(X[400:], y[400:]) > 0.95
    # Channel 1 carries the weight, most at the centre.
    assert np.argmax(np.abs(wide.coef_).sum(axis=(1, 2))) == 1 and np.argmax(wide.coef_[1]) == 4
    d = wide.cell_direction((0, 0))  # cut at the corner: only the kernel's lower-right 2x2 fits
    assert d.shape == (3, 7, 7) and np.count_nonzero(d[1]) == 4
    assert np.allclose(d[:, :2, :2], wide.coef_[:, 1:, 1:] / wide.scale_[:, None, None])
    # The pattern (what to add) is the activation change the goal makes: with a strong ridge it
    # follows the planted 3x3 pattern on channel 1, centre three times the ring (here 4 / 1.5).
    pat = SpatialProbe(kernel=3, alpha=100.0).fit(X[:400], y[:400]).cell_pattern((3, 3))
    ring = np.delete(pat[1, 2:5, 2:5].ravel(), 4)
    assert np.abs(pat[[0, 2]]).max() < 0.2 * pat[1].max()
    assert pat[1, 3, 3] / ring.mean() == pytest.approx(4 / 1.5, rel=0.25)
    with pytest.raises(ConfigError, match="odd positive"):
        SpatialProbe(kernel=2).fit(X, y)
    with pytest.raises(DataError, match="not fitted"):
        SpatialProbe().cell_direction((0, 0))


def test_masked_probe_compares_the_goal_with_the_cells_it_could_have_been_in():
    # Channel 0 marks walls; the goal is always on an open cell. Unmasked, "open" is half of what
    # tells the goal's cell apart; masked to open cells, the direction is the goal channel alone.
    rng = np.random.default_rng(1)
    n, H, W = 400, 6, 6
    walls = rng.random((n, H, W)) < 0.5
    X = np.zeros((n, 2, H, W))
    X[:, 0] = walls
    y = np.array([np.argwhere(~w)[rng.integers((~w).sum())] for w in walls])
    X[np.arange(n), 1, y[:, 0], y[:, 1]] = 1.0
    X += 0.1 * rng.normal(size=X.shape)
    plain = SpatialProbe(alpha=10.0).fit(X, y).cell_pattern((2, 2))[:, 2, 2]
    masked = SpatialProbe(alpha=10.0).fit(X, y, cells=~walls).cell_pattern((2, 2))[:, 2, 2]
    assert abs(plain[0]) > 0.3 * abs(plain[1])
    assert abs(masked[0]) < 0.1 * abs(masked[1])
    with pytest.raises(DataError, match="outside its sample's cells"):
        SpatialProbe().fit(X, y, cells=walls)


def test_cell_direction_is_the_gradient_of_the_cells_logit_for_an_asymmetric_kernel():
    # Cross-correlation, not convolution: a flipped kernel would pass the symmetric tests above.
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(200, 2, 6, 6)), rng.integers(0, 6, size=(200, 2))
    X[np.arange(200), 0, y[:, 0], y[:, 1]] += 2.0
    X[np.arange(200), 1, y[:, 0], np.clip(y[:, 1] + 1, 0, 5)] += 1.0  # the goal's right neighbour lights up too
    probe = SpatialProbe(kernel=3).fit(X, y)
    x = torch.as_tensor(X[:1], dtype=torch.float64).requires_grad_(True)
    for cell in [(0, 0), (2, 3), (5, 5)]:
        logit = probe._logits(probe._standardise_t(x))[0, cell[0], cell[1]]
        (grad,) = torch.autograd.grad(logit, x)
        assert np.allclose(probe.cell_direction(cell), grad[0].numpy())
    # The neighbour's channel-1 weight sits right of centre in the kernel, and in the pattern.
    assert probe.coef_[1, 1, 2] > abs(probe.coef_[1, 1, 0])
    assert probe.cell_pattern((2, 3))[1, 2, 4] > abs(probe.cell_pattern((2, 3))[1, 2, 2])


def _share_moved(probe, X, y, scale):
    """Share of samples whose read-out lands on the target after `retarget` (target (1, 1), or (5, 5) from there)."""
    moved = 0
    for x, src in zip(X, y, strict=True):
        target = (1, 1) if tuple(src) != (1, 1) else (5, 5)
        iv = retarget(probe, "site", source=tuple(src), target=target, scale=scale)
        edited = x.reshape(-1).copy()
        edited[list(iv.positions)] += iv.scale * np.asarray(iv.direction)
        moved += tuple(probe.predict(edited.reshape(1, *x.shape))[0]) == target
    return moved / len(X)


def test_retarget_moves_the_probes_reading_to_the_target():
    X, y = _patterned(500)
    probe = SpatialProbe(kernel=3, alpha=1.0).fit(X[:400], y[:400])
    assert _share_moved(probe, X[400:], y[400:], 1.0) >= 0.95
    # A quarter of the strength rarely moves it: the unit is the probe's margin, not arbitrary.
    assert _share_moved(probe, X[400:], y[400:], 0.25) <= 0.5
    with pytest.raises(ConfigError, match="same cell"):
        retarget(probe, "site", source=(2, 2), target=(2, 2))


def test_steer_rows_edits_each_row_with_its_own_intervention():
    net = nn.Sequential(nn.Identity())
    x = torch.zeros(3, 4)
    ivs = [Intervention("0", (1.0,), positions=(0,)), None, Intervention("0", (5.0, 6.0), positions=(2, 3), mode="set")]
    with steer_rows(net, ivs):
        out = net(x)
        with pytest.raises(DataError, match="one row per intervention"):
            net(torch.zeros(2, 4))
    assert torch.equal(out, torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 5.0, 6.0]]))
    assert count_hooks(net) == 0
    with (
        pytest.raises(ConfigError, match="one site"),
        steer_rows(net, [ivs[0], Intervention("", (1.0,), positions=(0,))]),
    ):
        pass


def test_pick_target_is_off_the_way_to_and_past_the_goal():
    # A T: start at the bottom of the stem, goal at the left end of the bar; the right arm is the
    # only place off the way, and the cell past the goal is excluded too.
    walls = np.ones((5, 7), dtype=bool)
    walls[1, 1:6] = False  # the bar
    walls[1:4, 3] = False  # the stem
    walls[1, 0] = False  # a cell behind the goal
    start, goal = (3, 3), (1, 1)
    rng = np.random.default_rng(0)
    picks = {pick_target(walls, start, goal, rng) for _ in range(50)}
    assert picks == {(1, 4), (1, 5)}
    assert pick_target(walls, start, goal, rng, min_distance=5) is None


def test_a_planted_cheese_seeker_is_retargeted_and_a_corner_seeker_has_no_cheese_to_steer():
    env = envs.make(ENV, **SMALL)
    seeker = planted_agent(env, "cheese")
    gp = goal_probe(seeker, ENV, "goal", "cheese", n_episodes=60, env_kwargs=SMALL)
    assert gp.accuracy == 1.0 and 1 / 31 <= gp.chance <= 1 / 17  # one over the 17-31 open cells of 5-7 mazes
    rates = retargeting_rate(
        seeker, ENV, gp.probe, "goal", goal="cheese", scales=(0.25, 1.0), n_episodes=20, n_controls=2, env_kwargs=SMALL
    )
    assert len(rates.attrs["mazes"]) == 20
    rate = {(s, c): v for s, c, v in rates[["scale", "condition", "success_rate"]].itertuples(index=False)}
    flat = rates[rates["scale"].isna()].set_index("condition")["success_rate"]
    assert flat[UNSTEERED] == 0.0 and flat[MOVED] >= 0.9  # the planner always goes where the cheese is
    assert rate[(1.0, STEERED)] >= 0.9 and rate[(1.0, STEERED)] > rate[(0.25, STEERED)]
    controls = rates[rates["condition"].str.startswith("random control") & (rates["scale"] == 1.0)]["success_rate"]
    assert controls.max() <= 0.3
    summary = summarize_retargeting(rates, 1.0)
    assert summary.scale == 1.0 and summary.goal_moved == flat[MOVED] and not summary.scale_chosen_on_these_mazes
    lo, hi = summary.steered_ci
    assert lo <= summary.steered <= hi and hi - lo < 0.3  # Clopper-Pearson on 20 mazes
    # Solvable mazes come from another moved-goal rollout (own action noise): all of them here.
    assert summary.solvable.n_episodes == 20 and summary.solvable.steered >= 0.9
    assert summarize_retargeting(rates).scale_chosen_on_these_mazes
    assert summary.to_dict()["solvable"]["n_episodes"] == 20
    with pytest.raises(DataError, match="no 'steered' row at scale 3"):
        summarize_retargeting(rates, 3.0)
    assert count_hooks(seeker) == 0
    assert retargeting_figure({"cheese-seeker": rates}, goal="cheese")[:4] == b"\x89PNG"
    # The corner-seeker's goal map marks the corner, never the cheese: no probe direction to steer.
    corner = goal_probe(planted_agent(env, "corner"), ENV, "goal", "cheese", n_episodes=60, env_kwargs=SMALL)
    assert corner.accuracy < 0.2
    # Activations that never vary leave the weights at zero: no direction, and a clear error.
    blank = SpatialProbe().fit(np.zeros((10, 2, 4, 4)), np.tile([1, 2], (10, 1)))
    with pytest.raises(DataError, match="weights are all zero"):
        retarget(blank, "goal", source=(1, 1), target=(3, 3))


def test_bad_retargeting_inputs():
    seeker = planted_agent(envs.make(ENV, **SMALL), "cheese")
    gp = goal_probe(seeker, ENV, "goal", "cheese", n_episodes=20, env_kwargs=SMALL)
    with pytest.raises(DataError, match="ground truth"):
        retargeting_rate(seeker, ENV, gp.probe, "goal", goal="coin", n_episodes=2, env_kwargs=SMALL)
    with pytest.raises(ConfigError, match="scales"):
        retargeting_rate(seeker, ENV, gp.probe, "goal", goal="cheese", scales=(0.0,), env_kwargs=SMALL)
    seeker.recurrent = True
    with pytest.raises(ConfigError, match="feed-forward"):
        retargeting_rate(seeker, ENV, gp.probe, "goal", goal="cheese", env_kwargs=SMALL)
    seeker.recurrent = False
    with pytest.raises(DataError, match="ground-truth columns"):
        goal_probe(seeker, ENV, "goal", "coin", n_episodes=20, env_kwargs=SMALL)
    with pytest.raises(DataError, match="maps on the observation's grid"):
        goal_probe(seeker, ENV, "policy", "cheese", n_episodes=20, env_kwargs=SMALL)
