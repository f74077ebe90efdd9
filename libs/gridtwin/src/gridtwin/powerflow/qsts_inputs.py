"""Inputs of a QSTS run checked before the time loop: profile-backed shapes, yearly shapes, ambient.

Every bad input raises ``InputError`` (or ``NotFoundError`` for a missing profile) naming the shape
and, where there is one, its profile reference: a year of solving must not start on data that cannot
cover it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from gridtwin.errors import ErrorDetail, InputError, NotFoundError
from gridtwin.grid.model import FeederModel
from gridtwin.powerflow.qsts_results import QstsSpec

__all__ = ["ambient_per_step", "check_spec", "check_yearly_shapes", "profile_values", "set_shape_values"]

FloatArray = npt.NDArray[np.float64]

# Classes whose yearly shape may go negative (generation and storage dispatch); loads may not.
_GENERATION = ("generator", "pvsystem", "storage")


def check_spec(spec: QstsSpec) -> None:
    problems = []
    if spec.hours < 1:
        problems.append(ErrorDetail(where="spec.hours", message="must be at least 1"))
    if spec.start_hour < 0:
        problems.append(ErrorDetail(where="spec.start_hour", message="must not be negative"))
    if spec.step_minutes < 1 or 60 % spec.step_minutes:
        problems.append(ErrorDetail(where="spec.step_minutes", message="must divide 60 (60 or 15)"))
    if problems:
        raise InputError("invalid QSTS period", problems)
    spec.solver.check("spec.solver")


def ambient_per_step(spec: QstsSpec) -> FloatArray:
    """Ambient temperature (degC) for every step: the constant, or the hourly values held per hour."""
    values = np.asarray(spec.ambient_c, dtype=np.float64)
    if values.ndim == 0:
        out = np.full(spec.steps, float(values))
    else:
        if values.ndim != 1 or len(values) < spec.hours:
            raise InputError(
                "ambient temperature too short",
                [ErrorDetail(where="spec.ambient_c", message=f"{values.size} values for {spec.hours} hours")],
            )
        out = np.repeat(values[: spec.hours], 60 // spec.step_minutes)
    if not np.all(np.isfinite(out)):
        raise InputError(
            "ambient temperature not finite", [ErrorDetail(where="spec.ambient_c", message="NaN or inf")]
        )
    return out


def profile_values(model: FeederModel, profiles: Mapping[str, np.ndarray] | None) -> dict[str, FloatArray]:
    """Shape name -> values of the model's profile-backed load shapes (``mult`` empty, ``profile`` set)."""
    out: dict[str, FloatArray] = {}
    shapes = model.table("loadshapes")
    if not len(shapes) or "profile" not in shapes:
        return out
    missing = []
    for name, ref, mult in zip(shapes["name"], shapes["profile"], shapes["mult"], strict=True):
        ref = str(ref or "")
        if not ref or (mult is not None and len(mult)):
            continue
        if profiles is None or ref not in profiles:
            missing.append(ErrorDetail(where=f"loadshape.{name}", message=f"profile {ref!r} not supplied"))
            continue
        out[str(name).lower()] = np.asarray(profiles[ref], dtype=np.float64).ravel()
    if missing:
        raise NotFoundError("load shape profiles not found", missing)
    return out


def set_shape_values(dss: Any, values: Mapping[str, FloatArray]) -> None:
    """Load profile values into the compiled shapes (``write_dss`` wrote npts and interval only).

    The stored profile is the truth for its length (``PMult`` must match ``Npts``); whether that
    length covers the run is ``check_yearly_shapes``'s question."""
    for name, arr in values.items():
        dss.LoadShape.Name(name)
        dss.LoadShape.Npts(len(arr))
        dss.LoadShape.PMult(arr)


def _used_yearly_shapes(dss: Any) -> dict[str, set[str]]:
    """Shape name -> element classes using it as their yearly shape (enabled elements only)."""
    used: dict[str, set[str]] = {}
    i = dss.Loads.First()
    while i:
        name = str(dss.Loads.Yearly()).lower()
        if name:
            used.setdefault(name, set()).add("load")
        i = dss.Loads.Next()
    # Rare classes: no bulk getter common to all, ask the property (a handful of elements).
    for cls in _GENERATION:
        dss.Circuit.SetActiveClass(cls)
        i = dss.ActiveClass.First()
        while i:
            dss.Text.Command(f"? {cls}.{dss.ActiveClass.Name()}.yearly")
            name = str(dss.Text.Result()).strip().lower()
            if name:
                used.setdefault(name, set()).add(cls)
            i = dss.ActiveClass.Next()
    return used


def check_yearly_shapes(dss: Any, spec: QstsSpec, refs: Mapping[str, str] | None = None) -> None:
    """Every yearly shape in use must cover the run, be finite, and (for loads) not be negative."""
    need_h = spec.start_hour + spec.hours
    problems: list[ErrorDetail] = []
    for name, users in sorted(_used_yearly_shapes(dss).items()):
        where = f"loadshape.{name}" + (f" (profile {refs[name]})" if refs and name in refs else "")
        dss.LoadShape.Name(name)
        if str(dss.LoadShape.Name()).lower() != name:
            problems.append(ErrorDetail(where=where, message="yearly shape not defined"))
            continue
        npts = int(dss.LoadShape.Npts())
        interval_h = float(dss.LoadShape.HrInterval())
        mult = np.asarray(dss.LoadShape.PMult(), dtype=np.float64)
        if interval_h > 0:
            covered_h = npts * interval_h
        else:
            hours = np.asarray(dss.LoadShape.TimeArray(), dtype=np.float64)
            covered_h = float(hours[-1]) if len(hours) else 0.0
        if covered_h + 1e-9 < need_h or len(mult) < npts:
            problems.append(
                ErrorDetail(
                    where=where,
                    message=f"{len(mult)} points cover {covered_h:g} h; the run needs {need_h} h",
                    code="shape_too_short",
                )
            )
            continue
        if not np.all(np.isfinite(mult)):
            problems.append(
                ErrorDetail(where=where, message="NaN or infinite multipliers", code="not_finite")
            )
        elif "load" in users and len(mult) and mult.min() < 0:
            problems.append(
                ErrorDetail(
                    where=where,
                    message=f"negative multiplier {mult.min():g} in a shape used by loads",
                    code="negative",
                )
            )
    if problems:
        raise InputError("load shapes cannot drive this QSTS run", problems)
