"""One synthetic radial feeder as a ``FeederModel``.

Shape of a feeder (all draws from ``default_rng([seed, index])``, in a fixed order):

- substation: 115 kV source with its short-circuit impedance, a delta-wye transformer with an LTC
  (RegControl), a cable getaway to the first pole;
- a three-phase trunk along the main road: an express section to the service area, then one section
  per block; the conductor tapers after 60 % of the length; a bank of three single-phase regulators
  half way along trunks over 6 km;
- laterals along side streets, single-phase (phase chosen to balance the trunk) or three-phase,
  overhead or underground (URD), one service transformer per lateral bus;
- residential: single-phase centre-tap transformers (120/240 V) feeding 1-4 service points by
  triplex, several meters per service point bus (fewer buses keeps QSTS fast);
- commercial/industrial: three-phase pad mounts (480Y/277 or 208Y/120) on short trunk taps;
- 1-3 switched capacitor banks on the trunk with voltage or kvar control.

Each meter is one Load (``num_customers=1``) whose ``yearly`` shape is one member of its class's
utility-wide pool and whose ``p_kw`` is its own peak demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridtwin.grid.model import FeederModel
from gridtwin.grid.synth.builder import AMPS, Builder, Site, amps_table, feeder_id, frame, pick, uniform
from gridtwin.grid.synth.catalog import (
    linecode_rows,
    next_size,
)
from gridtwin.grid.synth.weather import HOURS

__all__ = ["START_UTC", "SynthFeeder", "feeder_id", "partition", "synth_feeder"]

START_UTC = "2025-01-01T00:00:00+00:00"
TRANSMISSION_KV = 115.0
# Primary voltage (kV LL) -> (probability, single-phase transformer primary kV LN)
_PRIMARY = {
    12.47: (0.55, 7.2),
    13.2: (0.15, 7.62),
    24.9: (0.15, 14.4),
    34.5: (0.08, 19.92),
    4.16: (0.07, 2.4),
}
# Area density: (probability, trunk section m, lateral bus spacing m, express m, URD share, C&I share,
# transformers per lateral)
_DENSITY = {
    "urban": (0.3, (150, 260), (40, 75), (200, 900), 0.25, 0.20, (6, 12)),
    "suburban": (0.45, (250, 450), (60, 110), (500, 2500), 0.5, 0.11, (5, 12)),
    "rural": (0.25, (450, 1000), (150, 400), (1000, 5000), 0.05, 0.05, (3, 9)),
}
_TRUNK_CODES = ("oh3_1_0acsr", "oh3_4_0acsr", "oh3_336acsr", "oh3_556aac")
_SQRT3 = math.sqrt(3.0)
_LTC_VREG_V = 124.0
_LINE_REG_VREG_V = 123.0
_LONG_TRUNK_M = 6000.0


@dataclass
class SynthFeeder:
    model: FeederModel
    profiles: dict[str, np.ndarray] = field(default_factory=dict)  # refs of this feeder alone


def partition(seed: int) -> str:
    """The profile-store partition of a seed's utility-wide shapes and weather."""
    return f"synth-s{seed}"


