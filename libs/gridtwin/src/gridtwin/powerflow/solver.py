"""Power-flow solver settings of one request, and how they combine with the model's own and the
installation's defaults.

A model carries its own solution settings (``circuit["max_iterations"]``, ``max_control_iterations``,
``tolerance``, written by ``write_dss`` as ``set maxiterations=...``); OpenDSS's own defaults (15
iterations, 15 control iterations, 0.0001) are what a script that says nothing gets. Large feeders
need more: IEEE 8500 does not converge in 15 iterations (its own run script raises the limit; it
converges after 67). So the engine applies, before it solves (snapshot, QSTS, hosting studies):

- ``max_iterations``: the request's value if given, else ``max(model's own, installation default)``;
- ``max_control_iterations``: the same rule;
- ``tolerance``: the request's value if given, else the model's own (no installation default: a
  looser tolerance changes results).

The installation defaults come from ``GRIDTWIN_MAX_ITERATIONS`` / ``GRIDTWIN_MAX_CONTROL_ITERATIONS``
(100 each), read at the edge (``SolverSettings.from_settings``) and carried in the request's settings,
so a job's stored params and a Dask worker see the same values. A converged solve does not depend on
the caps, so raising them changes only solves that would otherwise end "not converged".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from gridtwin.config.settings import Settings
from gridtwin.errors import ErrorDetail, InputError

__all__ = [
    "DEFAULT_MAX_CONTROL_ITERATIONS",
    "DEFAULT_MAX_ITERATIONS",
    "MAX_ITERATIONS_LIMIT",
    "EffectiveSolver",
    "SolverSettings",
]

DEFAULT_MAX_ITERATIONS = 100
DEFAULT_MAX_CONTROL_ITERATIONS = 100
MAX_ITERATIONS_LIMIT = 10_000  # a request asking for more is a mistake, not a big feeder
MAX_TOLERANCE = 0.1  # per unit voltage change; looser is not a power flow any more


@dataclass(frozen=True)
class EffectiveSolver:
    """The settings a solve used."""

    max_iterations: int
    max_control_iterations: int
    tolerance: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SolverSettings:
    """What a request asks of the solver; ``None`` = the model's own value (iteration caps raised to
    the installation defaults ``default_max_iterations`` / ``default_max_control_iterations``)."""

    max_iterations: int | None = None
    max_control_iterations: int | None = None
    tolerance: float | None = None
    default_max_iterations: int = DEFAULT_MAX_ITERATIONS
    default_max_control_iterations: int = DEFAULT_MAX_CONTROL_ITERATIONS

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        max_iterations: int | None = None,
        max_control_iterations: int | None = None,
        tolerance: float | None = None,
    ) -> SolverSettings:
        """A request's values over the installation's defaults (``GRIDTWIN_MAX_*``); checked."""
        solver = cls(
            max_iterations=max_iterations,
            max_control_iterations=max_control_iterations,
            tolerance=tolerance,
            default_max_iterations=settings.max_iterations,
            default_max_control_iterations=settings.max_control_iterations,
        )
        solver.check()
        return solver

    def check(self, where: str = "") -> None:
        """``InputError`` naming every field out of range (``where`` prefixes the field names)."""
        prefix = f"{where}." if where else ""
        details: list[ErrorDetail] = []
        for name in ("max_iterations", "max_control_iterations", "default_max_iterations",
                     "default_max_control_iterations"):  # fmt: skip
            value = getattr(self, name)
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 1 <= value <= MAX_ITERATIONS_LIMIT
            ):
                details.append(
                    ErrorDetail(
                        where=prefix + name,
                        message=f"must be a whole number 1..{MAX_ITERATIONS_LIMIT}, not {value!r}",
                        code="out_of_range",
                    )
                )
        tol = self.tolerance
        if tol is not None and not (
            isinstance(tol, (int, float)) and math.isfinite(tol) and 0.0 < tol <= MAX_TOLERANCE
        ):
            details.append(
                ErrorDetail(
                    where=prefix + "tolerance",
                    message=f"must be > 0 and <= {MAX_TOLERANCE} (per unit), not {tol!r}",
                    code="out_of_range",
                )
            )
        if details:
            raise InputError("bad solver settings", details)

    def resolve(self, own: EffectiveSolver) -> EffectiveSolver:
        """The settings to solve with, given the model's own (see the module docstring)."""
        return EffectiveSolver(
            max_iterations=self.max_iterations
            if self.max_iterations is not None
            else max(own.max_iterations, self.default_max_iterations),
            max_control_iterations=self.max_control_iterations
            if self.max_control_iterations is not None
            else max(own.max_control_iterations, self.default_max_control_iterations),
            tolerance=float(self.tolerance) if self.tolerance is not None else own.tolerance,
        )

    def to_json(self) -> dict[str, Any]:
        """Every field (a job's stored params keep the installation defaults of its submission)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, where: str = "solver") -> SolverSettings:
        """The settings ``to_json`` stored; unknown keys and bad values are an ``InputError``."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(
                "unknown solver fields",
                [ErrorDetail(where=f"{where}.{k}", message="unknown field") for k in unknown],
            )
        solver = cls(**data)
        solver.check(where)
        return solver
