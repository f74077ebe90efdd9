"""Checks every imported feeder model gets: what a reader can get silently wrong.

A model can compile, solve and still be nonsense: a CYME export once gave a feeder whose phases B and C
floated behind a wrongly single-phase regulator, 265 nodes solved at ~0.04 pu, and the import called it a
success. ``check_feeder`` looks at the model as it will be stored (after OpenDSS, CYME and GIS imports) and
names each finding's element and its effect, as import report warnings:

- ``floating_phases``: phases (nodes 1, 2, 3) with no path to a source through closed, enabled lines,
  switches and transformer windings (a multi-phase transformer joins its windings conductor by conductor: a
  delta/wye change keeps the three phases; a single-phase one with a voltage across a winding drives its
  other windings, so an open-delta bank makes three phases of two), one warning per element behind which
  they float, naming the nodes and loads cut off. Topology only (the model's tables, no engine). A dead end
  with nothing connected behind an open point (a normally open tie's far side), or an empty island, is not
  warned about: it is at 0 V by design.
- ``not_converged`` / ``controls_not_settled`` / ``base_case_failed``: the base case, solved once through
  the engine adapter (``gridtwin.powerflow.base_case``), does not converge (iterations and the limit it ran
  under), its controls never settle, or it does not solve at all.
- ``voltage_low`` / ``voltage_high``: nodes below 0.5 pu or above 1.5 pu in that base case (count and the
  worst few).
- ``kv_rating``: capacitors and transformer windings rated far from their bus's nominal voltage (a 14.4 kV
  capacitor on a 2.4 kV line-to-neutral bus gives 3 % of its nameplate).
- ``zero_impedance``: lines that are not switches with zero length or zero impedance, transformers with
  zero leakage reactance.
- ``check_failed``: a check itself failed on this model (the import goes on; the check says why).

Importers call ``add_checks(report, model)`` where the reader runs (the spawned child with the import time
limit), so a check that hangs or crashes the engine cannot take the service down.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from networkx.utils import UnionFind

from gridtwin.errors import ErrorDetail, GridTwinError, Report
from gridtwin.grid.model import FeederModel
from gridtwin.grid.topology import bus_name, phase_string
from gridtwin.powerflow.base_case import BaseCase, solve_base_case

__all__ = [
    "CHECK_CODES",
    "CheckLimits",
    "FloatingPhases",
    "add_checks",
    "check_base_case",
    "check_feeder",
    "check_impedances",
    "check_ratings",
    "check_topology",
]

CHECK_CODES = (
    "floating_phases",
    "not_converged",
    "controls_not_settled",
    "base_case_failed",
    "voltage_low",
    "voltage_high",
    "kv_rating",
    "zero_impedance",
    "check_failed",
)
_PHASE_NODES = frozenset({1, 2, 3})
_SQRT3 = math.sqrt(3.0)
# OpenDSS replaces a transformer %X given as 0 by this (its TrapZero default, 7 pu).
_ENGINE_ZERO_X_PCT = 700.0
# Where OpenDSS says which file and line failed: the adapter's private script, no use to the user.
_ENGINE_FILE = re.compile(r'\[file: "[^"]*", line: \d+\]')
_MAX_GROUPS = 20  # floating-phase warnings (the largest first), the rest summed up in one more


@dataclass(frozen=True)
class CheckLimits:
    """What the checks call wrong."""

    low_pu: float = 0.5  # a base-case node below this is not a plausible operating point
    high_pu: float = 1.5
    kv_ratio: float = 1.3  # rated / nominal kV beyond this (or below its inverse) is a wrong rating
    worst: int = 5  # nodes named per voltage warning


def add_checks(report: Report, model: FeederModel, limits: CheckLimits | None = None) -> list[ErrorDetail]:
    """``check_feeder(model)`` into ``report``: its warnings first (they matter most), and
    ``counts["check_warnings"]``. Returns the warnings added."""
    found = check_feeder(model, limits)
    report.warnings[:0] = found
    report.counts["check_warnings"] = len(found)
    return found


def check_feeder(model: FeederModel, limits: CheckLimits | None = None) -> list[ErrorDetail]:
    """Every check on ``model``, causes before symptoms: floating phases, zero impedances, ratings, then
    the base case (convergence, voltages). A check that fails on the model is a ``check_failed`` warning."""
    chosen = limits or CheckLimits()
    found: list[ErrorDetail] = []
    topo = FloatingPhases([], set(), set())

    def topology() -> list[ErrorDetail]:
        nonlocal topo
        topo = check_topology(model)
        return topo.warnings

    parts: list[tuple[str, Callable[[], list[ErrorDetail]]]] = [
        ("topology", topology),
        ("impedance", lambda: check_impedances(model)),
        ("rating", lambda: check_ratings(model, chosen, topo.floating)),
        ("base case", lambda: check_base_case(model, chosen, topo.floating, topo.dead)),
    ]
    for name, part in parts:
        try:
            found.extend(part())
        except Exception as exc:  # a check must never fail the import it reports on
            found.append(
                ErrorDetail(
                    model.feeder_id, f"the {name} check failed: {type(exc).__name__}: {exc}", "check_failed"
                )
            )
    return found


# -- element terminals ---------------------------------------------------------------------------------


def _records(model: FeederModel, table: str, *columns: str) -> list[dict[str, Any]]:
    """The rows of ``table``, only the ``columns`` a check reads (those the table has; the state columns
    ``enabled`` and ``dss_extra_json`` always): whole rows of wide tables cost more than the checks."""
    df = model.table(table)
    wanted = [c for c in dict.fromkeys(["name", *columns, "enabled", "dss_extra_json"]) if c in df.columns]
    rows: list[dict[str, Any]] = df[wanted].to_dict("records")  # type: ignore[assignment]
    return rows


def _given(spec: object) -> list[int]:
    """The node numbers a bus reference names (``"650.1.2"`` -> [1, 2]), in conductor order."""
    return [int(p) for p in str(spec).split(".")[1:] if p.strip().isdigit()]


def _conductors(spec: object, count: int) -> list[int]:
    """The node of each of the first ``count`` conductors: as named, else OpenDSS's default 1, 2, 3, ..."""
    given = _given(spec)
    return [given[k] if k < len(given) else k + 1 for k in range(count)]


