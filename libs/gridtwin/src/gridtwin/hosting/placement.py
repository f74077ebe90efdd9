"""Where and how big: the customer candidates and the random PV deployments of stochastic hosting capacity.

Pure sampling, no power flow (``read_candidates`` only reads the compiled circuit). A deployment sample
is fixed by ``(seed, sample)``: an ordering of the customers drawn by placement mode and one PV size per
customer drawn by customer class. Penetration steps fill the ordering up to each target (``step_kw``),
so the deployments of one sample are nested (DISCO): step k + 1 keeps every system of step k.

Choices (documented here once):
- Candidates are the enabled loads of the circuit (one PV per load, at the load's bus and phases:
  grounded wye, or line to line on 3-wire delta sections, ``BusTarget.delta``, where a load on a
  single conductor gets its PV across the bus's phases); customer class from the load's ``class`` (1 residential, 2 commercial, 3 industrial,
  anything else residential).
- Electrical distance is the path length (metres) along the lines from the source bus (networkx
  Dijkstra over lines, transformers and other series elements, transformers count 0 m). A load not
  reachable from the source gets the largest reachable distance.
- ``close`` weights customer i by ``exp(-x_i / 0.25)``, ``far`` by ``exp(-(1 - x_i) / 0.25)``, with
  x = distance / largest distance; the ordering is a weighted draw without replacement (so everyone
  is eventually in it, the favoured ones early). ``random`` is a uniform permutation.
- Sizes: ``uniform`` between low and high kW, or ``lognormal`` with low/high as its 5th/95th
  percentiles, clipped to [low, high].
- The last system of a step may be partial: each step holds exactly its target kW (capped at the sum
  of all systems), so the PV kW of a step is the penetration, not the penetration plus a remainder.
- Random streams: the ordering uses ``default_rng([seed, sample, 0])``, the sizes
  ``default_rng([seed, sample, 1])``: for one seed and sample the sizes are the same in every placement
  mode (common random numbers make close-vs-far comparisons sharper).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.hosting.circuit import StudyCircuit

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_PV_SIZES",
    "PLACEMENTS",
    "Candidates",
    "Deployment",
    "SizeDistribution",
    "bus_distances_m",
    "default_steps_pct",
    "draw_deployment",
    "read_candidates",
    "step_kw",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PLACEMENTS = ("random", "close", "far")
Placement = Literal["random", "close", "far"]
CLASS_NAMES = {1: "res", 2: "com", 3: "ind"}
_DISTANCE_SCALE = 0.25  # share of the longest path over which close/far weights fall by e
_Z95 = 1.6448536269514722  # standard normal 95th percentile


@dataclass(frozen=True)
class SizeDistribution:
    """PV DC size (kW) of one customer class: ``uniform`` on [low, high] or ``lognormal`` (P5 = low, P95 = high)."""

    low_kw: float
    high_kw: float
    kind: Literal["uniform", "lognormal"] = "uniform"

    def check(self, where: str) -> None:
        if not (math.isfinite(self.low_kw) and math.isfinite(self.high_kw)) or not (
            0.0 < self.low_kw <= self.high_kw
        ):
            raise InputError(
                "bad PV size distribution",
                [
                    ErrorDetail(
                        where=where, message=f"need 0 < low_kw <= high_kw, got {self.low_kw}, {self.high_kw}"
                    )
                ],
            )
        if self.kind not in ("uniform", "lognormal"):
            raise InputError(
                "bad PV size distribution",
                [ErrorDetail(where=where, message=f"kind must be uniform or lognormal, got {self.kind!r}")],
            )

    def draw(self, rng: np.random.Generator, n: int) -> FloatArray:
        if self.kind == "uniform":
            return rng.uniform(self.low_kw, self.high_kw, n)
        lo, hi = math.log(self.low_kw), math.log(self.high_kw)
        sigma = (hi - lo) / (2.0 * _Z95) if hi > lo else 0.0
        return np.clip(rng.lognormal((lo + hi) / 2.0, sigma, n), self.low_kw, self.high_kw)


DEFAULT_PV_SIZES: Mapping[str, SizeDistribution] = {
    "res": SizeDistribution(4.0, 10.0),
    "com": SizeDistribution(25.0, 100.0),
    "ind": SizeDistribution(100.0, 500.0),
}


@dataclass(frozen=True)
class Candidates:
    """The customers PV can go to, one per enabled load (arrays aligned by position)."""

    names: tuple[str, ...]  # load names
    buses: tuple[str, ...]  # bus with node suffix, as the load connects
    phases: IntArray
    kv: FloatArray  # the load's kV (LL for 2/3-phase, as OpenDSS's kV property)
    conns: tuple[str, ...]  # wye | delta
    classes: tuple[str, ...]  # res | com | ind
    load_kw: FloatArray
    distance_m: FloatArray  # path length from the source bus

    def __len__(self) -> int:
        return len(self.names)

    @property
    def peak_load_kw(self) -> float:
        """Sum of the loads' base kW: the feeder peak the penetration steps are a percentage of."""
        return float(self.load_kw.sum())

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "load": list(self.names),
                "bus": list(self.buses),
                "phases": self.phases,
                "kv": self.kv,
                "conn": list(self.conns),
                "customer_class": list(self.classes),
                "load_kw": self.load_kw,
                "distance_m": self.distance_m,
            }
        )


