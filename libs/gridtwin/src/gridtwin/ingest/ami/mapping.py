"""The meter directory: which service transformer (and feeder) each AMI meter hangs off.

Per meter, in order (the first that answers wins):

1. an override row (meter_id, feeder, transformer, note) — always wins when its transformer exists;
2. the source's transformer, when the meter list names one that exists in the twin graph;
3. the meter's load in the twin graph -> its service transformer along the secondary lines
   (the connected component of the load's bus over lines; incl. GIS-routed secondaries);
4. the nearest service transformer (scipy ``cKDTree``) restricted to the meter's feeder (else every
   feeder given, the feeder then inferred) and to phase-compatible transformers.

A service transformer is one whose last winding is low voltage (< 1 kV); its points for the tree are its
low-voltage bus (else its high-voltage bus) and the buses of its secondary network when the model holds
secondaries (a meter sits at a service drop, which can be nearer the neighbour's pole than its own).
Coordinates in lon/lat are projected to local metres (equirectangular about the centroid) first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.topology import ServiceIndex, phase_string, service_index

__all__ = [
    "DIRECTORY_COLUMNS",
    "MappingResult",
    "directory_from_models",
    "head_check",
    "map_meters",
    "read_meter_list",
]

DIRECTORY_COLUMNS = [
    "meter_id", "feeder", "load", "transformer", "bus", "phases", "lon", "lat", "generating", "role",
    "customer_class", "method", "confidence", "reasons",
]  # fmt: skip
HIGH_M, MEDIUM_M = 25.0, 75.0  # nearest-transformer distance limits for high / medium confidence
HIGH_RATIO, MEDIUM_RATIO = 2.0, 1.3  # second-nearest / nearest distance for high / medium
_NEIGHBOURS = 24  # tree points fetched per meter to find the second-nearest distinct transformer
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQ = 111_320.0
_PHASE_NODES = {"A": 1, "B": 2, "C": 3}

# Header spellings accepted by read_meter_list (normalised: lower case, spaces/dashes -> "_").
_ALIASES: dict[str, tuple[str, ...]] = {
    "meter_id": ("meter_id", "meter", "meterid", "meter_number", "meter_no", "meter_num", "badge", "ami_id",
                 "device_id", "serial"),
    "feeder": ("feeder", "feeder_id", "circuit", "circuit_id", "feeder_name"),
    "load": ("load", "load_name", "load_id", "service_point", "premise"),
    "transformer": ("transformer", "transformer_id", "xfmr", "xfmr_id", "xfr", "service_transformer",
                    "transformer_name"),
    "phases": ("phase", "phases", "phasing"),
    "lat": ("lat", "latitude", "y"),
    "lon": ("lon", "lng", "long", "longitude", "x"),
    "generating": ("generating", "net_metered", "netmetered", "der", "has_pv", "generation"),
    "role": ("role", "meter_role", "kind"),
    "customer_class": ("customer_class", "class", "rate_class", "cust_class"),
}  # fmt: skip
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n", ""}


@dataclass
class MappingResult:
    directory: pd.DataFrame  # DIRECTORY_COLUMNS
    issues: list[ErrorDetail] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _phase_nodes(phases: str) -> frozenset[int]:
    return frozenset(_PHASE_NODES[c] for c in phases.upper() if c in _PHASE_NODES)


def _is_degrees(x: np.ndarray, y: np.ndarray) -> bool:
    ok = np.isfinite(x) & np.isfinite(y)
    return bool(ok.any()) and bool(np.all(np.abs(x[ok]) <= 180.0) and np.all(np.abs(y[ok]) <= 90.0))


class _Projector:
    """lon/lat -> local metres about a centroid (equirectangular); projected input passes through."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.degrees = _is_degrees(x, y)
        ok = np.isfinite(x) & np.isfinite(y)
        self.x0 = float(np.mean(x[ok])) if ok.any() else 0.0
        self.y0 = float(np.mean(y[ok])) if ok.any() else 0.0
        self.kx = _M_PER_DEG_LON_EQ * math.cos(math.radians(self.y0)) if self.degrees else 1.0
        self.ky = _M_PER_DEG_LAT if self.degrees else 1.0

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.column_stack([(x - self.x0) * self.kx, (y - self.y0) * self.ky])


