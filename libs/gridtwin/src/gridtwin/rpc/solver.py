"""Solver settings on the wire: ``gridtwin.v1.SolverOptions`` <-> ``gridtwin.powerflow.solver``, shared by
the services that solve (PowerFlow's snapshots, QSTS and scenario jobs; HostingCapacity's studies)."""

from __future__ import annotations

import dataclasses
from typing import Any

from gridtwin.powerflow.solver import EffectiveSolver, SolverSettings
from gridtwin.rpc.v1 import powerflow_pb2

__all__ = ["solver_from_proto", "solver_to_proto"]

_FIELDS = ("max_iterations", "max_control_iterations", "tolerance")


def solver_from_proto(msg: Any, defaults: SolverSettings, where: str = "solver") -> SolverSettings:
    """The request's set fields over ``defaults`` (the service's ``SolverSettings.from_settings``);
    ``InputError`` naming ``where.<field>`` for a value out of range."""
    given = {name: getattr(msg, name) for name in _FIELDS if msg.HasField(name)}
    solver = dataclasses.replace(defaults, **given)
    solver.check(where)
    return solver


def solver_to_proto(effective: EffectiveSolver | None) -> Any:
    """The settings a solve used (an empty message when there were none)."""
    if effective is None:
        return powerflow_pb2.SolverOptions()
    return powerflow_pb2.SolverOptions(
        max_iterations=effective.max_iterations,
        max_control_iterations=effective.max_control_iterations,
        tolerance=effective.tolerance,
    )
