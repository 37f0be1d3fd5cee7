"""Causal influence diagrams of the training options, and the instrumental control incentives they create.

A causal influence diagram (Everitt et al. 2021, "Agent Incentives: A Causal Perspective") is a
DAG with decision nodes (what the agent chooses) and utility nodes (what it is paid). For a single
decision `D`, the diagram admits an *instrumental control incentive* on a node `X` iff there is a
directed path `D ⇝ X ⇝ U` to a utility node `U` (their Theorem 18; pycid's `admits_ici`). Their
criterion is stated on the graph without non-requisite observation links, but those links enter
`D` and no directed path out of `D` uses them, so for one decision the plain graph gives the same
answer. pycid does not install here (its pinned `pygambit` fails to compile), so `InfluenceDiagram`
implements the criterion on networkx.

`training_diagram(beta, probe)` draws one PPO step of `reward_from_activations`
(`training.activation_reward`): the room `S` is observed (`O`), the action `A` leads to the next
state `S'`, whose activations `H'` the read-out `Y_m` reads; the task outcome `Y_b` (the coin) is
the environment's reward `R`. With `β > 0` the read-out is paid (`Y_m → R_act`); with a `refit`
probe its parameters `P` are fitted on the states the agent visits and their outcomes. The
network's weights are the decision rule itself (what PPO chooses), not a chance node: how a frozen
probe's meaning drifts as they change is measured empirically (`analysis.wireheading`), not drawn.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from core.errors import ConfigError


class InfluenceDiagram:
    """A DAG with one decision node and a set of utility nodes (`edges` as `(cause, effect)` pairs)."""

    def __init__(self, edges: Iterable[tuple[str, str]], *, decision: str, utilities: Iterable[str]) -> None:
        self.graph = nx.DiGraph(list(edges))
        self.decision = decision
        self.utilities = tuple(utilities)
        for node in (decision, *self.utilities):
            self.graph.add_node(node)
        if not nx.is_directed_acyclic_graph(self.graph):
            raise ConfigError(f"an influence diagram is acyclic; this one has the cycle {nx.find_cycle(self.graph)}.")
        if decision in self.utilities:
            raise ConfigError(f"{decision!r} cannot be both the decision and a utility.")
        parents_of_others = [u for u in self.utilities if any(True for _ in self.graph.successors(u))]
        if parents_of_others:
            raise ConfigError(f"utility nodes are leaves in an influence diagram; {parents_of_others} have children.")

    def admits_ici(self, node: str) -> bool:
        """Whether the diagram admits an instrumental control incentive on `node` (a path decision ⇝ node ⇝ utility)."""
        if node not in self.graph:
            raise ConfigError(f"{node!r} is not in the diagram (nodes: {sorted(self.graph)}).")
        if node == self.decision:
            return False
        g = self.graph
        reach = nx.descendants(g, node) | {node}
        return nx.has_path(g, self.decision, node) and any(u in reach for u in self.utilities)

    def control_path(self, node: str) -> str | None:
        """A directed path `decision ⇝ node ⇝ utility` written out, or None."""
        if not self.admits_ici(node):
            return None
        g = self.graph
        first = nx.shortest_path(g, self.decision, node)
        u = next(u for u in self.utilities if nx.has_path(g, node, u))
        return " → ".join(first + nx.shortest_path(g, node, u)[1:])


@dataclass(frozen=True)
class ControlIncentives:
    """Which nodes of one training option's diagram carry a control incentive, with the path that creates each."""

    option: str
    beta: float
    probe: str
    incentives: dict[str, str | None]

    @property
    def on_mesa(self) -> bool:
        """Whether the agent has an instrumental control incentive on its read-out `Y_m`."""
        return self.incentives["Y_m"] is not None

    def to_dict(self) -> dict:
        """Plain JSON."""
        return {"option": self.option, "beta": self.beta, "probe": self.probe, "on_mesa": self.on_mesa,
                "incentives": dict(self.incentives)}  # fmt: skip

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{'✓' if p else '✗'}</td><td><code>{html.escape(p or '')}</code></td></tr>"
            for n, p in self.incentives.items()
        )
        return (
            f"<table><tr><th>{html.escape(self.option)}</th><th>control incentive</th><th>path</th></tr>{rows}</table>"
        )


def training_diagram(beta: float, probe: str = "refit") -> InfluenceDiagram:
    """The influence diagram of one PPO step under `reward_from_activations` with weight `beta` and probe schedule `probe`."""
    if probe not in ("refit", "frozen", "neurons"):
        raise ConfigError(f"probe must be 'refit', 'frozen' or 'neurons', got {probe!r}.")
    edges = [
        ("S", "O"), ("O", "A"), ("A", "S'"), ("S", "S'"), ("S'", "H'"), ("H'", "Y_m"), ("S'", "Y_b"),
        ("Y_b", "R_env"),
    ]  # fmt: skip
    utilities = ["R_env"]
    if probe != "neurons":
        edges.append(("P", "Y_m"))
    if probe == "refit":
        edges += [("S'", "P"), ("Y_b", "P")]
    if beta > 0:
        edges.append(("Y_m", "R_act"))
        utilities.append("R_act")
    return InfluenceDiagram(edges, decision="A", utilities=utilities)


def control_incentives(beta: float, probe: str = "refit") -> ControlIncentives:
    """The control incentives of one training option on the read-out, the activations, the probe and the outcome."""
    g = training_diagram(beta, probe)
    nodes = ["Y_m", "H'", "Y_b"] + (["P"] if "P" in g.graph else [])
    option = "β = 0 (environment reward only)" if beta == 0 else f"β = {beta:g}, {probe} read-out"
    return ControlIncentives(option, float(beta), probe, {n: g.control_path(n) for n in nodes})


__all__ = ["ControlIncentives", "InfluenceDiagram", "control_incentives", "training_diagram"]