def _winding_nodes(spec: object, phases: int, conn: object) -> list[int]:
    """The phase nodes a transformer winding connects, in conductor order. A single-phase winding has
    two conductors: wye, its second is the neutral (node 0 unless named: ``x.1.2`` is line-to-line);
    delta, both ends are phases."""
    if phases == 1:
        given = _given(spec)
        second = given[1] if len(given) > 1 else (2 if str(conn).lower() == "delta" else 0)
        nodes = [given[0] if given else 1, second]
    else:
        nodes = _conductors(spec, phases)
    return [n for n in nodes if n in _PHASE_NODES]


def _shunt_nodes(spec: object, phases: int) -> list[int]:
    """The phase nodes a shunt element (load, capacitor, generator) touches."""
    given = _given(spec)
    nodes = given if given else list(range(1, max(phases, 1) + 1))
    return [n for n in nodes if n in _PHASE_NODES]


def _enabled(row: dict[str, Any]) -> bool:
    """False when the row or its verbatim OpenDSS properties say ``enabled=no``."""
    value = row.get("enabled")
    if value is not None and not (isinstance(value, float) and math.isnan(value)) and not bool(value):
        return False
    extra = row.get("dss_extra_json")
    if isinstance(extra, str) and extra:
        try:
            props = json.loads(extra)
        except ValueError:
            return True
        for key, val in props.items() if isinstance(props, dict) else ():
            if str(key).lower() == "enabled" and str(val).strip().lower() in ("no", "false", "n", "f", "0"):
                return False
    return True


def _phases(row: dict[str, Any], default: int = 3) -> int:
    value = row.get("phases")
    try:
        return int(value) if value is not None and not math.isnan(float(value)) else default
    except (TypeError, ValueError):
        return default


def _listed(row: dict[str, Any], key: str) -> list[Any]:
    value = row.get(key)
    return list(value) if value is not None and not isinstance(value, (str, float)) else []


