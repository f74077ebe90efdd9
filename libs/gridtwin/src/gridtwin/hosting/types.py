"""Result types and table columns of the hosting-capacity package (one place for the schema).

``BusTarget`` and the inverter modes are the engine adapter level's study types, re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gridtwin.powerflow.study_types import INVERTER_MODES, BusTarget, InverterMode

__all__ = [
    "CONNECTION_KINDS",
    "DER_KINDS",
    "FAST_COLUMNS",
    "INVERTER_MODES",
    "NOT_CONVERGED",
    "PERBUS_COLUMNS",
    "BusTarget",
    "ConnectionAnswer",
    "ConnectionKind",
    "DerKind",
    "InverterMode",
]

DerKind = Literal["pv", "load"]
ConnectionKind = Literal["pv", "storage", "ev_load"]
DER_KINDS: tuple[str, ...] = ("pv", "load")
CONNECTION_KINDS: tuple[str, ...] = ("pv", "storage", "ev_load")

# A trial power flow that does not converge counts as a violation of this pseudo-criterion.
NOT_CONVERGED = "not_converged"

# Per-bus results (exact method): one row per bus.
PERBUS_COLUMNS: tuple[str, ...] = (
    "bus",
    "phases",
    "kv_base",  # line-to-line kV base of the bus
    "x",
    "y",
    "capacity_kw",
    "limiting_criterion",
    "limiting_element",
    "limiting_snapshot",
    "base_ok",
    "method",
    "der",  # "pv" (generation) or "load" (EV / storage charging)
    "inverter",
)
# The fast method adds whether the row was checked by a full power flow and the correction it needed.
# ``predicted_kw`` is the sensitivity estimate, ``error_pct`` its error against the verified capacity and
# ``corrections`` the full solves needed after the first verification.
FAST_COLUMNS: tuple[str, ...] = (*PERBUS_COLUMNS, "verified", "error_pct", "predicted_kw", "corrections")


@dataclass(frozen=True)
class ConnectionAnswer:
    """Can ``kw`` be connected at a bus? ``margin_kw`` = capacity - request (negative when it fails).

    ``stale`` is True when the stored per-bus results were computed for another feeder version.
    """

    ok: bool
    margin_kw: float
    limiting_criterion: str
    limiting_element: str
    stale: bool
    capacity_kw: float = float("nan")
    bus: str = ""
    kind: str = "pv"
