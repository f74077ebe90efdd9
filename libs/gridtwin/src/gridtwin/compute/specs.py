"""``QstsSpec`` as JSON (a job's stored params) and back, so a restarted service can resume a job."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import numpy as np

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.powerflow.limits import ViolationLimits
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.powerflow.solver import SolverSettings

__all__ = ["qsts_params", "spec_from_json", "spec_to_json"]


def spec_to_json(spec: QstsSpec) -> dict[str, Any]:
    ambient: float | list[float] = (
        [float(v) for v in np.asarray(spec.ambient_c, dtype=np.float64)]
        if isinstance(spec.ambient_c, np.ndarray)
        else float(spec.ambient_c)
    )
    return {
        "hours": int(spec.hours),
        "start_hour": int(spec.start_hour),
        "step_minutes": int(spec.step_minutes),
        "limits": dataclasses.asdict(spec.limits),
        "ambient_c": ambient,
        "start_utc": spec.start_utc.isoformat(),
        "solver": spec.solver.to_json(),
    }


def spec_from_json(data: dict[str, Any]) -> QstsSpec:
    """The spec stored by ``spec_to_json``; unknown keys are an ``InputError`` naming them. A spec
    stored before solver settings existed gets the built-in defaults."""
    known = {"hours", "start_hour", "step_minutes", "limits", "ambient_c", "start_utc", "solver"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(
            "unknown QSTS spec fields",
            [ErrorDetail(where=f"spec.{k}", message="unknown field") for k in unknown],
        )
    kwargs: dict[str, Any] = {k: data[k] for k in ("hours", "start_hour", "step_minutes") if k in data}
    if "limits" in data:
        try:
            kwargs["limits"] = ViolationLimits(**data["limits"])
        except TypeError as exc:
            raise InputError("bad limits", [ErrorDetail(where="spec.limits", message=str(exc))]) from exc
    if "ambient_c" in data:
        ambient = data["ambient_c"]
        kwargs["ambient_c"] = (
            np.asarray(ambient, dtype=np.float64) if isinstance(ambient, list) else float(ambient)
        )
    if "start_utc" in data:
        kwargs["start_utc"] = datetime.fromisoformat(str(data["start_utc"]))
    if "solver" in data:
        kwargs["solver"] = SolverSettings.from_json(data["solver"], "spec.solver")
    return QstsSpec(**kwargs)


def qsts_params(feeders: list[str], spec: QstsSpec, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A QSTS job's stored params: everything needed to run it again (``extra`` may add seeds etc.)."""
    params: dict[str, Any] = dict(extra or {})
    params["spec"] = spec_to_json(spec)
    params["feeders"] = list(feeders)
    return params