@dataclass
class _Branch:
    """A series element: its terminals' (bus, phase node per conductor), and its state."""

    label: str  # Class.name
    ends: list[tuple[str, list[int]]]
    enabled: bool = True
    open_conductors: set[tuple[int, int]] = field(default_factory=set)  # (terminal, conductor), 1-based
    # A single-phase transformer: a winding with a voltage across it (every phase node it touches live)
    # drives the others; an open-delta bank makes three phases of two this way.
    single_phase: bool = False

    def joins(self) -> Iterator[tuple[tuple[str, int], tuple[str, int]]]:
        """The node pairs it connects conductor by conductor (closed conductors of an enabled element)."""
        if not self.enabled:
            return
        bus0, nodes0 = self.ends[0]
        for t, (bus, nodes) in enumerate(self.ends[1:], start=2):
            for k, (a, b) in enumerate(zip(nodes0, nodes, strict=False), start=1):
                if (1, k) not in self.open_conductors and (t, k) not in self.open_conductors:
                    yield (bus0, a), (bus, b)

    def state(self, toward: str) -> tuple[str, bool]:
        """What this element does to the phases past it, seen from bus ``toward``; whether it is an open
        point (open or disabled) rather than a wiring fault."""
        if not self.enabled:
            return f"{self.label} is disabled", True
        if self.open_conductors:
            width = max((len(nodes) for _, nodes in self.ends), default=0)
            for t in range(1, len(self.ends) + 1):
                if width and all((t, k) in self.open_conductors for k in range(1, width + 1)):
                    return f"{self.label} is open", True
            opened = ", ".join(f"{t}.{k}" for t, k in sorted(self.open_conductors))
            return f"{self.label} has conductors {opened} (terminal.conductor) open", True
        nodes = next((n for b, n in self.ends if b == toward), self.ends[0][1])
        carried = phase_string(nodes) or "none"
        return f"{self.label} carries phase{'s' if len(carried) > 1 else ''} {', '.join(carried)} only", False


def _branches(model: FeederModel) -> list[_Branch]:
    out: list[_Branch] = []
    for r in _records(model, "lines", "bus1", "bus2", "phases", "open_conductors"):
        n = _phases(r)
        opened: set[tuple[int, int]] = set()
        for item in _listed(r, "open_conductors"):
            term, _, cond = str(item).partition(".")
            if term.isdigit() and cond.isdigit():
                opened.add((int(term), int(cond)))
        ends = [(bus_name(r[b]), _conductors(r[b], n)) for b in ("bus1", "bus2")]
        out.append(_Branch(f"line.{r['name']}", ends, _enabled(r), opened))
    for r in _records(model, "transformers", "phases", "buses", "conns"):
        n = _phases(r)
        conns = _listed(r, "conns")
        ends = [
            (bus_name(b), _winding_nodes(b, n, conns[w] if w < len(conns) else "wye"))
            for w, b in enumerate(_listed(r, "buses"))
        ]
        if len(ends) >= 2:
            out.append(_Branch(f"transformer.{r['name']}", ends, _enabled(r), single_phase=n == 1))
    for table, cls in (("reactors", "reactor"), ("capacitors", "capacitor")):
        for r in _records(model, table, "bus1", "bus2", "phases"):
            bus2, n = str(r.get("bus2") or ""), _phases(r)
            if not bus2 or not [x for x in _conductors(bus2, n) if x in _PHASE_NODES]:
                continue  # a shunt: to ground or to its own neutral
            ends = [(bus_name(r["bus1"]), _conductors(r["bus1"], n)), (bus_name(bus2), _conductors(bus2, n))]
            out.append(_Branch(f"{cls}.{r['name']}", ends, _enabled(r)))
    for br in out:  # ground and neutral conductors join nothing here
        br.ends = [(bus, [x if x in _PHASE_NODES else 0 for x in nodes]) for bus, nodes in br.ends]
    return out


# -- floating phases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FloatingPhases:
    """The topology check: its warnings, every (bus, node) with no path to a source, and the ``dead`` ones
    among them (dead ends behind an open point or islands, with nothing connected: not warned about)."""

    warnings: list[ErrorDetail]
    floating: set[tuple[str, int]]
    dead: set[tuple[str, int]]


def _live(
    nodes: set[tuple[str, int]], branches: list[_Branch], roots: set[tuple[str, int]]
) -> set[tuple[str, int]]:
    """The nodes a source reaches: conductor by conductor through lines and multi-phase transformers
    (a delta/wye change keeps the three phases), through energised single-phase transformers."""
    joined: UnionFind = UnionFind()  # which nodes one conductor path joins
    for br in branches:
        if not br.single_phase:
            for a, b in br.joins():
                if a[1] and b[1]:
                    joined.union(a, b)
    live = {joined[r] for r in roots}
    pending = [br for br in branches if br.single_phase and br.enabled]
    while pending:
        rest = []
        for br in pending:
            windings = [[joined[(bus, n)] for n in ns if n] for bus, ns in br.ends]
            windings = [w for w in windings if w]
            if any(all(c in live for c in w) for w in windings):
                live.update(c for w in windings for c in w)
            else:
                rest.append(br)
        if len(rest) == len(pending):
            break
        pending = rest
    return {x for x in nodes if joined[x] in live}


