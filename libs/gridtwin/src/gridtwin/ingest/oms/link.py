"""Outage records onto the twin graph: each row's device becomes a twin id, its feeder a known feeder.

Devices are matched case-insensitively against the names in the feeders' ``switches`` (breakers, fuses,
reclosers, sectionalizers, ... by ``kind``), ``lines`` and ``transformers`` tables, in that order (a
switch usually shares its line's name; the protective device is the better answer). A device given
with a class prefix (``"Line.sw12"``, ``"fuse.f3"``) or as a twin id (``"f1.switches.sw12"``) is
matched by its name. A row with a feeder is matched within that feeder only; a row without one takes
the feeder of the device (a name found on several feeders is ambiguous). Problems are details naming
the row (its ``src``), never failures: the row stays, with ``device_twin`` "".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from gridtwin.errors import ErrorDetail
from gridtwin.grid.model import FeederModel
from gridtwin.grid.twins import twin_id

__all__ = ["DEVICE_TABLES", "link_outages"]

DEVICE_TABLES: tuple[str, ...] = ("switches", "lines", "transformers")


def link_outages(
    frame: pd.DataFrame, models: Iterable[FeederModel] | Mapping[str, FeederModel]
) -> tuple[pd.DataFrame, list[ErrorDetail]]:
    """A copy of ``frame`` with ``device_twin`` set and ``feeder`` filled (canonical spelling) where known."""
    feeders = list(models.values()) if isinstance(models, Mapping) else list(models)
    canonical = {m.feeder_id.lower(): m.feeder_id for m in feeders}
    # (feeder id, lower-case name) -> twin id, first table wins; name -> feeders holding it.
    by_feeder: dict[tuple[str, str], str] = {}
    by_name: dict[str, list[str]] = {}
    for model in feeders:
        for table in DEVICE_TABLES:
            for name in model.table(table)["name"].astype(str):
                key = (model.feeder_id, name.lower())
                if key not in by_feeder:
                    by_feeder[key] = twin_id(model.feeder_id, table, name)
                    by_name.setdefault(name.lower(), []).append(model.feeder_id)

    out = frame.copy()
    twins: list[str] = []
    feeder_out: list[str] = []
    issues: list[ErrorDetail] = []
    srcs = (
        out["src"].astype(str)
        if "src" in out.columns
        else pd.Series([f"row {i + 1}" for i in range(len(out))])
    )
    rows = zip(out["feeder"].astype(str), out["device"].astype(str), srcs, strict=True)
    for given_feeder, given_device, where in rows:
        feeder = given_feeder.strip()
        device = given_device.strip()
        names = _name_forms(device, canonical)
        twin = ""
        if feeder:
            known = canonical.get(feeder.lower())
            if known is None:
                issues.append(
                    ErrorDetail(where, f"feeder {feeder!r} is not in the twin graph", "feeder_unknown")
                )
            else:
                feeder = known
                if device:
                    twin = next((by_feeder[(known, n)] for n in names if (known, n) in by_feeder), "")
                    if not twin:
                        elsewhere = sorted({f for n in names for f in by_name.get(n, [])})
                        hint = f" (it is on {', '.join(elsewhere)})" if elsewhere else ""
                        issues.append(
                            ErrorDetail(
                                where, f"device {device!r} is not on feeder {known}{hint}", "device_unknown"
                            )
                        )
        elif device:
            holders = next((by_name[n] for n in names if n in by_name), [])
            name = next((n for n in names if n in by_name), "")
            if len(holders) == 1:
                feeder = holders[0]
                twin = by_feeder[(feeder, name)]
            elif holders:
                issues.append(
                    ErrorDetail(
                        where,
                        f"device {device!r} is on several feeders ({', '.join(sorted(holders))}) and the row "
                        "names none",
                        "device_ambiguous",
                    )
                )
            else:
                issues.append(
                    ErrorDetail(
                        where, f"device {device!r} is not in the twin graph and the row names no feeder",
                        "device_unknown",
                    )
                )  # fmt: skip
        twins.append(twin)
        feeder_out.append(feeder)
    out["feeder"] = pd.Series(feeder_out, index=out.index, dtype=object).astype(str)
    out["device_twin"] = pd.Series(twins, index=out.index, dtype=object).astype(str)
    return out, issues


def _name_forms(device: str, canonical: Mapping[str, str]) -> list[str]:
    """Lower-case names the device may mean: as given, less a class prefix, less a twin-id prefix."""
    lowered = device.lower()
    forms = [lowered] if lowered else []
    parts = lowered.split(".")
    if len(parts) == 3 and parts[0] in canonical and parts[1] in DEVICE_TABLES:
        forms.append(parts[2])
    elif len(parts) == 2:
        forms.append(parts[1])
    return forms
