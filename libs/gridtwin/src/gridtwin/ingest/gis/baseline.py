"""Another tool's study results as a validation baseline against our snapshot.

The table (CSV, or Excel when openpyxl is installed; every sheet is read) holds voltage rows (bus,
phase, voltage in pu) and/or loading rows (element, loading %); column names are matched against
common spellings (``_ALIASES``). Rows with a feeder column naming another feeder are left out. We
report RMSE, the largest absolute deviation and the worst buses/elements, plus what either side lacks.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridtwin.errors import ErrorDetail, GridTwinError, InputError
from gridtwin.powerflow.results import SnapshotResult

__all__ = [
    "BASELINE_SUFFIXES",
    "BaselineReport",
    "compare_baseline",
    "compare_baseline_upload",
    "excel_supported",
    "read_baseline",
]

BASELINE_SUFFIXES = (".csv", ".txt", ".xlsx", ".xls")

_ALIASES: dict[str, tuple[str, ...]] = {
    "bus": ("bus", "busname", "bus_name", "node_id", "nodeid", "bus_id"),
    "phase": ("phase", "node", "ph", "phase_id"),
    "v_pu": ("v_pu", "voltage_pu", "vpu", "pu", "vmag_pu", "voltage (pu)", "v (pu)", "vm_pu"),
    "element": ("element", "element_name", "name", "device", "branch", "section_id"),
    "loading_pct": (
        "loading_pct",
        "loading",
        "loading (%)",
        "loading_percent",
        "percent_loading",
        "load_pct",
    ),
    "feeder": ("feeder", "feeder_id", "feederid", "circuit"),
}
_PHASES = {"A": 1, "B": 2, "C": 3, "1": 1, "2": 2, "3": 3}


def excel_supported() -> bool:
    return importlib.util.find_spec("openpyxl") is not None


@dataclass
class BaselineReport:
    feeder: str
    source: str
    voltage_rows: int = 0  # bus-phases compared
    voltage_rmse_pu: float = float("nan")
    voltage_max_dev_pu: float = float("nan")
    worst_buses: pd.DataFrame = field(default_factory=pd.DataFrame)  # bus, phase, ours_pu, theirs_pu, dev_pu
    loading_rows: int = 0
    loading_rmse_pct: float = float("nan")
    loading_max_dev_pct: float = float("nan")
    worst_elements: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing_in_ours: list[str] = field(default_factory=list)  # rows of theirs we have no value for
    only_in_ours: int = 0  # our bus-phases they did not report
    warnings: list[ErrorDetail] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if not np.isfinite(x) else float(x)

        return {
            "feeder": self.feeder,
            "source": self.source,
            "voltage_rows": self.voltage_rows,
            "voltage_rmse_pu": num(self.voltage_rmse_pu),
            "voltage_max_dev_pu": num(self.voltage_max_dev_pu),
            "worst_buses": self.worst_buses.to_dict(orient="records"),
            "loading_rows": self.loading_rows,
            "loading_rmse_pct": num(self.loading_rmse_pct),
            "loading_max_dev_pct": num(self.loading_max_dev_pct),
            "worst_elements": self.worst_elements.to_dict(orient="records"),
            "missing_in_ours": list(self.missing_in_ours),
            "only_in_ours": self.only_in_ours,
            "warnings": [w.to_dict() for w in self.warnings],
        }


def read_baseline(path: Path | str) -> pd.DataFrame:
    """The results table with columns renamed to ``_ALIASES`` keys (all sheets of a workbook)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            if not excel_supported():
                raise InputError(
                    "Excel baselines need openpyxl, which is not installed",
                    [ErrorDetail(str(path), "save the sheet as CSV, or install openpyxl", "unsupported")],
                )
            sheets = pd.read_excel(path, sheet_name=None)
            frames = [_rename(df) for df in sheets.values()]
            raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        else:
            raw = _rename(pd.read_csv(path))
    except (
        OSError,
        ValueError,
        KeyError,  # a workbook missing a part openpyxl expects
        zipfile.BadZipFile,  # a truncated or non-xlsx workbook
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
    ) as exc:
        raise InputError("cannot read baseline results", [ErrorDetail(str(path), str(exc))]) from exc
    has_v = {"bus", "v_pu"} <= set(raw.columns)
    has_l = {"element", "loading_pct"} <= set(raw.columns)
    if not (has_v or has_l):
        raise InputError(
            "baseline has neither voltage nor loading columns",
            [
                ErrorDetail(
                    str(path), f"need bus+voltage pu and/or element+loading %; columns: {list(raw.columns)}"
                )
            ],
        )
    return raw


def _rename(df: pd.DataFrame) -> pd.DataFrame:
    mapping: dict[str, str] = {}
    for col in df.columns:
        key = str(col).strip().lower()
        for target, names in _ALIASES.items():
            if key in names and target not in mapping.values():
                mapping[str(col)] = target
                break
    return df.rename(columns=mapping)[list(mapping.values())]