@dataclass(frozen=True)
class Deployment:
    """One sample: customers in deployment order and their full PV sizes (kW DC) in that order."""

    sample: int
    order: IntArray  # candidate positions, first deployed first
    size_kw: FloatArray  # full size of each system in ``order``

    def kw_at(self, target_kw: float) -> FloatArray:
        """Per-system kW (in ``order``) when the deployment holds ``target_kw`` in total."""
        before = np.concatenate(([0.0], np.cumsum(self.size_kw)[:-1]))
        return np.clip(target_kw - before, 0.0, self.size_kw)


def default_steps_pct() -> tuple[float, ...]:
    """DISCO's penetration levels: 5 %..200 % of peak load in 5 % steps."""
    return tuple(float(p) for p in range(5, 205, 5))


def step_kw(steps_pct: Sequence[float], peak_load_kw: float) -> FloatArray:
    return np.asarray(steps_pct, dtype=np.float64) * peak_load_kw / 100.0


def bus_distances_m(edges: pd.DataFrame, source_bus: str) -> dict[str, float]:
    """Shortest path length (metres) from ``source_bus`` to every reachable bus; ``edges`` has bus1, bus2, length_m."""
    graph: nx.Graph[str] = nx.Graph()
    graph.add_node(source_bus)
    for bus1, bus2, length in zip(edges["bus1"], edges["bus2"], edges["length_m"], strict=True):
        if bus1 == bus2:
            continue
        # Parallel elements: keep the shortest.
        if graph.has_edge(bus1, bus2) and graph[bus1][bus2]["weight"] <= length:
            continue
        graph.add_edge(bus1, bus2, weight=float(length))
    lengths: dict[str, float] = nx.single_source_dijkstra_path_length(graph, source_bus, weight="weight")
    return lengths


def _bus_name(bus: str) -> str:
    return bus.split(".", 1)[0].lower()


def read_candidates(circuit: StudyCircuit) -> Candidates:
    """The enabled loads of the compiled circuit and their distance from the source."""
    distances = bus_distances_m(circuit.series_edges(), circuit.source_bus())
    farthest = max(distances.values()) if distances else 0.0
    loads = circuit.customers()
    if not len(loads):
        raise InputError(
            "no customers to place PV at",
            [ErrorDetail(where="loads", message="the circuit has no enabled loads")],
        )
    return Candidates(
        names=loads.names,
        buses=loads.buses,
        phases=loads.phases,
        kv=loads.kv,
        conns=loads.conns,
        classes=tuple(CLASS_NAMES.get(int(c), "res") for c in loads.class_codes),
        load_kw=loads.kw,
        distance_m=np.asarray([distances.get(_bus_name(b), farthest) for b in loads.buses], dtype=np.float64),
    )


def _order(rng: np.random.Generator, distance_m: FloatArray, placement: str) -> IntArray:
    n = len(distance_m)
    if placement == "random":
        return rng.permutation(n).astype(np.int64)
    farthest = float(distance_m.max())
    x = distance_m / farthest if farthest > 0 else np.zeros(n)
    log_w = -x / _DISTANCE_SCALE if placement == "close" else -(1.0 - x) / _DISTANCE_SCALE
    # Weighted draw without replacement (Efraimidis-Spirakis through Gumbel keys): sort by
    # log w + Gumbel noise, descending; equal to drawing one at a time with probability ~ w.
    keys = log_w + rng.gumbel(size=n)
    return np.argsort(-keys, kind="stable").astype(np.int64)


def draw_deployment(
    candidates: Candidates,
    *,
    seed: int,
    sample: int,
    placement: str,
    sizes: Mapping[str, SizeDistribution] = DEFAULT_PV_SIZES,
) -> Deployment:
    """The deployment of ``sample``: a customer ordering by ``placement`` and a PV size per customer."""
    if placement not in PLACEMENTS:
        raise InputError(
            "unknown placement",
            [ErrorDetail(where="placement", message=f"{placement!r} is not one of {', '.join(PLACEMENTS)}")],
        )
    order = _order(np.random.default_rng([seed, sample, 0]), candidates.distance_m, placement)
    size_rng = np.random.default_rng([seed, sample, 1])
    full = np.empty(len(candidates), dtype=np.float64)
    classes = np.asarray(candidates.classes)
    # Draw per class in a fixed class order so the sizes do not depend on the placement mode.
    for klass in sorted(set(candidates.classes)):
        dist = sizes.get(klass)
        if dist is None:
            raise InputError(
                "no PV size for a customer class",
                [ErrorDetail(where=f"sizes.{klass}", message=f"customers of class {klass!r} need a size")],
            )
        mask = classes == klass
        full[mask] = dist.draw(size_rng, int(mask.sum()))
    return Deployment(sample=sample, order=order, size_kw=full[order])
