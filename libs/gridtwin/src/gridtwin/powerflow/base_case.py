"""A feeder model's base case, solved once to judge the model itself (the import checks).

The solve is the engine's own snapshot (``Engine.snapshot``: the model's control settings, the engine's
handling of controls that never settle), on a private ``Engine`` dropped afterwards, so the check solves
the model exactly as the PowerFlow service will. What a snapshot result does not carry is read here: the
iteration limits the solve ran under, and whether the power flow itself converged (controls that never
settled leave the power flow converged, its voltages meaningful).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from gridtwin.powerflow.engine import Engine

if TYPE_CHECKING:
    from gridtwin.grid.model import FeederModel

__all__ = ["BaseCase", "solve_base_case"]


@dataclass(frozen=True)
class BaseCase:
    """One snapshot solve of a model: its status and the node voltages (``VOLTAGE_COLUMNS``)."""

    converged: bool  # power flow and controls
    power_flow_converged: bool  # the voltages are a solution (controls may still not have settled)
    iterations: int
    max_iterations: int
    control_iterations: int
    max_control_iterations: int
    message: str  # the engine's reason when not converged
    voltages: pd.DataFrame  # bus, node, pu, kv, angle_deg, base_kv


def solve_base_case(model: FeederModel) -> BaseCase:
    """Compile ``model`` on a private engine, solve it in snapshot mode and read the status and voltages.

    Engine errors (a model that does not compile) raise ``EngineError``."""
    engine = Engine()
    try:
        with engine.hold():
            engine.load_model(model)
            result = engine.snapshot()
            pf_converged, max_it, max_ctrl = engine.call("base case", _limits, engine)
    finally:
        engine.close()
    return BaseCase(
        converged=result.converged,
        power_flow_converged=pf_converged,
        iterations=result.iterations,
        max_iterations=max_it,
        control_iterations=result.control_iterations,
        max_control_iterations=max_ctrl,
        message=result.message,
        voltages=result.voltages,
    )


def _limits(engine: Engine) -> tuple[bool, int, int]:
    solution: Any = engine.dss.Solution
    return (
        bool(solution.Converged()),
        int(solution.MaxIterations()),
        int(solution.MaxControlIterations()),
    )