def synth_feeder(index: int, seed: int, *, site: str = "synth") -> SynthFeeder:
    """Feeder ``index`` of the synthetic utility ``seed`` (independent of how many feeders are made)."""
    amps_table()
    b = Builder(index, seed, site)
    rng = b.rng
    kv_ll = float(pick(rng, _PRIMARY))
    kv_ln = kv_ll / _SQRT3
    kv_1ph = _PRIMARY[kv_ll][1]
    density = str(pick(rng, _DENSITY))
    _, section_m, spacing_m, express_m, urd_share, ci_share, per_lateral = _DENSITY[density]
    n_sites = int(np.clip(round(rng.lognormal(math.log(72.0), 0.38)), 30, 150))
    if kv_ll < 5.0:  # 4.16 kV feeders are short and small
        n_sites = int(np.clip(n_sites // 3, 15, 45))
    sites = b.sites(n_sites, ci_share)
    peak_kw = sum(s.kw for s in sites)

    # substation
    sc_mva = uniform(rng, (1500.0, 3500.0))
    z_ohm = TRANSMISSION_KV**2 / sc_mva
    x1 = z_ohm * 10.0 / math.sqrt(101.0)
    b.rows["sources"].append(
        {
            "name": "source",
            "bus1": "sourcebus",
            "phases": 3,
            "base_kv": TRANSMISSION_KV,
            "v_pu": 1.0,
            "angle_deg": 0.0,
            "frequency_hz": 60.0,
            "r1_ohm": round(x1 / 10.0, 4),
            "x1_ohm": round(x1, 4),
            "r0_ohm": round(x1 / 5.0, 4),
            "x0_ohm": round(3.0 * x1, 4),
            "bus2": "",
            "dss_extra_json": "",
        }
    )
    b.bus("sourcebus", TRANSMISSION_KV / _SQRT3, [1, 2, 3], -60.0, -20.0)
    b.bus("subbus", kv_ln, [1, 2, 3], -30.0, -20.0)
    sub_kva = 1000.0 * next_size((10.0, 15.0, 20.0, 25.0, 30.0), 1.5 * peak_kw / 1000.0)
    b.transformer(
        "subxf", 3, ["sourcebus.1.2.3", "subbus.1.2.3"], ["delta", "wye"], [TRANSMISSION_KV, kv_ll],
        sub_kva, [0.25, 0.25], 8.5, noload=0.05, imag=0.2,
    )  # fmt: skip
    b.regcontrol("subltc", "subxf", _LTC_VREG_V, round(kv_ln * 1000.0 / 120.0, 4),
                 round(sub_kva / (_SQRT3 * kv_ll), 1), 30.0)  # fmt: skip

    # trunk layout: express section, then one section per lateral attachment point
    lateral_sizes: list[int] = []
    res_sites = [s for s in sites if not s.three_phase]
    ci_sites = [s for s in sites if s.three_phase]
    left = len(res_sites)
    while left > 0:
        k = min(left, int(rng.integers(per_lateral[0], per_lateral[1] + 1)))
        lateral_sizes.append(k)
        left -= k
    attach: list[int] = []  # trunk bus (1-based, after express) of each lateral
    tb = 1
    for _ in lateral_sizes:
        attach.append(tb)
        if rng.random() < 0.5 or attach.count(tb) >= 2:
            tb += 1
    n_trunk = max(attach, default=1) + 1
    ci_at = [int(rng.integers(1, n_trunk + 1)) for _ in ci_sites]
    sections = [uniform(rng, express_m)] + [uniform(rng, section_m) for _ in range(n_trunk - 1)]
    trunk_m = float(sum(sections))
    current_a = peak_kw / (_SQRT3 * kv_ll * 0.95)
    # smallest conductor with 25 % margin; long trunks are built heavier (voltage drop, not ampacity)
    lowest = 2 if trunk_m > _LONG_TRUNK_M / 2 else 1
    main = next((c for c in _TRUNK_CODES[lowest:] if AMPS[c][0] >= 1.25 * current_a), _TRUNK_CODES[-1])
    taper = _TRUNK_CODES[max(lowest - 1, _TRUNK_CODES.index(main) - 1)]
    reg_at = 0
    if trunk_m > _LONG_TRUNK_M:
        half, run = trunk_m / 2.0, 0.0
        for k, length in enumerate(sections):
            run += length
            if run >= half:
                reg_at = k + 1
                break

    getaway = uniform(rng, (60.0, 150.0))
    b.bus("t000", kv_ln, [1, 2, 3], getaway - 30.0, 0.0)
    b.line("head", "subbus.1.2.3", "t000.1.2.3", "ug3_500cn", getaway)
    a_pos = [getaway - 30.0]
    prev, run = "t000", 0.0
    for k, length in enumerate(sections, start=1):
        run += length
        a = a_pos[-1] + length
        a_pos.append(a)
        name = b.bus(f"t{k:03d}", kv_ln, [1, 2, 3], a, 0.0)
        code = main if run <= 0.6 * trunk_m else taper
        b.line(f"tr{k:03d}", f"{prev}.1.2.3", f"{name}.1.2.3", code, length)
        prev = name
        if k == reg_at:
            reg_kva, amps = _regulator_size(kv_1ph, 0.8 * current_a)
            out = b.bus(f"{name}r", kv_ln, [1, 2, 3], a + 8.0, 0.0)
            for p, ph in enumerate("abc", start=1):
                b.transformer(
                    f"reg_{ph}", 1, [f"{name}.{p}", f"{out}.{p}"], ["wye", "wye"], [kv_1ph, kv_1ph], reg_kva,
                    [0.005, 0.005], 0.01, noload=0.0, imag=0.0,
                )  # fmt: skip
                b.regcontrol(f"reg{ph}", f"reg_{ph}", _LINE_REG_VREG_V, round(kv_1ph * 1000.0 / 120.0, 4),
                             amps, 45.0)  # fmt: skip
            prev = out

    def trunk_bus(k: int) -> str:
        return f"t{k:03d}r" if k == reg_at else f"t{k:03d}"

    # laterals with residential transformers
    n_x = 0
    it = iter(res_sites)
    side_used: dict[int, int] = {}
    for j, (size, k) in enumerate(zip(lateral_sizes, attach, strict=True), start=1):
        side = -side_used[k] if k in side_used else int(rng.integers(2)) * 2 - 1
        side_used[k] = side
        group = [next(it) for _ in range(size)]
        kw = sum(s.kw for s in group)
        three = size >= 10 or kw > 450 or rng.random() < 0.15
        urd = not three and rng.random() < urd_share
        if three:
            code, phases_used = "oh3_1_0acsr", [1, 2, 3]
        else:
            # the least loaded phase, unless chance says otherwise (real feeders are not perfect)
            order = list(np.argsort(b.phase_kw, kind="stable") + 1)
            phase = int(order[0] if rng.random() < 0.8 else order[1])
            phases_used = [phase]
            code = "ug1_1_0cn" if urd else ("oh1_1_0acsr" if kw > 250 else "oh1_2acsr")
        node = ".1.2.3" if three else f".{phases_used[0]}"
        a0 = a_pos[k] + (8.0 if k == reg_at else 0.0)
        prev_bus, b_m = trunk_bus(k), 0.0
        for m, s in enumerate(group, start=1):
            step = uniform(rng, spacing_m)
            b_m += step
            lat = b.bus(f"l{j:02d}_{m:02d}", kv_ln, phases_used, a0, side * b_m)
            b.line(f"lat{j:02d}_{m:02d}", f"{prev_bus}{node}", f"{lat}{node}", code, step)
            prev_bus = lat
            p = phases_used[(m - 1) % len(phases_used)]
            b.phase_kw[p - 1] += s.kw
            n_x += 1
            _residential(b, s, n_x, f"{lat}.{p}", kv_1ph, urd, a0, side * b_m, spacing_m)

    # commercial and industrial pad mounts on short trunk taps
    for s, k in zip(ci_sites, ci_at, strict=True):
        n_x += 1
        side = int(rng.integers(2)) * 2 - 1
        tap_m = uniform(rng, (20.0, 80.0))
        a0 = a_pos[k] + uniform(rng, (-40.0, 40.0))
        tap = b.bus(f"c{n_x:04d}", kv_ln, [1, 2, 3], a0, side * tap_m)
        b.line(f"tap{n_x:04d}", f"{trunk_bus(k)}.1.2.3", f"{tap}.1.2.3", "oh3_1_0acsr", tap_m)
        lv = b.bus(f"x{n_x:04d}", s.lv_kv / _SQRT3, [1, 2, 3], a0, side * (tap_m + 15.0))
        xhl = 5.75 if s.kva >= 500 else 4.0
        b.transformer(
            f"tx{n_x:04d}", 3, [f"{tap}.1.2.3", f"{lv}.1.2.3"], ["delta", "wye"], [kv_ll, s.lv_kv], s.kva,
            [0.5, 0.5], xhl, noload=0.15, imag=0.4,
        )  # fmt: skip
        for p in range(3):
            b.phase_kw[p] += s.kw / 3.0
        for meter in s.meters:
            b.load(f"{lv}.1.2.3", 3, s.lv_kv, meter)

    _capacitors(b, kv_ll, kv_ln, peak_kw, n_trunk, trunk_bus)
    return SynthFeeder(model=_model(b, kv_ll))


def _regulator_size(kv_ln: float, current_a: float) -> tuple[float, float]:
    amps = next((a for a in (100.0, 150.0, 219.0, 328.0, 438.0, 668.0) if a >= 1.3 * current_a), 668.0)
    return round(kv_ln * amps, 1), amps


def _residential(
    b: Builder, s: Site, n: int, primary: str, kv_1ph: float, urd: bool, a0: float, b0: float,
    spacing: tuple[float, float],
) -> None:  # fmt: skip
    """A centre-tap transformer beside lateral bus ``primary`` and its service points and meters."""
    rng = b.rng
    lv = b.bus(f"x{n:04d}", 0.12, [1, 2], a0 + 12.0, b0)
    r_pct = 1.2 if s.kva <= 25 else (0.9 if s.kva <= 50 else 0.7)
    b.transformer(
        f"tx{n:04d}", 1, [primary, f"{lv}.1.0", f"{lv}.0.2"], ["wye", "wye", "wye"], [kv_1ph, 0.12, 0.12],
        s.kva, [r_pct / 2, r_pct, r_pct], 2.04, 2.04, 1.36, noload=0.2, imag=0.5,
    )  # fmt: skip
    n_sp = int(np.clip(math.ceil(len(s.meters) / 4), 1, 4))
    groups = np.array_split(np.arange(len(s.meters)), n_sp)
    for q, idx in enumerate(groups, start=1):
        length = uniform(rng, (max(15.0, spacing[0] * 0.4), max(40.0, spacing[0] * 0.9)))
        offset = length * (1 if q % 2 else -1)
        sp = b.bus(f"x{n:04d}_{q}", 0.12, [1, 2], a0 + 12.0 + (8.0 if urd else 0.0) * q, b0 + offset)
        code = "tpx_4_0aa" if len(idx) > 2 else "tpx_1_0aa"
        b.line(f"sec{n:04d}_{q}", f"{lv}.1.2", f"{sp}.1.2", code, abs(length))
        for i in idx:
            b.load(f"{sp}.1.2", 1, 0.24, s.meters[int(i)])


def _capacitors(b: Builder, kv_ll: float, kv_ln: float, peak_kw: float, n_trunk: int, trunk_bus: Any) -> None:
    rng = b.rng
    n_caps = 1 if peak_kw < 3000 else (2 if peak_kw < 7000 else 3)
    per_cap = 0.35 * peak_kw / n_caps
    kvar = min((300.0, 450.0, 600.0, 900.0, 1200.0), key=lambda v: abs(v - per_cap))
    pt_ratio = round(kv_ln * 1000.0 / 120.0, 4)
    for c in range(1, n_caps + 1):
        k = max(1, min(n_trunk, round(n_trunk * (0.3 + 0.5 * c / (n_caps + 1)))))
        bus = trunk_bus(k)
        kind = "voltage" if rng.random() < 0.7 else "kvar"
        b.rows["capacitors"].append(
            {
                "name": f"cap{c}",
                "bus1": f"{bus}.1.2.3",
                "bus2": "",
                "phases": 3,
                "conn": "wye",
                "kv": kv_ll,
                "kvars_kvar": [kvar],
                "states": [1],
                "enabled": True,
                "dss_extra_json": "",
            }
        )
        on, off = (118.0, 125.0) if kind == "voltage" else (round(0.6 * kvar, 1), round(-0.6 * kvar, 1))
        b.rows["capcontrols"].append(
            {
                "name": f"capctl{c}",
                "capacitor": f"cap{c}",
                "element": f"line.tr{k:03d}",
                "terminal": 1,
                "type": kind,
                "on_setting": on,
                "off_setting": off,
                "pt_ratio": pt_ratio,
                "ct_ratio": 1.0,
                "delay_s": 60.0 + 15.0 * c,
                "delay_off_s": 60.0 + 15.0 * c,
                "vmin_v": 115.0,
                "vmax_v": 126.0,
                "volt_override": kind == "kvar",
                "pt_phase": 1,
                "ct_phase": 1,
                "dead_time_s": 300.0,
                "enabled": True,
                "dss_extra_json": "",
            }
        )


def _model(b: Builder, kv_ll: float) -> FeederModel:
    part = partition(b.seed)
    b.rows["linecodes"] = linecode_rows(sorted(b.codes))
    b.rows["loadshapes"] = [
        {
            "name": name,
            "npts": HOURS,
            "interval_h": 1.0,
            "mult": [],
            "qmult": [],
            "hours": [],
            "use_actual": False,
            "profile": f"loadshape/{part}/{name}",
            "dss_extra_json": "",
        }
        for name in sorted(b.shapes)
    ]
    order = ("buses", "sources", "linecodes", "lines", "transformers", "regcontrols", "capacitors",
             "capcontrols", "loads", "loadshapes")  # fmt: skip
    tables = {name: frame(name, b.rows[name]) for name in order}
    circuit = {
        "name": b.fid.lower(),
        "base_frequency_hz": 60.0,
        "voltage_bases_kv": sorted({TRANSMISSION_KV, kv_ll, 0.48, 0.208}, reverse=True),
        # Static: a snapshot settles the LTC, regulators and capacitors; QSTS switches to time mode
        # itself so their delays act across steps.
        "control_mode": "static",
        "max_iterations": 30,
        "max_control_iterations": 30,
        "start_utc": START_UTC,
        "ambient_profile": f"weather/{part}/temp_c",
    }
    return FeederModel(feeder_id=b.fid, site=b.site, circuit=circuit, tables=tables)
