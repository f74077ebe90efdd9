"""What the QSTS loop needs to know about a circuit once, so each step is a few bulk reads and numpy.

Built on ``snapshot.read_layout`` (names, voltage bases, transformer ratings, ``AllPowers`` offsets)
plus the per-element normal/emergency ampacities (one pass, names from ``PDElements.AllNames`` because
``PDElements.First/Next`` skips disabled elements while the bulk arrays keep them) and the node -> bus
grouping used to reduce node voltages to bus extremes with ``np.minimum.reduceat``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gridtwin.powerflow.snapshot import CircuitLayout, read_layout

__all__ = ["QstsLayout", "read_qsts_layout"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]
BoolArray = npt.NDArray[np.bool_]

_KINDS = ("line", "transformer", "reactor")  # PD elements reported (capacitors are not loaded)


@dataclass(frozen=True)
class QstsLayout:
    base: CircuitLayout
    node_keep: IntArray  # node positions (AllBusMagPu order) with a voltage base, sorted by bus
    bus_starts: IntArray  # first entry of each bus in node_keep
    bus_names: ObjArray
    bus_base_kv: FloatArray
    node_bus_index: IntArray  # per kept node (node_keep order), its bus row
    element_rows: IntArray  # PD element rows reported (lines, transformers, reactors)
    element_names: ObjArray
    element_kinds: ObjArray
    inv_norm_amps: FloatArray  # 100 / normamps per reported element (0 where no rating)
    inv_emerg_amps: FloatArray
    xf_pos: IntArray  # positions of transformers within the reported elements
    xf_inv_kva: FloatArray  # 100 / kVA and 100 / emergency kVA (DOMAIN.md: kVA through winding 1)
    xf_inv_emerg_kva: FloatArray
    xf_term1_index: IntArray  # AllPowers positions of the transformers' terminal-1 conductors
    xf_term1_starts: IntArray  # first entry of each transformer in xf_term1_index
    is_line: BoolArray  # per PD element row (all of them), for the line loss sum
    is_xf: BoolArray


def _inverse(values: FloatArray, scale: float = 100.0) -> FloatArray:
    out = np.zeros_like(values)
    np.divide(scale, values, out=out, where=values > 0)
    return out


def read_qsts_layout(dss: Any) -> QstsLayout:
    """Layout of the active circuit (call on the OpenDSS thread, after compiling)."""
    base = read_layout(dss)
    # Nodes: drop buses without a voltage base; group by bus (stable, so node order is kept).
    keep = np.flatnonzero(base.node_base_kv > 0)
    bus_of_node = base.node_bus[keep]
    names, first, inverse = np.unique(bus_of_node.astype(str), return_index=True, return_inverse=True)
    # Order buses as they first appear in the circuit, not alphabetically.
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    bus_index = rank[inverse].astype(np.int64)
    perm = np.argsort(bus_index, kind="stable")
    node_keep = keep[perm].astype(np.int64)
    node_bus_index = bus_index[perm]
    bus_starts = np.flatnonzero(np.r_[True, node_bus_index[1:] != node_bus_index[:-1]]).astype(np.int64)
    bus_names = np.array(names[order], dtype=object)
    bus_base_kv = base.node_base_kv[node_keep[bus_starts]] if len(node_keep) else np.zeros(0)

    # Elements: ampacities once per run (no bulk getter for them).
    classes = base.element_classes
    rows = np.flatnonzero(np.isin(classes, _KINDS)).astype(np.int64)
    all_names = list(dss.PDElements.AllNames())
    norm = np.zeros(len(rows))
    emerg = np.zeros(len(rows))
    for j, row in enumerate(rows):
        dss.Circuit.SetActiveElement(all_names[row])
        norm[j] = float(dss.CktElement.NormalAmps())
        emerg[j] = float(dss.CktElement.EmergAmps())
    kinds = classes[rows]
    xf_pos = np.flatnonzero(kinds == "transformer").astype(np.int64)
    # base.xf_rows lists transformer rows in element order, as rows[xf_pos] does.
    if not np.array_equal(rows[xf_pos], base.xf_rows):
        raise RuntimeError("transformer rows differ between layouts")  # internal invariant
    # Terminal-1 conductors of the transformers only (the loop needs no other element's throughput).
    t1_ends = np.r_[base.term1_starts[1:], len(base.term1_index)].astype(np.int64)
    counts = t1_ends[base.xf_rows] - base.term1_starts[base.xf_rows]
    xf_term1_starts = (np.cumsum(counts) - counts).astype(np.int64)
    within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(xf_term1_starts, counts)
    xf_term1_index = base.term1_index[np.repeat(base.term1_starts[base.xf_rows], counts) + within]
    return QstsLayout(
        base=base,
        node_keep=node_keep,
        bus_starts=bus_starts,
        bus_names=bus_names,
        bus_base_kv=np.asarray(bus_base_kv, dtype=np.float64),
        node_bus_index=node_bus_index,
        element_rows=rows,
        element_names=base.element_names[rows],
        element_kinds=kinds,
        inv_norm_amps=_inverse(norm),
        inv_emerg_amps=_inverse(emerg),
        xf_pos=xf_pos,
        xf_inv_kva=_inverse(base.xf_kva),
        xf_inv_emerg_kva=_inverse(base.xf_emerg_kva),
        xf_term1_index=xf_term1_index.astype(np.int64),
        xf_term1_starts=xf_term1_starts,
        is_line=classes == "line",
        is_xf=classes == "transformer",
    )