def check_topology(model: FeederModel) -> FloatingPhases:
    """``floating_phases``: one warning per element behind which phases float (the largest first), unless
    what floats is a dead end with nothing connected behind an open point, or an empty island."""
    branches = _branches(model)
    nodes: set[tuple[str, int]] = set()
    for name, listed in zip(model.table("buses")["name"], model.table("buses")["nodes"], strict=True):
        bus = str(name).lower()
        nodes.update((bus, int(n)) for n in (listed if listed is not None else []) if int(n) in _PHASE_NODES)
    for br in branches:
        for bus, ns in br.ends:
            nodes.update((bus, n) for n in ns if n)
    # bus -> (Class.name, phase nodes, kW) of what is connected there
    devices: dict[str, list[tuple[str, list[int], float]]] = defaultdict(list)
    for table, cls in (("loads", "load"), ("capacitors", "capacitor"), ("pvsystems", "pvsystem"),
                       ("storage", "storage"), ("generators", "generator")):  # fmt: skip
        for r in _records(model, table, "bus1", "phases", "p_kw"):
            if not _enabled(r):
                continue
            bus, at = bus_name(r["bus1"]), _shunt_nodes(r["bus1"], _phases(r, 1))
            nodes.update((bus, n) for n in at)
            kw = float(r.get("p_kw") or 0.0) if cls == "load" else 0.0
            devices[bus].append((f"{cls}.{r['name']}", at, kw))
    sources: dict[str, list[str]] = defaultdict(list)  # bus -> source names
    roots: set[tuple[str, int]] = set()
    for r in _records(model, "sources", "bus1", "phases"):
        if _enabled(r):
            bus = bus_name(r["bus1"])
            sources[bus].append(str(r["name"]))
            roots.update((bus, n) for n in _conductors(r["bus1"], _phases(r)) if n in _PHASE_NODES)
    nodes |= roots
    floating = nodes - _live(nodes, branches, roots)
    if not floating:
        return FloatingPhases([], floating, set())
    between: dict[frozenset[str], list[_Branch]] = defaultdict(list)  # the elements joining two buses
    for br in branches:
        for bus, _ in br.ends[1:]:
            between[frozenset((br.ends[0][0], bus))].append(br)
    found: list[tuple[int, ErrorDetail]] = []
    dead: set[tuple[str, int]] = set()
    for top, up, buses in _places(branches, floating, sorted(sources), sorted({b for b, _ in nodes})):
        cut_nodes = sorted((b, n) for b, n in floating if b in buses)
        cut = [
            (name, kw)
            for bus in buses
            for name, at, kw in devices.get(bus, [])
            if any((bus, n) in floating for n in at)
        ]
        if up is not None:
            elems = between[frozenset((top, up))]
            states = [br.state(up) for br in elems]
            where, cause = elems[0].label, "; ".join(s for s, _ in states)
            open_point = all(o for _, o in states)
        elif top in sources:
            where = f"vsource.{sources[top][0]}"
            cause, open_point = f"{where} does not feed every phase of bus {top}", False
        else:
            where, cause, open_point = f"bus {top}", "no element connects it to a source", True
        if open_point and not cut:
            dead.update(cut_nodes)  # a normally open tie's far side, an unused island: nothing to serve
            continue
        at_top = phase_string(n for b, n in cut_nodes if b == top)
        phases = f"phase{'s' if len(at_top) > 1 else ''} {', '.join(at_top)}"
        loads = [(name, kw) for name, kw in cut if name.startswith("load.")]
        others = len(cut) - len(loads)
        examples = ", ".join(f"{b}.{n}" for b, n in cut_nodes[:5]) + (", ..." if len(cut_nodes) > 5 else "")
        served = f"{len(loads)} load(s) ({sum(kw for _, kw in loads):,.0f} kW)" + (
            f" and {others} other device(s)" if others else ""
        )
        found.append(
            (
                len(cut_nodes),
                ErrorDetail(
                    where,
                    f"{phases} at bus {top} and beyond {'have' if len(at_top) > 1 else 'has'} no path to a "
                    f"source ({cause}): {len(cut_nodes)} node(s) at {len(buses)} bus(es) ({examples}) with "
                    f"{served} are cut off; they solve at ~0 V or at whatever stray paths make up",
                    "floating_phases",
                ),
            )
        )
    found.sort(key=lambda item: (-item[0], item[1].where))
    warnings = [d for _, d in found[:_MAX_GROUPS]]
    if len(found) > _MAX_GROUPS:
        rest = sum(n for n, _ in found[_MAX_GROUPS:])
        warnings.append(
            ErrorDetail(
                model.feeder_id,
                f"{len(found) - _MAX_GROUPS} more place(s) where phases float ({rest} node(s))",
                "floating_phases",
            )
        )
    return FloatingPhases(warnings, floating, dead)


