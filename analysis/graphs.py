"""Selection diagrams: declare how the regime `s` reaches the base objective, and check it.

A `SelectionDiagram` is a networkx DAG with three roles: the regime indicator (`s`), the candidate
mesa-objective signal (`y_m`) and the base objective (`y_b`), plus whatever other nodes the user
declares (observed, or `latent=` for confounders nobody measured; `a <-> b` adds one).

Checks, each naming the path that breaks it (`s → y_m ← U → y_b`):

- `rule1()`: Rule 1 of the σ-calculus, `(y_b ⊥ s | y_m)` in the diagram (d-separation), which is
  what the transport test tests on data;
- `path_criterion()`: the two-part criterion of DESIGN.md §1 (seed 003 §3.2): `y_b` causally
  depends on `y_m`, and every causal (directed) path from `s` to `y_b` passes through `y_m`;
- `local_tests(data)`: for every edge the diagram leaves out between `s` and an observed node `X`,
  the independence it implies, `X ⊥ s | parents(X)`, tested with the calibrated tests of
  `analysis.ci_test`. A missing `s → y_b` edge is tested directly: `y_b ⊥ s | y_m`;
- `falsify(data)`: DoWhy's `falsify_graph` (a permutation test of the diagram's local Markov
  conditions against random node orders). It has little power on three-node diagrams, which is
  why the direct local tests above come with it.

The two criteria differ when a confounder opens a path at `y_m` (`s → y_m ← U → y_b`): no directed
path bypasses `y_m`, but conditioning on the collider `y_m` connects `s` with `y_b`, so Rule 1,
and with it transport, fails. `check()` reports both and says which one the data can test.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from analysis.ci import ci_test
from analysis.dowhy_ci import seeded_numpy_global
from core.errors import ConfigError, DataError
from core.results import Skipped

Path = tuple[str, ...]
_ARROW = re.compile(r"\s*(<->|->|<-)\s*")


@dataclass(frozen=True)
class GraphCheck:
    """The outcome of one check on a diagram: `holds`, and when it does not, the path that breaks it."""

    name: str
    holds: bool
    reason: str
    path: str | None = None

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class LocalTest:
    """One independence implied by a missing edge at `s`, tested on data."""

    node: str
    given: tuple[str, ...]
    p_value: float
    rejected: bool
    method: str

    @property
    def statement(self) -> str:
        """`node ⊥ s | given`."""
        cond = f" | {', '.join(self.given)}" if self.given else ""
        return f"{self.node} ⊥ s{cond}"


@dataclass(frozen=True)
class Falsification:
    """DoWhy's `falsify_graph` of the diagram: whether the data falsify it, and how many local Markov
    conditions they violate against how many a random graph would (its permutation p-values)."""

    falsified: bool | None
    falsifiable: bool | None
    violations: int
    tests: int
    p_value_violations: float | None
    p_value_permutations_same_class: float | None

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return asdict(self)

    def _repr_html_(self) -> str:
        return (
            f"<b>DoWhy falsify_graph</b>: falsifiable {self.falsifiable}, falsified {self.falsified}; "
            f"{self.violations} of {self.tests} local Markov conditions violated"
        )


@dataclass(frozen=True)
class GraphReport:
    """Every check of a diagram: Rule 1, the path criterion, and (with data) the local tests and DoWhy's falsification."""

    edges: list[tuple[str, str]]
    latent: list[str]
    rule1: GraphCheck
    path_criterion: list[GraphCheck]
    local_tests: list[LocalTest] = field(default_factory=list)
    falsify: Falsification | Skipped | None = None

    @property
    def reading(self) -> str:
        """One line for the report: what the diagram implies and what the data say of it."""
        depends, through = self.path_criterion
        if self.rule1.holds:
            text = "Rule 1 holds in the diagram: it implies transport."
        elif through.holds and depends.holds:
            text = (
                f"No causal path bypasses the mesa signal, yet {self.rule1.path} is open given it "
                f"(conditioning on a collider): Rule 1 fails although the two-part criterion holds."
            )
        elif not through.holds:
            text = f"The diagram has a path that bypasses the mesa signal: {through.path}; Rule 1 fails."
        else:
            text = f"Rule 1 fails: {self.rule1.path}."
        rejected = [t for t in self.local_tests if t.rejected]
        if rejected:
            text += " The data reject " + "; ".join(
                f"{t.statement} (p = {t.p_value:.2g}): a path from s to {t.node} bypasses "
                + (", ".join(t.given) if t.given else "every other node")
                + f" (e.g. an edge s → {t.node}) that the diagram lacks"
                for t in rejected
            )
            text += "."
        elif self.local_tests:
            text += f" The data agree with its {len(self.local_tests)} implied independence(s) at the regime."
        return text

    def to_dict(self) -> dict:
        """Plain-JSON form (for `report.json`)."""
        return {
            "reading": self.reading,
            "edges": [list(e) for e in self.edges],
            "latent": self.latent,
            "rule1": self.rule1.to_dict(),
            "path_criterion": [c.to_dict() for c in self.path_criterion],
            "local_tests": [{**asdict(t), "statement": t.statement} for t in self.local_tests],
            "falsify": None if self.falsify is None else self.falsify.to_dict(),
        }

    def _repr_html_(self) -> str:
        edges = ", ".join(f"{a} → {b}" for a, b in self.edges)
        return f"<b>Selection diagram</b> <code>{html.escape(edges)}</code><br>{html.escape(self.reading)}"


