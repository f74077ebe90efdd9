"""Read a solved OpenDSS circuit into a ``SnapshotResult``, in bulk and vectorised.

Part of the engine adapter: together with ``engine.py`` the only code that speaks OpenDSS names.
Every quantity comes from the engine's bulk interfaces (``Circuit.All*``, ``PDElements.All*``) as
numpy arrays; the per-bus and per-transformer loops run only when the circuit changes (``CircuitLayout``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridtwin.errors import EngineError, ErrorDetail
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.results import SnapshotResult, find_violations

__all__ = [
    "CircuitLayout",
    "SolveStatus",
    "as_complex",
    "circuit_signature",
    "read_layout",
    "read_snapshot",
    "real_pair",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class CircuitLayout:
    """What changes only when the circuit does: names, voltage bases, ratings and array offsets."""

    signature: tuple[int, int, int, int]
    node_bus: ObjArray  # per node, bus name lower case
    node_number: IntArray
    node_base_kv: FloatArray  # line-to-neutral base, 0 when the bus has none
    element_names: ObjArray  # per PD element, "class.name" lower case
    element_classes: ObjArray
    block_starts: IntArray  # first conductor of each element in PDElements.AllPowers
    term1_index: IntArray  # positions of the terminal-1 conductors in PDElements.AllPowers
    term1_starts: IntArray  # first entry of each element in term1_index
    n_conductor_terminals: int  # length of PDElements.AllPowers, in complex values
    xf_rows: IntArray  # element rows that are transformers
    xf_kva: FloatArray  # winding-1 kVA rating
    xf_emerg_kva: FloatArray  # emergency rating (OpenDSS emerghkva)
    # The same names as pandas string arrays, converted once rather than on every snapshot.
    node_bus_str: Any = None
    element_names_str: Any = None
    element_classes_str: Any = None


@dataclass(frozen=True)
class SolveStatus:
    converged: bool
    iterations: int
    control_iterations: int
    message: str
    solve_ms: float


def circuit_signature(dss: Any) -> tuple[int, int, int, int]:
    """Cheap fingerprint telling whether a cached ``CircuitLayout`` still fits the circuit."""
    return (
        int(dss.Circuit.NumBuses()),
        int(dss.Circuit.NumNodes()),
        int(dss.Circuit.NumCktElements()),
        int(dss.PDElements.Count()),
    )


def real_pair(value: Any) -> tuple[float, float]:
    """OpenDSS returns complex scalars as a complex or as a [re, im] array depending on settings."""
    if isinstance(value, complex):
        return value.real, value.imag
    arr = np.asarray(value, dtype=np.float64).ravel()
    return float(arr[0]), float(arr[1])


def as_complex(values: Any) -> npt.NDArray[np.complex128]:
    arr = np.asarray(values)
    if arr.dtype.kind == "c":
        return arr.astype(np.complex128, copy=False)
    return np.ascontiguousarray(arr, dtype=np.float64).view(np.complex128)


def _bus_bases(dss: Any) -> dict[str, float]:
    # No bulk getter for bus kV bases in opendssdirect 0.9.4: one pass per circuit change.
    bases: dict[str, float] = {}
    for i in range(int(dss.Circuit.NumBuses())):
        dss.Circuit.SetActiveBusi(i)
        bases[str(dss.Bus.Name()).lower()] = float(dss.Bus.kVBase())
    return bases


def _transformer_ratings(dss: Any) -> dict[str, tuple[float, float]]:
    """``transformer.name`` -> (winding-1 kVA, emergency kVA); one pass per circuit change."""
    ratings: dict[str, tuple[float, float]] = {}
    idx = dss.Transformers.First()
    while idx:
        name = str(dss.Transformers.Name()).lower()
        dss.Transformers.Wdg(1)
        kva = float(dss.Transformers.kVA())
        # emerghkva has no getter on the Transformers interface: ask the property.
        dss.Text.Command(f"? transformer.{name}.emerghkva")
        try:
            emerg_kva = float(dss.Text.Result())
        except ValueError:
            emerg_kva = 1.5 * kva  # OpenDSS default
        ratings[f"transformer.{name}"] = (kva, emerg_kva)
        idx = dss.Transformers.Next()
    return ratings


def read_layout(dss: Any) -> CircuitLayout:
    """Names, bases, ratings and offsets of the active circuit (run after every circuit change)."""
    signature = circuit_signature(dss)
    node_names = [str(n).lower() for n in dss.Circuit.AllNodeNames()]
    split = [n.rpartition(".") for n in node_names]
    node_bus = np.array([s[0] for s in split], dtype=object)
    node_number = np.array([int(s[2]) for s in split], dtype=np.int64)
    bases = _bus_bases(dss)
    node_base_kv = np.array([bases.get(b, 0.0) for b in node_bus], dtype=np.float64)

    element_names = np.array([str(n).lower() for n in dss.PDElements.AllNames()], dtype=object)
    element_classes = np.array([n.partition(".")[0] for n in element_names], dtype=object)
    n_terminals = np.asarray(dss.PDElements.AllNumTerminals(), dtype=np.int64)
    n_conductors = np.asarray(dss.PDElements.AllNumConductors(), dtype=np.int64)
    if not (len(element_names) == len(n_terminals) == len(n_conductors)):
        raise EngineError(
            "OpenDSS returned inconsistent PD element arrays",
            [ErrorDetail(where="PDElements", message="names, terminals and conductors differ in length")],
        )
    if len(element_names) and (n_terminals.min() < 1 or n_conductors.min() < 1):
        raise EngineError(
            "OpenDSS returned a PD element without terminals or conductors",
            [ErrorDetail(where="PDElements", message="every element needs one terminal and one conductor")],
        )
    block = n_terminals * n_conductors
    block_starts = (np.cumsum(block) - block).astype(np.int64)
    term1_starts = (np.cumsum(n_conductors) - n_conductors).astype(np.int64)
    within = np.arange(int(n_conductors.sum()), dtype=np.int64) - np.repeat(term1_starts, n_conductors)
    term1_index = np.repeat(block_starts, n_conductors) + within

    ratings = _transformer_ratings(dss)
    rows = [i for i, name in enumerate(element_names) if name in ratings]
    xf_kva = np.array([ratings[element_names[i]][0] for i in rows], dtype=np.float64)
    xf_emerg = np.array([ratings[element_names[i]][1] for i in rows], dtype=np.float64)
    return CircuitLayout(
        signature=signature,
        node_bus=node_bus,
        node_number=node_number,
        node_base_kv=node_base_kv,
        element_names=element_names,
        element_classes=element_classes,
        block_starts=block_starts,
        term1_index=term1_index,
        term1_starts=term1_starts,
        n_conductor_terminals=int(block.sum()),
        xf_rows=np.array(rows, dtype=np.int64),
        xf_kva=xf_kva,
        xf_emerg_kva=xf_emerg,
        node_bus_str=pd.array(node_bus, dtype="str"),
        element_names_str=pd.array(element_names, dtype="str"),
        element_classes_str=pd.array(element_classes, dtype="str"),
    )


def _voltages(dss: Any, layout: CircuitLayout) -> pd.DataFrame:
    vmag_v = np.asarray(dss.Circuit.AllBusVMag(), dtype=np.float64)
    volts = as_complex(dss.Circuit.AllBusVolts())
    if len(vmag_v) != len(layout.node_bus) or len(volts) != len(layout.node_bus):
        raise EngineError(
            "OpenDSS node arrays do not match the circuit's node list",
            [
                ErrorDetail(
                    where="Circuit.AllBusVMag",
                    message=f"{len(vmag_v)} values for {len(layout.node_bus)} nodes",
                )
            ],
        )
    base_kv = layout.node_base_kv
    with np.errstate(divide="ignore", invalid="ignore"):
        pu = np.where(base_kv > 0, vmag_v / (1000.0 * base_kv), 0.0)
    return pd.DataFrame(
        {
            "bus": layout.node_bus_str,
            "node": layout.node_number,
            "pu": pu,
            "kv": vmag_v / 1000.0,
            "angle_deg": np.degrees(np.angle(volts)),
            "base_kv": base_kv,
        }
    )


def _elements(dss: Any, layout: CircuitLayout) -> pd.DataFrame:
    n = len(layout.element_names)
    current_a = np.asarray(dss.PDElements.AllMaxCurrents(False), dtype=np.float64)
    loading = np.array(dss.PDElements.AllPctNorm(False), dtype=np.float64)
    loading_emerg = np.array(dss.PDElements.AllPctEmerg(False), dtype=np.float64)
    powers = as_complex(dss.PDElements.AllPowers())  # kW + j kvar into each conductor of each terminal
    if (
        not (len(current_a) == len(loading) == len(loading_emerg) == n)
        or len(powers) != layout.n_conductor_terminals
    ):
        raise EngineError(
            "OpenDSS PD element arrays do not match the circuit's element list",
            [
                ErrorDetail(
                    where="PDElements",
                    message=f"{len(loading)} ratings, {len(powers)} powers for {n} elements",
                )
            ],
        )
    if n:
        # Power flowing into an element from all its terminals is what it loses.
        losses = np.add.reduceat(powers, layout.block_starts) if len(powers) else np.zeros(n, np.complex128)
        s_term1 = np.add.reduceat(powers[layout.term1_index], layout.term1_starts)
    else:
        losses = np.zeros(0, np.complex128)
        s_term1 = np.zeros(0, np.complex128)
    if len(layout.xf_rows):
        # DOMAIN.md: transformer loading is the kVA through winding 1 over its kVA rating.
        kva_through = np.abs(s_term1[layout.xf_rows])
        with np.errstate(divide="ignore", invalid="ignore"):
            loading[layout.xf_rows] = np.where(layout.xf_kva > 0, 100.0 * kva_through / layout.xf_kva, np.nan)
            loading_emerg[layout.xf_rows] = np.where(
                layout.xf_emerg_kva > 0, 100.0 * kva_through / layout.xf_emerg_kva, np.nan
            )
    return pd.DataFrame(
        {
            "name": layout.element_names_str,
            "element_class": layout.element_classes_str,
            "current_a": current_a,
            "loading_pct": loading,
            "loading_emerg_pct": loading_emerg,
            "losses_kw": losses.real,
            "losses_kvar": losses.imag,
            "p_kw": s_term1.real,
            "q_kvar": s_term1.imag,
        }
    )


def read_snapshot(
    dss: Any,
    layout: CircuitLayout,
    status: SolveStatus,
    *,
    feeder: str,
    version: str,
    limits: ViolationLimits,
) -> SnapshotResult:
    """Results of the last solution of ``dss``'s active circuit."""
    voltages = _voltages(dss, layout)
    elements = _elements(dss, layout)
    losses_w, losses_var = real_pair(dss.Circuit.Losses())  # watts
    line_kw, _line_kvar = real_pair(dss.Circuit.LineLosses())  # kW
    total_kw, total_kvar = real_pair(dss.Circuit.TotalPower())  # kW, negative when the source delivers
    is_xf = elements["element_class"].to_numpy() == "transformer"
    return SnapshotResult(
        feeder=feeder,
        version=version,
        converged=status.converged,
        iterations=status.iterations,
        control_iterations=status.control_iterations,
        losses_kw=losses_w / 1000.0,
        losses_kvar=losses_var / 1000.0,
        line_losses_kw=line_kw,
        transformer_losses_kw=float(elements["losses_kw"].to_numpy()[is_xf].sum()),
        source_kw=-total_kw,
        source_kvar=-total_kvar,
        voltages=voltages,
        elements=elements,
        violations=find_violations(voltages, elements, limits),
        limits=limits,
        message=status.message,
        solve_ms=status.solve_ms,
    )