def _places(
    branches: list[_Branch], floating: set[tuple[str, int]], sources: list[str], buses: list[str]
) -> list[tuple[str, str | None, set[str]]]:
    """Where phases float, as (top bus, the bus above it or None, the floating buses behind it).

    The bus tree: breadth first from the source buses (then from the first bus of each island no source
    reaches) over every series element, open or not. From each floating bus walk up while the bus above
    floats too; the element between the topmost one and the bus above it is where phases start floating.
    """
    adjacency: dict[str, set[str]] = defaultdict(set)
    for br in branches:
        bus0 = br.ends[0][0]
        for bus, _ in br.ends[1:]:
            if bus != bus0:
                adjacency[bus0].add(bus)
                adjacency[bus].add(bus0)
    parent: dict[str, str | None] = {}
    for start in [*sources, *buses]:
        if start in parent:
            continue
        parent[start] = None
        queue = deque([start])
        while queue:
            cur = queue.popleft()
            for nxt in sorted(adjacency.get(cur, ())):
                if nxt not in parent:
                    parent[nxt] = cur
                    queue.append(nxt)
    floating_buses = {b for b, _ in floating}
    top_of: dict[str, str] = {}
    for bus in sorted(floating_buses):
        chain: list[str] = []
        cur = bus
        while cur not in top_of:
            chain.append(cur)
            up = parent.get(cur)
            if up is None or up not in floating_buses:
                top_of[cur] = cur
                break
            cur = up
        for c in chain:
            top_of[c] = top_of[cur]
    members: dict[str, set[str]] = defaultdict(set)
    for bus, top in top_of.items():
        members[top].add(bus)
    return [(top, parent.get(top), members[top]) for top in sorted(members)]


# -- the base case -------------------------------------------------------------------------------------


def check_base_case(
    model: FeederModel,
    limits: CheckLimits | None = None,
    floating: Iterable[tuple[str, int]] = (),
    dead: Iterable[tuple[str, int]] = (),
) -> list[ErrorDetail]:
    """Solve the base case through the engine adapter: ``base_case_failed``, ``not_converged``,
    ``controls_not_settled``, ``voltage_low`` and ``voltage_high``. ``floating``: nodes the topology check
    found cut off (the voltage warnings say how many of theirs are); ``dead``: cut-off nodes with nothing
    connected, at 0 V by design, left out of the voltage warnings."""
    chosen = limits or CheckLimits()
    where = model.feeder_id
    try:
        case = solve_base_case(model)
    except GridTwinError as exc:
        said = "; ".join(_engine_text(d.message) for d in exc.details[:3]) or exc.message
        return [
            ErrorDetail(
                where,
                f"the base case does not solve ({exc.message}: {said}): no power flow result can be had "
                "from this model until that is fixed",
                "base_case_failed",
            )
        ]
    out: list[ErrorDetail] = []
    if not case.power_flow_converged:
        out.append(
            ErrorDetail(
                where,
                f"the base case did not converge in {case.iterations} iterations (max iterations "
                f"{case.max_iterations}): its voltages are not a power flow solution and were not checked",
                "not_converged",
            )
        )
        return out
    if not case.converged:
        out.append(
            ErrorDetail(
                where,
                f"the base case's controls did not settle in {case.control_iterations} control iterations "
                f"(max control iterations {case.max_control_iterations}): regulator taps and capacitor "
                "states are where they stopped, not where the controls would hold them",
                "controls_not_settled",
            )
        )
    out.extend(_voltage_warnings(case, chosen, set(floating), set(dead)))
    return out


def _engine_text(text: str) -> str:
    """An engine message on one line, without the adapter's private script file."""
    return " ".join(_ENGINE_FILE.sub("", text).split())[:400]