def compare_baseline(
    result: SnapshotResult, table: Path | str | pd.DataFrame, *, worst: int = 10
) -> BaselineReport:
    source = str(table) if not isinstance(table, pd.DataFrame) else "table"
    raw = _rename(table) if isinstance(table, pd.DataFrame) else read_baseline(table)
    report = BaselineReport(feeder=result.feeder, source=source)
    if "feeder" in raw.columns:
        feeder = raw["feeder"].astype(str).str.strip().str.lower()
        keep = (feeder == result.feeder.lower()) | (feeder.isin(["", "nan"]))
        if not keep.any():
            report.warnings.append(ErrorDetail(source, f"no rows for feeder {result.feeder}", "feeder"))
        raw = raw[keep]
    if {"bus", "v_pu"} <= set(raw.columns):
        _voltages(result, raw, report, worst, source)
    if {"element", "loading_pct"} <= set(raw.columns):
        _loadings(result, raw, report, worst)
    return report


def _voltages(
    result: SnapshotResult, raw: pd.DataFrame, report: BaselineReport, worst: int, source: str
) -> None:
    rows = raw.dropna(subset=["bus", "v_pu"])
    theirs = pd.DataFrame({"bus": rows["bus"].astype(str).str.strip().str.lower()})
    if "phase" in rows.columns:
        phase = rows["phase"].astype(str).str.strip().str.upper().str.removesuffix(".0")
        theirs["node"] = phase.map(_PHASES)
        bad = theirs["node"].isna()
        for b, p in zip(theirs["bus"][bad], phase[bad], strict=True):
            report.warnings.append(ErrorDetail(f"{source}:{b}", f"phase {p!r} not A/B/C/1/2/3", "phase"))
        theirs = theirs[~bad]
        rows = rows[~bad]
    else:
        theirs["node"] = 1
    theirs["theirs_pu"] = pd.to_numeric(rows["v_pu"], errors="coerce").to_numpy()
    theirs["node"] = theirs["node"].astype("int64")
    ours = result.voltages[["bus", "node", "pu"]].rename(columns={"pu": "ours_pu"})
    ours = ours.assign(bus=ours["bus"].astype(str).str.lower())
    merged = theirs.merge(ours, on=["bus", "node"], how="left")
    missing = merged["ours_pu"].isna() | merged["theirs_pu"].isna()
    report.missing_in_ours.extend(
        f"{b}.{n}" for b, n in zip(merged["bus"][missing], merged["node"][missing], strict=True)
    )
    both = merged[~missing].copy()
    report.only_in_ours = len(ours) - len(both)
    report.voltage_rows = len(both)
    if len(both):
        both["dev_pu"] = both["ours_pu"] - both["theirs_pu"]
        report.voltage_rmse_pu = float(np.sqrt(np.mean(np.square(both["dev_pu"]))))
        report.voltage_max_dev_pu = float(np.max(np.abs(both["dev_pu"])))
        both["phase"] = both["node"].map({1: "A", 2: "B", 3: "C"})
        order = both["dev_pu"].abs().sort_values(ascending=False).index[:worst]
        report.worst_buses = both.loc[order, ["bus", "phase", "ours_pu", "theirs_pu", "dev_pu"]].reset_index(
            drop=True
        )


def _loadings(result: SnapshotResult, raw: pd.DataFrame, report: BaselineReport, worst: int) -> None:
    rows = raw.dropna(subset=["element", "loading_pct"])
    ours = result.elements[["name", "loading_pct"]].rename(columns={"loading_pct": "ours_pct"})
    full = {str(n).lower(): float(v) for n, v in zip(ours["name"], ours["ours_pct"], strict=True)}
    short: dict[str, list[str]] = {}
    for n in full:
        short.setdefault(n.split(".", 1)[-1], []).append(n)
    out: list[tuple[str, float, float]] = []
    for name, value in zip(
        rows["element"].astype(str).str.strip().str.lower(), rows["loading_pct"], strict=True
    ):
        key = name if name in full else (short[name][0] if len(short.get(name, [])) == 1 else None)
        theirs = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
        if key is None or not np.isfinite(theirs):
            report.missing_in_ours.append(name)
            continue
        out.append((key, full[key], float(theirs)))
    report.loading_rows = len(out)
    if out:
        df = pd.DataFrame(out, columns=["element", "ours_pct", "theirs_pct"])
        df["dev_pct"] = df["ours_pct"] - df["theirs_pct"]
        report.loading_rmse_pct = float(np.sqrt(np.mean(np.square(df["dev_pct"]))))
        report.loading_max_dev_pct = float(np.max(np.abs(df["dev_pct"])))
        order = df["dev_pct"].abs().sort_values(ascending=False).index[:worst]
        report.worst_elements = df.loc[order].reset_index(drop=True)


def compare_baseline_upload(result: SnapshotResult, filename: str, data: bytes) -> BaselineReport:
    """``compare_baseline`` of an uploaded results file (its name and bytes); errors name the upload."""
    name = Path(filename or "results.csv").name
    if Path(name).suffix.lower() not in BASELINE_SUFFIXES:
        raise InputError(
            "unsupported results file",
            [ErrorDetail(where="filename", message=f"{name}: expected {', '.join(BASELINE_SUFFIXES)}")],
        )
    if not data:
        raise InputError("empty results file", [ErrorDetail(where=name, message="no bytes")])
    with tempfile.TemporaryDirectory(prefix="gridtwin-baseline-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            report = compare_baseline(result, path)
        except GridTwinError as exc:  # name the upload, not our temp folder
            exc.details = [
                dataclasses.replace(
                    d, where=d.where.replace(str(path), name), message=d.message.replace(str(path), name)
                )
                for d in exc.details
            ]
            raise
    report.source = name
    return report
