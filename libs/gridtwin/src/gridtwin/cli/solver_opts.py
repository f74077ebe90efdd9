"""The power-flow solver options shared by the commands that solve (``powerflow snapshot``, ``qsts run``,
``scenario run|sweep``, ``hosting perbus|check|stochastic``): REST fields ``max_iterations``,
``max_control_iterations``, ``tolerance``; left out = the model's own (caps at least the installation's)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

__all__ = ["MaxControlIterationsOption", "MaxIterationsOption", "ToleranceOption", "solver_fields"]

MaxIterationsOption = Annotated[
    int | None,
    typer.Option(
        "--max-iterations",
        min=1,
        max=10_000,
        help="power-flow iterations per solve (default: the model's own, at least the installation's 100)",
    ),
]
MaxControlIterationsOption = Annotated[
    int | None,
    typer.Option(
        "--max-control-iterations",
        min=1,
        max=10_000,
        help="control iterations per solve (default: the model's own, at least the installation's 100)",
    ),
]
ToleranceOption = Annotated[
    float | None,
    typer.Option(
        "--tolerance", help="convergence tolerance, per unit, > 0 and <= 0.1 (default: the model's own)"
    ),
]


def solver_fields(
    max_iterations: int | None, max_control_iterations: int | None, tolerance: float | None
) -> dict[str, Any]:
    """The given options as REST fields (unset ones left out)."""
    values = {
        "max_iterations": max_iterations,
        "max_control_iterations": max_control_iterations,
        "tolerance": tolerance,
    }
    return {k: v for k, v in values.items() if v is not None}
