"""Row builders for the synthetic feeder: buses, lines, transformers, regulators and meters as
``TABLES`` rows, and the customer draws (class, peak kW, power factor, pool member)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from gridtwin.grid.model import TABLES
from gridtwin.grid.synth.catalog import LINECODES, SERVICE_KVA_1PH, SERVICE_KVA_3PH, linecode_rows, next_size
from gridtwin.grid.synth.layout import feeder_frame
from gridtwin.grid.synth.shapes import CLASSES, POOL_SIZE

__all__ = ["AMPS", "Builder", "Meter", "Site", "amps_table", "feeder_id", "frame", "pick", "uniform"]


def feeder_id(index: int, seed: int) -> str:
    return f"synth-s{seed}-f{index:04d}"


@dataclass
class Meter:
    cls: int  # 1 res, 2 com, 3 ind
    p_kw: float
    pf: float
    shape: str


@dataclass
class Site:
    """A service transformer and its meters, before placement."""

    three_phase: bool
    meters: list[Meter]
    kva: float = 0.0
    lv_kv: float = 0.24  # LL of the secondary (0.24 centre-tap, 0.208 or 0.48 three-phase)

    @property
    def kw(self) -> float:
        return sum(m.p_kw for m in self.meters)


def pick(rng: np.random.Generator, table: dict[Any, tuple[Any, ...]]) -> Any:
    keys = list(table)
    p = np.asarray([table[k][0] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


class Builder:
    def __init__(self, index: int, seed: int, site: str) -> None:
        self.index, self.seed, self.site = index, seed, site
        self.fid = feeder_id(index, seed)
        self.rng = np.random.default_rng([seed, index])
        self.frame = feeder_frame(index, seed)
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        self.codes: set[str] = set()
        self.shapes: set[str] = set()
        self.n_meters = 0
        self.phase_kw = [0.0, 0.0, 0.0]

    # -- element helpers -------------------------------------------------------------------------

    def bus(self, name: str, base_kv: float, nodes: list[int], a_m: float, b_m: float) -> str:
        x, y = self.frame.lonlat(a_m, b_m)
        self.rows["buses"].append(
            {"name": name, "base_kv": base_kv, "nodes": nodes, "x": x, "y": y, "has_coords": True}
        )
        return name

    def line(self, name: str, bus1: str, bus2: str, code: str, length_m: float) -> None:
        spec = LINECODES[code]
        self.codes.add(code)
        amps = AMPS[code]
        self.rows["lines"].append(
            {
                "name": name,
                "bus1": bus1,
                "bus2": bus2,
                "phases": spec.phases,
                "linecode": code,
                "length_m": round(length_m, 1),
                "norm_amps_a": amps[0],
                "emerg_amps_a": amps[1],
                "is_switch": False,
                "enabled": True,
                "open_conductors": [],
                "dss_extra_json": "",
            }
        )

    def transformer(
        self,
        name: str,
        phases: int,
        buses: list[str],
        conns: list[str],
        kvs: list[float],
        kva: float,
        pct_r: list[float],
        xhl: float,
        xht: float = 35.0,
        xlt: float = 30.0,
        noload: float = 0.2,
        imag: float = 0.5,
    ) -> None:
        n = len(buses)
        self.rows["transformers"].append(
            {
                "name": name,
                "phases": phases,
                "windings": n,
                "buses": buses,
                "conns": conns,
                "kvs_kv": kvs,
                "kvas_kva": [kva] * n,
                "pct_rs": pct_r,
                "taps_pu": [1.0] * n,
                "xhl_pct": xhl,
                "xht_pct": xht,
                "xlt_pct": xlt,
                "pct_noload_loss": noload,
                "pct_imag": imag,
                "norm_hkva_kva": round(1.1 * kva, 3),
                "emerg_hkva_kva": round(1.5 * kva, 3),
                "min_taps_pu": [0.9] * n,
                "max_taps_pu": [1.1] * n,
                "num_taps": [32] * n,
                "rneuts_ohm": [-1.0] * n,
                "xneuts_ohm": [0.0] * n,
                "ppm_antifloat": 1.0,
                "dss_extra_json": "",
            }
        )

    def regcontrol(self, name: str, xf: str, vreg: float, pt_ratio: float, ct_a: float, delay: float) -> None:
        self.rows["regcontrols"].append(
            {
                "name": name,
                "transformer": xf,
                "winding": 2,
                "vreg_v": vreg,
                "band_v": 2.0,
                "pt_ratio": pt_ratio,
                "ct_prim_a": ct_a,
                "r_v": 0.0,
                "x_v": 0.0,
                "delay_s": delay,
                "tap_delay_s": 2.0,
                "max_tap_change": 16,
                "pt_phase": 1,
                "reversible": False,
                "enabled": True,
                "dss_extra_json": "",
            }
        )

    def load(self, bus1: str, phases: int, kv: float, m: Meter) -> None:
        self.n_meters += 1
        self.shapes.add(m.shape)
        q = m.p_kw * math.tan(math.acos(m.pf))
        self.rows["loads"].append(
            {
                "name": f"m{self.n_meters:06d}",
                "bus1": bus1,
                "phases": phases,
                "conn": "wye",
                "model": 1,
                "kv": kv,
                "p_kw": m.p_kw,
                "q_kvar": round(q, 3),
                "vmin_pu": 0.85,
                "vmax_pu": 1.15,
                "zipv": [],
                "yearly": m.shape,
                "daily": "",
                "duty": "",
                "customer_class": m.cls,
                "num_customers": 1,
                "status": "variable",
                "cvr_watts": 1.0,
                "cvr_vars": 2.0,
                "enabled": True,
                "dss_extra_json": "",
            }
        )

    # -- draws -----------------------------------------------------------------------------------

    def meter(self, cls: int) -> Meter:
        rng = self.rng
        if cls == 1:
            p, pf = (
                float(np.clip(rng.lognormal(math.log(4.3), 0.3), 2.5, 9.0)),
                float(rng.uniform(0.95, 0.98)),
            )
        elif cls == 2:
            p, pf = (
                float(np.clip(rng.lognormal(math.log(35.0), 0.7), 8.0, 250.0)),
                float(rng.uniform(0.88, 0.95)),
            )
        else:
            p, pf = (
                float(np.clip(rng.lognormal(math.log(180.0), 0.6), 50.0, 800.0)),
                float(rng.uniform(0.85, 0.92)),
            )
        shape = f"{CLASSES[cls - 1]}-{int(rng.integers(POOL_SIZE)):03d}"
        return Meter(cls, round(p, 2), round(pf, 3), shape)

    def sites(self, n: int, ci_share: float) -> list[Site]:
        rng = self.rng
        # A quarter of feeders carry some undersized legacy transformers: the overloads planners find.
        legacy = 0.06 if rng.random() < 0.25 else 0.0
        out: list[Site] = []
        for _ in range(n):
            if rng.random() < ci_share:
                cls = 3 if rng.random() < 0.3 else 2
                count = int(rng.integers(1, 3)) if cls == 3 else int(rng.integers(1, 6))
                site = Site(True, [self.meter(cls) for _ in range(count)])
                kva = site.kw / 0.9 * float(rng.uniform(1.0, 1.35))
                site.kva = next_size(SERVICE_KVA_3PH, kva)
                site.lv_kv = 0.48 if cls == 3 or site.kw > 150 else 0.208
            else:
                site = Site(False, [self.meter(1) for _ in range(int(rng.integers(5, 17)))])
                margin = float(rng.uniform(0.7, 0.9) if rng.random() < legacy else rng.uniform(1.0, 1.35))
                site.kva = next_size(SERVICE_KVA_1PH, site.kw / 0.96 * margin)
            out.append(site)
        return out


AMPS: dict[str, tuple[float, float]] = {}


def amps_table() -> None:
    if not AMPS:
        for row in linecode_rows():
            AMPS[str(row["name"])] = (float(row["norm_amps_a"]), float(row["emerg_amps_a"]))


def frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as the reader and ``from_ipc`` give them: Arrow-typed through pandas."""
    spec = TABLES[table]
    names = spec.column_names()
    full = [{c: r.get(c) for c in names} for r in rows]
    return pa.Table.from_pylist(full, schema=spec.schema()).to_pandas()