def _voltage_warnings(
    case: BaseCase, limits: CheckLimits, floating: set[tuple[str, int]], dead: set[tuple[str, int]]
) -> list[ErrorDetail]:
    v = case.voltages
    if not len(v):
        return []
    node = v["node"].to_numpy()
    buses = v["bus"].to_numpy()
    judged = (v["base_kv"].to_numpy(dtype=np.float64) > 0) & (node >= 1) & (node <= 3)
    if dead:
        judged &= np.array([(str(b), int(n)) not in dead for b, n in zip(buses, node, strict=True)])
    pu = v["pu"].to_numpy(dtype=np.float64)
    out = []
    for code, breach, limit, word, effect in (
        ("voltage_low", judged & (pu < limits.low_pu), limits.low_pu, "below",
         "loads there see a fraction of their voltage and their results mean nothing"),
        ("voltage_high", judged & (pu > limits.high_pu), limits.high_pu, "above",
         "no real feeder runs there: a rating, a winding connection or a floating phase is wrong"),
    ):  # fmt: skip
        (rows,) = np.nonzero(breach)
        if not len(rows):
            continue
        order = rows[np.argsort(pu[rows] if code == "voltage_low" else -pu[rows], kind="stable")]
        worst = ", ".join(f"{buses[i]}.{node[i]} {pu[i]:.3g} pu" for i in order[: limits.worst])
        cut = sum(1 for i in rows if (str(buses[i]), int(node[i])) in floating)
        also = f"; {cut} of them have no path to a source (floating_phases)" if cut else ""
        out.append(
            ErrorDetail(
                f"bus {buses[order[0]]}",
                f"{len(rows)} node(s) at {len({str(buses[i]) for i in rows})} bus(es) solve {word} "
                f"{limit:g} pu "
                f"in the base case (worst: {worst}){also}: {effect}",
                code,
            )
        )
    return out


# -- ratings and impedances ----------------------------------------------------------------------------


def _bases(model: FeederModel) -> dict[str, float]:
    """Bus -> line-to-neutral kV base (buses without one left out)."""
    buses = model.table("buses")
    out: dict[str, float] = {}
    for name, base in zip(buses["name"], buses["base_kv"], strict=True):
        if base is not None and math.isfinite(float(base)) and float(base) > 0:
            out[str(name).lower()] = float(base)
    return out


def _far(ratio: float, limit: float) -> bool:
    return ratio > limit or ratio < 1.0 / limit


def check_ratings(
    model: FeederModel, limits: CheckLimits | None = None, floating: Iterable[tuple[str, int]] = ()
) -> list[ErrorDetail]:
    """``kv_rating``: capacitors and transformer windings rated far from their bus's nominal voltage.
    Buses with ``floating`` nodes are left out: their kV base came from a voltage nothing drives."""
    chosen = limits or CheckLimits()
    cut_off = {b for b, _ in floating}
    base = {b: kv for b, kv in _bases(model).items() if b not in cut_off}
    out: list[ErrorDetail] = []
    for r in _records(model, "capacitors", "bus1", "kv", "phases", "conn", "kvars_kvar"):
        bus, kv = bus_name(r["bus1"]), float(r["kv"] or 0.0)
        if bus not in base or not kv > 0 or not _enabled(r):
            continue
        line_to_line = _phases(r) > 1 or str(r.get("conn") or "").lower() == "delta"
        nominal = base[bus] * (_SQRT3 if line_to_line else 1.0)
        ratio = kv / nominal
        if _far(ratio, chosen.kv_ratio):
            kvar = sum(float(k) for k in _listed(r, "kvars_kvar"))
            kind = "line-to-line" if line_to_line else "line-to-neutral"
            out.append(
                ErrorDetail(
                    f"capacitor.{r['name']}",
                    f"rated {kv:g} kV on bus {bus} whose nominal is {nominal:.4g} kV {kind} "
                    f"(ratio {ratio:.2f}): "
                    f"it gives about {100.0 / ratio**2:.0f} % of its {kvar:g} kvar nameplate (or the bus's "
                    "voltage base is wrong)",
                    "kv_rating",
                )
            )
    for r in _records(model, "transformers", "phases", "buses", "conns", "kvs_kv"):
        if not _enabled(r):
            continue
        phases, conns = _phases(r), _listed(r, "conns")
        windings = []  # (winding, bus, rated kV, nominal kV)
        for w, (spec, kv) in enumerate(zip(_listed(r, "buses"), _listed(r, "kvs_kv"), strict=False), start=1):
            bus = bus_name(spec)
            if bus in base and float(kv) > 0:
                nodes = _winding_nodes(spec, phases, conns[w - 1] if w - 1 < len(conns) else "wye")
                line_to_line = phases > 1 or len(nodes) > 1
                windings.append((w, bus, float(kv), base[bus] * (_SQRT3 if line_to_line else 1.0)))
        wrong = [x for x in windings if _far(x[2] / x[3], chosen.kv_ratio)]
        if not wrong:
            continue
        said = "; ".join(
            f"winding {w} is rated {kv:g} kV on bus {bus} whose nominal is {nom:.4g} kV "
            f"(ratio {kv / nom:.2f})"
            for w, bus, kv, nom in wrong
        )
        effect = " (or the bus's voltage base is wrong)"
        if len(windings) > 1 and windings[0][0] == 1:
            _, _, kv1, nom1 = windings[0]
            delivered = ", ".join(
                f"{nom1 / kv1 * kv / nom:.2f} pu at bus {bus}" for _, bus, kv, nom in windings[1:]
            )
            effect = f": at nominal voltage on winding 1 it gives {delivered}{effect}"
        out.append(ErrorDetail(f"transformer.{r['name']}", said + effect, "kv_rating"))
    return out