def _empty_row(meter_id: str) -> dict[str, Any]:
    return {
        "meter_id": meter_id, "feeder": "", "load": "", "transformer": "", "bus": "", "phases": "",
        "lon": math.nan, "lat": math.nan, "generating": False, "role": "customer", "customer_class": 0,
        "method": "unmapped", "confidence": "", "reasons": [],
    }  # fmt: skip


def _text(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


def read_meter_list(path: Path) -> tuple[pd.DataFrame, list[ErrorDetail]]:
    """A CIS/MDM meter list CSV as directory rows (method "" until mapped) plus ``src`` ("file:line");
    bad rows are left out and returned as errors naming ``file:line``."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    norm = {c: str(c).strip().lower().replace(" ", "_").replace("-", "_") for c in raw.columns}
    found: dict[str, str] = {}
    for target, aliases in _ALIASES.items():
        for col, n in norm.items():
            if n in aliases and target not in found:
                found[target] = col
    errors: list[ErrorDetail] = []
    if "meter_id" not in found:
        errors.append(
            ErrorDetail(f"{path.name}:1", "no meter id column (meter_id, meter, badge, ...)", "header")
        )
        return pd.DataFrame(columns=[*DIRECTORY_COLUMNS, "src"]), errors
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    cols = {t: raw[c].tolist() for t, c in found.items()}
    for i in range(len(raw)):
        line = i + 2  # header is line 1
        where = f"{path.name}:{line}"
        get = {t: str(v[i]).strip() for t, v in cols.items()}
        mid = get["meter_id"]
        if not mid:
            errors.append(ErrorDetail(where, "empty meter id", "missing"))
            continue
        if mid in seen:
            errors.append(
                ErrorDetail(where, f"meter {mid} repeated (first on line {seen[mid]})", "duplicate")
            )
            continue
        row = _empty_row(mid)
        row["method"] = ""
        bad = []
        for t in ("feeder", "load", "transformer"):
            row[t] = get.get(t, "")
        ph = get.get("phases", "").upper().replace("-", "").replace(" ", "")
        if ph and (set(ph) - set("ABC") and ph not in ("N", "S")):
            bad.append(f"phase {ph!r} is not A, B, C or a combination")
        row["phases"] = "".join(c for c in "ABC" if c in ph)
        for t in ("lat", "lon"):
            v = get.get(t, "")
            try:
                row[t] = float(v) if v else math.nan
            except ValueError:
                bad.append(f"{t} {v!r} is not a number")
        if "lat" in found and _ALIASES["lat"].index(norm[found["lat"]]) < 3 and abs(row["lat"]) > 90:
            bad.append(f"latitude {row['lat']} outside -90..90")
        g = get.get("generating", "").lower()
        if g not in _TRUE | _FALSE:
            bad.append(f"generating {g!r} is not yes/no")
        row["generating"] = g in _TRUE
        role = get.get("role", "").lower() or "customer"
        if role in ("head", "feeder_head", "feederhead", "substation"):
            role = "feeder_head"
        if role not in ("customer", "feeder_head"):
            bad.append(f"role {role!r} is not customer or feeder_head")
        row["role"] = role
        c = get.get("customer_class", "")
        try:
            row["customer_class"] = int(float(c)) if c else 0
        except ValueError:
            row["customer_class"] = {"res": 1, "residential": 1, "com": 2, "commercial": 2, "ind": 3,
                                     "industrial": 3}.get(c.lower(), -1)  # fmt: skip
            if row["customer_class"] < 0:
                bad.append(f"customer class {c!r} is not a number or res/com/ind")
        if bad:
            errors.extend(ErrorDetail(where, m, "invalid") for m in bad)
            continue
        seen[mid] = line
        row["src"] = where
        rows.append(row)
    return pd.DataFrame(rows, columns=[*DIRECTORY_COLUMNS, "src"]), errors


def _meter_rows(meters: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    recs = meters.to_dict("records")
    for r in recs:
        row = _empty_row(_text(r.get("meter_id")))
        for k in ("feeder", "load", "transformer", "bus", "role"):
            row[k] = _text(r.get(k)) or row[k]
        row["phases"] = "".join(c for c in "ABC" if c in _text(r.get("phases")).upper())
        for k in ("lon", "lat"):
            v = r.get(k)
            row[k] = float(v) if v is not None and _text(v) != "" else math.nan
        row["generating"] = bool(r.get("generating")) if r.get("generating") is not None else False
        cc = r.get("customer_class")
        row["customer_class"] = int(cc) if cc is not None and _text(cc) != "" else 0
        row["src"] = _text(r.get("src"))
        out.append(row)
    return out


def map_meters(
    meters: pd.DataFrame,
    models: Sequence[FeederModel],
    overrides: pd.DataFrame | None = None,
) -> MappingResult:
    """Map each meter to its feeder and service transformer (module docstring); see ``MappingResult``."""
    idx = {m.feeder_id: service_index(m) for m in models}
    rows = _meter_rows(meters)
    issues: list[ErrorDetail] = []
    over: dict[str, tuple[str, str, str]] = {}
    if overrides is not None and len(overrides):
        for r in overrides.to_dict("records"):
            over[_text(r.get("meter_id"))] = (
                _text(r.get("feeder")),
                _text(r.get("transformer")),
                _text(r.get("note")),
            )
    pending: list[int] = []  # rows for the tree
    for i, row in enumerate(rows):
        where = row.pop("src") or f"meter {row['meter_id']}"
        row["_where"] = where
        reasons: list[str] = row["reasons"]
        if row["meter_id"] in over:
            f, t, note = over.pop(row["meter_id"])
            hits = [fid for fid, ix in idx.items() if t in ix.all_transformers and (not f or f == fid)]
            if t and len(hits) == 1:
                _set(row, idx[hits[0]], t, "override", "high", f"override: {note}" if note else "override")
                continue
            issues.append(ErrorDetail(f"override {row['meter_id']}", f"override transformer {t!r}"
                                      + (f" on feeder {f!r}" if f else "") + " not in the twin graph", "unknown"))  # fmt: skip
            reasons.append(f"override transformer {t} not in the twin graph: ignored")
        if row["feeder"] and row["feeder"] not in idx:
            issues.append(ErrorDetail(where, f"feeder {row['feeder']!r} not in the twin graph", "unknown"))
            reasons.append(f"source feeder {row['feeder']} not in the twin graph: inferred")
            row["feeder"] = ""
        scope = [row["feeder"]] if row["feeder"] else list(idx)
        if row["role"] == "feeder_head":
            if row["feeder"]:
                row.update(method="source", confidence="high")
                reasons.append("feeder-head meter")
            else:
                issues.append(ErrorDetail(where, "feeder-head meter without a known feeder", "unmapped"))
            continue
        t = row["transformer"]
        if t:
            hits = [f for f in scope if t in idx[f].all_transformers]
            if len(hits) == 1:
                _set(row, idx[hits[0]], t, "source", "high", f"source transformer {t}")
                continue
            issues.append(ErrorDetail(where, f"transformer {t!r} not in the twin graph", "unknown"))
            reasons.append(f"source transformer {t} not in the twin graph: inferred")
            row["transformer"] = ""
        ld = row["load"]
        if ld:
            hits = [f for f in scope if ld in idx[f].load_of]
            if len(hits) == 1:
                ix = idx[hits[0]]
                lrow = ix.load_of[ld]
                t = str(lrow["transformer"])
                row["bus"] = str(lrow["bus"])
                if t:
                    direct = row["bus"] == ix.lv_of[t]
                    _set(row, ix, t, "twin" if direct else "connectivity", "high",
                         f"load {ld} on bus {row['bus']}, fed by {t} " + ("directly" if direct else "via secondary lines"))  # fmt: skip
                else:
                    row.update(feeder=hits[0], method="connectivity", confidence="high")
                    reasons.append(f"load {ld} on primary bus {row['bus']}: no service transformer")
                if not row["phases"]:
                    row["phases"] = str(lrow["phases"])
                continue
            issues.append(ErrorDetail(where, f"load {ld!r} not in the twin graph", "unknown"))
            reasons.append(f"source load {ld} not in the twin graph: inferred")
            row["load"] = ""
        pending.append(i)
    _nearest(rows, pending, idx, issues)
    for rec in rows:
        rec.pop("_where", None)
    directory = pd.DataFrame(rows, columns=DIRECTORY_COLUMNS)
    counts: dict[str, int] = {f"method_{k}": int(v) for k, v in directory["method"].value_counts().items()}
    counts.update(
        {f"confidence_{k or 'none'}": int(v) for k, v in directory["confidence"].value_counts().items()}
    )
    counts.update(meters=len(directory), issues=len(issues))
    return MappingResult(directory=directory, issues=issues, counts=counts)


def _set(row: dict[str, Any], ix: ServiceIndex, t: str, method: str, confidence: str, reason: str) -> None:
    row.update(feeder=ix.feeder, transformer=t, method=method, confidence=confidence)
    row["reasons"].append(reason)
    if t in ix.lv_of:
        if not row["bus"]:
            row["bus"] = ix.lv_of[t]
        if not row["phases"]:
            row["phases"] = phase_string(ix.prim_of[t])


def _nearest(
    rows: list[dict[str, Any]], pending: list[int], idx: Mapping[str, ServiceIndex], issues: list[ErrorDetail]
) -> None:
    """KD-tree step for the rows still unmapped, batched by (feeder scope, phase)."""
    if not pending:
        return
    pts = [(f, t, x, y) for f, ix in idx.items() for t, x, y in ix.points]
    if not pts:
        for i in pending:
            issues.append(
                ErrorDetail(rows[i]["_where"], "no transformer coordinates to map by location", "unmapped")
            )
        return
    feeders = np.array([p[0] for p in pts])
    names = np.array([p[1] for p in pts])
    pxy = np.array([(p[2], p[3]) for p in pts], dtype=np.float64)
    proj = _Projector(pxy[:, 0], pxy[:, 1])
    xy_m = proj(pxy[:, 0], pxy[:, 1])
    pt_nodes = [idx[str(f)].prim_of[str(t)] for f, t in zip(feeders, names, strict=True)]
    groups: dict[tuple[str, str], list[int]] = {}
    for i in pending:
        r = rows[i]
        if not (math.isfinite(r["lon"]) and math.isfinite(r["lat"])):
            issues.append(
                ErrorDetail(
                    r["_where"], "meter has no coordinates and no known transformer or load", "unmapped"
                )
            )
            r["reasons"].append("no coordinates: unmapped")
            continue
        groups.setdefault((r["feeder"], r["phases"]), []).append(i)
    for (feeder, phases), members in groups.items():
        in_scope = feeders == feeder if feeder else np.ones(len(pts), dtype=bool)
        n_scope = len(set(names[in_scope])) if in_scope.any() else 0
        need = _phase_nodes(phases)
        ok = in_scope & np.array([need <= n for n in pt_nodes]) if need else in_scope
        note = ""
        if need and ok.any():
            note = f"phase {phases} restricts to {len(set(names[ok]))} of {n_scope} transformers"
        elif need:
            note, ok = f"no transformer on phase {phases}: phase ignored", in_scope
        if not ok.any():
            for i in members:
                issues.append(
                    ErrorDetail(
                        rows[i]["_where"], f"feeder {feeder} has no transformer coordinates", "unmapped"
                    )
                )
            continue
        sel = np.flatnonzero(ok)
        tree = cKDTree(xy_m[sel])
        q = proj(np.array([rows[i]["lon"] for i in members]), np.array([rows[i]["lat"] for i in members]))
        k = min(_NEIGHBOURS, len(sel))
        dist, nb = tree.query(q, k=k)
        dist, nb = dist.reshape(len(members), k), nb.reshape(len(members), k)
        for j, i in enumerate(members):
            keys = [(feeders[sel[n]], names[sel[n]]) for n in nb[j]]
            first = keys[0]
            d1 = float(dist[j, 0])
            d2 = next((float(d) for kk, d in zip(keys, dist[j], strict=True) if kk != first), math.inf)
            second = next((kk[1] for kk in keys if kk != first), "")
            if d2 == math.inf and k == _NEIGHBOURS:
                d2 = float(dist[j, -1])  # every fetched point is the same transformer: a lower bound
            ratio = d2 / d1 if d1 > 0 else math.inf
            if d1 <= HIGH_M and ratio >= HIGH_RATIO:
                conf = "high"
            elif d1 <= MEDIUM_M and ratio >= MEDIUM_RATIO:
                conf = "medium"
            else:
                conf = "low"
            if note.startswith("no transformer") and conf == "high":
                conf = "medium"
            r = rows[i]
            reason = f"nearest transformer {first[1]} at {d1:.1f} m"
            reason += f"; next {second} at {d2:.1f} m" if second else "; no other transformer near"
            if note:
                r["reasons"].append(note)
            if not feeder:
                r["reasons"].append(f"feeder {first[0]} inferred from the nearest transformer")
            _set(r, idx[str(first[0])], str(first[1]), "nearest", conf, reason)


def directory_from_models(models: Sequence[FeederModel]) -> pd.DataFrame:
    """The twin graph's loads as meters (meter id = load name), for a site without a meter list."""
    rows: list[dict[str, Any]] = []
    for m in models:
        ix = service_index(m)
        lv = dict(zip(ix.transformers["name"], ix.transformers["lv_bus"], strict=True))
        for r in ix.loads.to_dict("records"):
            row = _empty_row(str(r["name"]))
            t = str(r["transformer"])
            x, y = ix.bus_xy.get(str(r["bus"]), (math.nan, math.nan))
            row.update(
                feeder=m.feeder_id, load=r["name"], transformer=t, bus=r["bus"], phases=r["phases"], lon=x,
                lat=y, customer_class=int(r["customer_class"]), confidence="high",
                method="twin" if not t or lv.get(t) == r["bus"] else "connectivity",
            )  # fmt: skip
            row["reasons"] = [
                f"load {r['name']} in the twin graph" + (f", fed by {t}" if t else ", on the primary")
            ]
            rows.append(row)
    directory = pd.DataFrame(rows, columns=DIRECTORY_COLUMNS)
    _check_unique_load_names(directory)
    return directory


def _check_unique_load_names(directory: pd.DataFrame) -> None:
    """Meter ids are unique in a site: two of its feeders with a load of the same name (two copies of a
    test feeder, two synthetic utilities) cannot both be meters by name; say which, and what to do."""
    repeated = directory[directory["meter_id"].duplicated(keep=False)]
    if not len(repeated):
        return
    feeders = repeated.groupby("meter_id", sort=True)["feeder"].apply(lambda f: ", ".join(sorted(set(f))))
    details = [
        ErrorDetail(f"load {name}", f"on feeders {on}", "duplicate")
        for name, on in list(feeders.items())[:20]
    ]
    if len(feeders) > 20:
        details.append(ErrorDetail("...", f"{len(feeders) - 20} more load names repeat", "more"))
    raise InputError(
        "load names repeat across the site's feeders: they cannot be its meter ids; import a meter list",
        details,
    )


def head_check(meter_kw_sum: np.ndarray, head_kw: np.ndarray) -> dict[str, Any]:
    """Summed meter load against a feeder-head meter over the hours where both exist: energy and peak
    ratio (head / meters), correlation, RMSE and the implied losses + unmetered load in % of head energy."""
    a = np.asarray(meter_kw_sum, dtype=np.float64)
    b = np.asarray(head_kw, dtype=np.float64)
    both = np.isfinite(a) & np.isfinite(b)
    n = int(both.sum())
    out: dict[str, Any] = {"hours": n}
    if n == 0:
        return out | {"energy_ratio": None, "peak_ratio": None, "correlation": None, "rmse_kw": None,
                      "losses_unmetered_pct": None}  # fmt: skip
    a, b = a[both], b[both]
    ea, eb = float(a.sum()), float(b.sum())
    corr = float(np.corrcoef(a, b)[0, 1]) if n > 1 and a.std() > 0 and b.std() > 0 else None
    return out | {
        "meter_energy_kwh": ea,
        "head_energy_kwh": eb,
        "energy_ratio": eb / ea if ea else None,
        "peak_ratio": float(b.max() / a.max()) if a.max() else None,
        "correlation": corr,
        "rmse_kw": float(np.sqrt(np.mean((a - b) ** 2))),
        "losses_unmetered_pct": 100.0 * (eb - ea) / eb if eb else None,
    }