class SelectionDiagram:
    """A causal DAG over the regime `s`, the mesa signal `y_m`, the base objective `y_b` and other nodes.

    `edges` are `(cause, effect)` pairs or strings such as `"s -> y_m -> y_b"`, `"s -> y_b"` or
    `"y_m <-> y_b"` (a latent common cause, added as node `U_y_m_y_b`); `latent` names nodes that
    are not observed. Node names are the data's column names.
    """

    def __init__(
        self,
        edges: Iterable[tuple[str, str] | str] = (),
        *,
        regime: str = "s",
        mesa: str = "y_m",
        base: str = "y_b",
        latent: Iterable[str] = (),
    ) -> None:
        self.regime, self.mesa, self.base = regime, mesa, base
        self.latent: set[str] = set(latent)
        self.graph = nx.DiGraph()
        self.graph.add_nodes_from([regime, mesa, base])
        for edge in edges:
            for a, arrow, b in _parse(edge) if isinstance(edge, str) else [_pair(edge)]:
                if arrow == "<->":
                    self.add_confounder(a, b)
                else:
                    self.add_edge(a, b)
        unknown = self.latent - set(self.graph)
        if unknown:
            raise ConfigError(f"latent names nodes that are not in the diagram: {sorted(unknown)}.")
        for role in (regime, mesa, base):
            if role in self.latent:
                raise ConfigError(f"{role!r} is the regime, mesa signal or base objective and cannot be latent.")

    @classmethod
    def standard(cls, direct: bool = False) -> SelectionDiagram:
        """`s → y_m → y_b`, plus `s → y_b` with `direct=True` (the misaligned case)."""
        return cls(["s -> y_m -> y_b"] + (["s -> y_b"] if direct else []))

    def add_edge(self, cause: str, effect: str) -> None:
        """Add `cause → effect`; a cycle is refused with the cycle named."""
        if cause == effect:
            raise ConfigError(f"a node cannot cause itself: {cause!r}.")
        self.graph.add_edge(cause, effect)
        if not nx.is_directed_acyclic_graph(self.graph):
            cycle = " → ".join(a for a, _ in nx.find_cycle(self.graph, cause)) + f" → {cause}"
            self.graph.remove_edge(cause, effect)
            raise ConfigError(f"edge {cause} → {effect} makes a cycle ({cycle}); selection diagrams are acyclic.")

    def add_confounder(self, a: str, b: str, name: str | None = None) -> str:
        """Add a latent common cause of `a` and `b` (`a <-> b`) and return its name."""
        u = name or f"U_{a}_{b}"
        self.add_edge(u, a)
        self.add_edge(u, b)
        self.latent.add(u)
        return u

    @property
    def observed(self) -> list[str]:
        """The nodes that are columns of the data."""
        return [n for n in self.graph if n not in self.latent]

    def _fmt(self, path: Sequence[str]) -> str:
        out = path[0]
        for a, b in zip(path, path[1:], strict=False):
            out += f" → {b}" if self.graph.has_edge(a, b) else f" ← {b}"
        return out

    def open_path(self, x: str, y: str, given: Iterable[str] = ()) -> Path | None:
        """A path between `x` and `y` that `given` leaves open (d-connecting), or None when they are d-separated."""
        z = set(given)
        unknown = sorted({x, y, *z} - set(self.graph))
        if unknown:
            raise ConfigError(f"nodes {unknown} are not in the diagram (nodes: {sorted(self.graph)}).")
        z_and_ancestors = set(z)
        for node in z:
            z_and_ancestors |= nx.ancestors(self.graph, node)
        skeleton = self.graph.to_undirected(as_view=True)
        # Shortest first: the path users are shown is the simplest one that breaks the claim.
        for path in sorted(nx.all_simple_paths(skeleton, x, y), key=len):
            if all(
                self._passes(path[i - 1], path[i], path[i + 1], z, z_and_ancestors) for i in range(1, len(path) - 1)
            ):
                return tuple(path)
        return None

    def _passes(self, a: str, v: str, b: str, z: set[str], z_and_ancestors: set[str]) -> bool:
        collider = self.graph.has_edge(a, v) and self.graph.has_edge(b, v)
        # A collider passes when it or one of its descendants is conditioned on, i.e. it is in z or an ancestor of z.
        return v in z_and_ancestors if collider else v not in z

    def rule1(self) -> GraphCheck:
        """Rule 1 of the σ-calculus: `(y_b ⊥ s | y_m)` in the diagram, with the open path when it fails."""
        s, m, b = self.regime, self.mesa, self.base
        claim = f"({b} ⊥ {s} | {m})"
        if nx.is_d_separator(self.graph, {s}, {b}, {m}):
            return GraphCheck("rule1", True, f"{claim} holds: {m} d-separates {s} from {b}.")
        path = self.open_path(s, b, [m])  # only to name what breaks it
        return GraphCheck(
            "rule1", False, f"{claim} fails: the path {self._fmt(path)} stays open given {m}.", self._fmt(path)
        )

    def path_criterion(self) -> list[GraphCheck]:
        """The two parts: `y_b` causally depends on `y_m`; every directed path `s ⇝ y_b` passes through `y_m`."""
        s, m, b = self.regime, self.mesa, self.base
        if nx.has_path(self.graph, m, b):
            dep = nx.shortest_path(self.graph, m, b)
            first = GraphCheck("depends", True, f"{b} depends causally on {m} ({self._fmt(dep)}).", self._fmt(dep))
        else:
            first = GraphCheck("depends", False, f"no directed path from {m} to {b}: {b} does not depend on {m}.")
        bypass = self.graph.subgraph(n for n in self.graph if n != m)
        if s in bypass and b in bypass and nx.has_path(bypass, s, b):
            p = self._fmt(nx.shortest_path(bypass, s, b))
            second = GraphCheck("through_mesa", False, f"the causal path {p} reaches {b} without passing {m}.", p)
        else:
            second = GraphCheck("through_mesa", True, f"every causal path from {s} to {b} passes through {m}.")
        return [first, second]

    def missing_regime_edges(self) -> list[tuple[str, tuple[str, ...]]]:
        """`(X, parents(X))` for each observed `X` the diagram implies is independent of `s` given its parents.

        Those are the observed nodes not adjacent to `s` and not ancestors of it, where the observed
        parents d-separate `X` from `s` (a latent parent can leave a path open; then nothing is implied).
        """
        s = self.regime
        out = []
        for x in self.observed:
            if x == s or self.graph.has_edge(s, x) or self.graph.has_edge(x, s) or x in nx.ancestors(self.graph, s):
                continue
            parents = tuple(sorted(p for p in self.graph.predecessors(x) if p not in self.latent))
            if nx.is_d_separator(self.graph, {s}, {x}, set(parents)):
                out.append((x, parents))
        return out

    def local_tests(
        self, data: pd.DataFrame, *, method: str = "auto", alpha: float = 0.05, groups=None, seed: int = 0
    ) -> list[LocalTest]:
        """Test on `data` every independence implied by an edge missing at `s` (`X ⊥ s | parents(X)`)."""
        self._check_data(data)
        tests = []
        for x, parents in self.missing_regime_edges():
            if _constant(data[x]) or _constant(data[self.regime]):
                # A constant is independent of everything; ci_test would refuse it as untestable.
                tests.append(LocalTest(x, parents, 1.0, False, "constant column"))
                continue
            z = data[list(parents)].to_numpy(float) if parents else None
            r = ci_test(data[x].to_numpy(float), data[self.regime].to_numpy(float), z, method, groups=groups, seed=seed)
            tests.append(LocalTest(x, parents, float(r.p_value), bool(r.p_value <= alpha), r.method))
        return tests

    def falsify(
        self, data: pd.DataFrame, *, alpha: float = 0.05, n_permutations: int = 20, seed: int = 0
    ) -> Falsification | Skipped:
        """DoWhy's `falsify_graph` on the observed diagram, with the calibrated GCM test as its CI test.

        Needs every node observed (a latent node makes DoWhy's local Markov conditions wrong);
        returns `Skipped` with the reason otherwise.
        """
        from dowhy.gcm.falsify import FalsifyConst, falsify_graph  # heavy import, only when asked

        self._check_data(data)
        if self.latent:
            return Skipped(f"latent nodes {sorted(self.latent)}: falsify_graph needs every node observed")

        def independence(x, y, z=None) -> float:
            if _constant(x) or _constant(y):
                return 1.0
            return float(ci_test(x, y, z, "auto", seed=seed).p_value)

        with seeded_numpy_global(seed):  # DoWhy draws its node permutations from numpy's global RNG
            result = falsify_graph(
                self.graph,
                data[self.observed],
                independence_test=independence,
                conditional_independence_test=independence,
                significance_level=alpha,
                significance_ci=alpha,
                n_permutations=n_permutations,
                show_progress_bar=False,
            )
        lmc = result.summary.get(FalsifyConst.VALIDATE_LMC, {})
        tpa = result.summary.get(FalsifyConst.VALIDATE_TPA, {})
        p_lmc, p_tpa = lmc.get(FalsifyConst.P_VALUE), tpa.get(FalsifyConst.P_VALUE)
        return Falsification(
            falsified=None if result.falsified is None else bool(result.falsified),
            falsifiable=None if result.falsifiable is None else bool(result.falsifiable),
            violations=int(lmc.get(FalsifyConst.GIVEN_VIOLATIONS, 0)),
            tests=int(lmc.get(FalsifyConst.N_TESTS, 0)),
            p_value_violations=None if p_lmc is None else float(p_lmc),
            p_value_permutations_same_class=None if p_tpa is None else float(p_tpa),
        )

    def check(
        self, data: pd.DataFrame | None = None, *, method: str = "auto", alpha: float = 0.05, groups=None, seed: int = 0
    ) -> GraphReport:
        """Rule 1 and the path criterion, and with `data` the local tests and DoWhy's falsification."""
        rule1, criterion = self.rule1(), self.path_criterion()
        edges, latent = sorted(self.graph.edges), sorted(self.latent)
        if data is None:
            return GraphReport(edges, latent, rule1, criterion)
        local = self.local_tests(data, method=method, alpha=alpha, groups=groups, seed=seed)
        return GraphReport(edges, latent, rule1, criterion, local, self.falsify(data, alpha=alpha, seed=seed))

    def _check_data(self, data: pd.DataFrame) -> None:
        missing = [n for n in self.observed if n not in data.columns]
        if missing:
            raise DataError(
                f"data lacks columns for the diagram's observed nodes {missing} (columns: {list(data.columns)}); "
                f"rename them or declare the nodes latent=."
            )
        values = data[self.observed].to_numpy(float)
        if not np.isfinite(values).all():
            bad = [n for n in self.observed if not np.isfinite(data[n].to_numpy(float)).all()]
            raise DataError(f"columns {bad} hold NaN or inf; drop or impute those rows first.")

    def __repr__(self) -> str:
        edges = ", ".join(f"{a}→{b}" for a, b in sorted(self.graph.edges))
        return f"SelectionDiagram({edges}; latent={sorted(self.latent)})"


def _constant(values) -> bool:
    a = np.asarray(values, dtype=float)
    return bool(np.all(a == a.flat[0]))


def _pair(edge) -> tuple[str, str, str]:
    """`(cause, effect)` → `(cause, "->", effect)`."""
    if not isinstance(edge, (tuple, list)) or len(edge) != 2 or not all(isinstance(n, str) for n in edge):
        raise ConfigError(f"an edge is a (cause, effect) pair of node names or a string 'a -> b', got {edge!r}.")
    return edge[0], "->", edge[1]


def _parse(text: str) -> list[tuple[str, str, str]]:
    """`"a -> b <- c <-> d"` → `[(a, "->", b), (c, "->", b), (c, "<->", d)]`."""
    parts = _ARROW.split(text.strip())
    if len(parts) < 3 or len(parts) % 2 == 0 or any(not p for p in parts[::2]):
        raise ConfigError(f"cannot read edge {text!r}: write 'a -> b', 'a <- b', 'a <-> b' or chains 'a -> b -> c'.")
    edges = []
    for i in range(1, len(parts), 2):
        a, arrow, b = parts[i - 1], parts[i], parts[i + 1]
        edges.append((b, "->", a) if arrow == "<-" else (a, arrow, b))
    return edges