def check_impedances(model: FeederModel) -> list[ErrorDetail]:
    """``zero_impedance``: lines that are not switches with zero length or zero impedance, transformers
    with zero leakage reactance (or the 700 % OpenDSS puts in its place)."""
    out: list[ErrorDetail] = []
    codes = {
        str(r["name"]): r for r in _records(model, "linecodes", "r_matrix_ohm_per_m", "x_matrix_ohm_per_m")
    }
    for r in _records(model, "lines", "is_switch", "length_m", "linecode"):
        if bool(r.get("is_switch")) or not _enabled(r):
            continue
        length = float(r["length_m"]) if r.get("length_m") is not None else math.nan
        why = ""
        code = codes.get(str(r.get("linecode") or ""))
        if not (math.isfinite(length) and length > 0):
            why = f"length {length:g} m"
        elif code is not None:
            rm, xm = _listed(code, "r_matrix_ohm_per_m"), _listed(code, "x_matrix_ohm_per_m")
            if (rm or xm) and not any(float(x) for x in rm) and not any(float(x) for x in xm):
                why = f"zero impedance (line code {code['name']}: R = X = 0)"
        if why:
            out.append(
                ErrorDetail(
                    f"line.{r['name']}",
                    f"{why} on a line that is not a switch: OpenDSS cannot invert its impedance, so the "
                    "feeder does not solve; mark it a switch or give it its length and impedance",
                    "zero_impedance",
                )
            )
    for r in _records(model, "transformers", "windings", "xhl_pct", "xht_pct", "xlt_pct", "pct_rs"):
        if not _enabled(r):
            continue
        names = ["xhl_pct"] + (["xht_pct", "xlt_pct"] if int(r.get("windings") or 2) >= 3 else [])
        values = {n: float(r[n]) if r.get(n) is not None else math.nan for n in names}
        zero = [n for n, x in values.items() if not x > 0]
        stand_in = [n for n, x in values.items() if x == _ENGINE_ZERO_X_PCT]
        if not zero and not stand_in:
            continue
        rs = [float(x) for x in _listed(r, "pct_rs")]
        rtext = "%R = 0" if rs and not any(rs) else f"%R {', '.join(f'{x:g}' for x in rs)}"
        if zero:
            xtext = ", ".join(f"{n.removesuffix('_pct').upper()} = 0 %" for n in zero)
            effect = f"OpenDSS solves it with {_ENGINE_ZERO_X_PCT:g} % instead"
        else:
            xtext = ", ".join(
                f"{n.removesuffix('_pct').upper()} = {_ENGINE_ZERO_X_PCT:g} %" for n in stand_in
            )
            effect = "what OpenDSS puts in place of a %X given as 0"
        out.append(
            ErrorDetail(
                f"transformer.{r['name']}",
                f"no leakage reactance ({xtext}, {rtext}): {effect}, a reactance ~100 times a real "
                "transformer's, so the voltages behind it collapse; give it its nameplate %X",
                "zero_impedance",
            )
        )
    return out
