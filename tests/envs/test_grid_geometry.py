"""Grid geometry shared by the worlds: connectivity, free cells, and the layouts every seed draws."""

import dataclasses
import hashlib

import numpy as np
import pytest

import envs
from envs.grid import border, is_connected, maze_distances
from envs.keys_chests import _free_cell


def _connected_by_search(walls: np.ndarray) -> bool:
    free = np.argwhere(~walls)
    return not len(free) or bool((maze_distances(walls, tuple(free[0]))[~walls] >= 0).all())


def test_is_connected_agrees_with_a_breadth_first_search():
    rng = np.random.default_rng(0)
    seen = {True: 0, False: 0}
    for _ in range(3000):
        h, w = rng.integers(1, 12, size=2)
        walls = rng.random((h, w)) < rng.uniform(0, 0.6)
        expected = _connected_by_search(walls)
        assert is_connected(walls) == expected, walls.astype(int)
        seen[expected] += 1
    assert min(seen.values()) > 300  # both answers well covered
    assert is_connected(np.ones((3, 4), dtype=bool)) and is_connected(np.zeros((1, 1), dtype=bool))
    # Open cells that touch only across a row's end are not neighbours, whichever of the two the fill starts from.
    assert not is_connected(np.array([[0, 1, 0], [0, 1, 1]], dtype=bool))
    assert not is_connected(np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=bool))


def test_free_cell_is_the_row_major_free_cell():
    rng = np.random.default_rng(1)
    for _ in range(200):
        h, w = rng.integers(1, 10, size=2)
        n_walls = int(rng.integers(0, h * w))
        cells = sorted(rng.choice(h * w, size=n_walls, replace=False).tolist())
        walls = border(h, w).copy()
        walls[1 + np.array(cells, dtype=int) // w, 1 + np.array(cells, dtype=int) % w] = True
        free = np.argwhere(~walls)
        for p in range(len(free)):
            assert _free_cell(p, cells, w) == tuple(free[p])
    with pytest.raises(ValueError):
        border(3, 3)[0, 0] = False  # the shared template is read-only


def _layout_digest(env_id: str, n: int) -> str:
    env = envs.make(env_id, shift=0.5).unwrapped
    digest = hashlib.sha256()
    for seed in range(n):
        env.np_random = np.random.default_rng(seed)
        for field in dataclasses.fields(layout := env._gen_layout()):
            value = getattr(layout, field.name)
            digest.update(value.tobytes() if isinstance(value, np.ndarray) else repr(value).encode())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize(
    ("env_id", "digest"),
    [
        ("mesaprobe/CoinCorridor-v0", "41c3e3ad8ea15347"),
        ("mesaprobe/KeysChests-v0", "fee7eb2088fc579b"),
        ("mesaprobe/CheeseMaze-v0", "ba05e7c0b45426d2"),
        ("mesaprobe/AbsentSupervisor-v0", "90aed4f0f03d10ca"),
    ],
)
def test_every_seed_draws_the_layout_it_always_drew(env_id, digest):
    # Trained agents, collected datasets and the README's numbers depend on these rooms: a faster generator
    # must draw the same ones (these digests are c30f714's, before the generators were sped up).
    assert _layout_digest(env_id, 500) == digest
