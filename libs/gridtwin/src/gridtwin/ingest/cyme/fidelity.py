"""The CYME-vs-OpenDSS fidelity cases (IEEE 13 and IEEE 4) shared by tests and the bench table.

Each case names the CYME export, its OpenDSS counterpart, how CYME node ids map to OpenDSS bus names,
and the edits that give the OpenDSS original the same *physical input data* as the export where the
two test-case files differ (so the table measures the import, not the data). Every edit group says
why; the bench reports the figure raw (no edits) and after each group.

IEEE 13 (export vs ``IEEE13Nodeckt.dss``):

- regulator taps: the export fixes them at 10/8/11 steps (Kersting's published solution); the
  OpenDSS RegControls (vreg 122, R 3, X 9) settle elsewhere, so its taps are pinned to the export's.
- source: the export's source equivalent at 650 is 4.16 kV (1.0000 pu) behind 0.001731 + j0.013844
  ohm (Z0 = Z1) -- the substation's 1 % + j8 % taken on a 100 MVA base. The OpenDSS file holds 650 at
  1.0001 pu through a stiff 115 kV source and a 5 MVA transformer whose impedance it divides by 1000.
  The edit makes the OpenDSS source 1.0 pu, near-infinite, and gives the transformer the export's
  impedance: %R 0.025 + 0.025 and XHL 0.4 % on 5 MVA = 0.0017306 + j0.013844 ohm at 4.16 kV.
- cable 606: the export's LINE606 has Kersting's original self impedances (0.7982 + j0.4463 ohm/mi,
  257 nF/mi) but mutual terms of 0.010625 + j0.010625 ohm/km on every pair, neither the original's
  (0.3192 + j0.0328 ...) nor the 2016 corrected matrix the OpenDSS file uses: the original gets the
  export's matrix as is.
- distributed load on 632-671: the export spreads it uniformly along the section; the reader uses
  Kersting's exact lumped equivalent (2/3 at a quarter of the length, 1/3 at 671, see ``loads``).
  The OpenDSS file lumps all of it at 670, a third of the way (right losses, 2/3 of the voltage
  drop): the edit moves 670 to a quarter of the way and puts the same 2/3 + 1/3 split there, so the
  reader's quarter bus is compared with 670.

IEEE 4 (the export is the open-wye / open-delta bank, TRANSFORMER SETTING Conn=6, with delta loads;
its counterpart is ``4Bus-OYOD-UnBal``):

- source and loads: the export's source has 0.1 + j0.6 ohm (Z0 0.5 + j0.5) and its loads are
  1275/1800/2375 kW at 85/90/95 % in a constant-impedance class (Kersting's); the OpenDSS file has an
  infinite source and 850/1200/1583 kW constant power: the original is edited to the export's values,
  and its transformers get the import's 1 ppm anti-float shunt.
- not edited: line 3-4 (OpenDSS linecode 300) is the same 3-wire 336 ACSR on the same spacing as the
  export's section 111 (Kersting's modified-Carson matrix there, OpenDSS line constants here).
- the delta secondary (buses 3 and 4) has no ground reference: its line-to-neutral voltages float
  (set by line capacitance and anti-float shunts only), so it is compared phase-to-phase (``LL``).

As shipped (``ieee13_variants``): the IEEE 13 export rewritten into the forms utilities ship the same
network in -- a zero-length jumper, each column format of capacitor ratings, the regulators as one
three-phase regulator whose PhaseON names one phase, regulators controlled (the export's own settings,
or Kersting's), each spelling of XFM-1's grounded wye-wye connection. ``variant_case`` writes one into a
folder the caller gives (never the shared data) and returns its case: regulator mode, edit groups. The
rewrites refuse an export they no longer find their records in, so a variant cannot quietly become the
plain export.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = [
    "IEEE13_TAPS_PINNED",
    "EditGroup",
    "FidelityCase",
    "Variant",
    "fidelity_cases",
    "ieee13_data_edits",
    "ieee13_variants",
    "read_export",
    "rewrite_records",
    "variant_case",
]


@dataclass(frozen=True)
class EditGroup:
    """OpenDSS commands run on the original after compiling it, and why; ``bus_map`` adds renames
    (import bus -> original bus) that only hold once these edits are in."""

    why: str
    commands: tuple[str, ...]
    bus_map: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FidelityCase:
    name: str
    cyme_dir: Path
    master: Path
    bus_map: dict[str, str] = field(default_factory=dict)
    edit_groups: tuple[EditGroup, ...] = ()
    line_to_line: tuple[str, ...] = ()  # original bus names compared phase-to-phase
    # The figures measure the import against the export's own solution: its regulator taps are
    # pinned (the export's controls, e.g. IEEE 13's Vset 116.19 V without LDC, settle elsewhere).
    regulators: str = "fixed"

    @property
    def edits(self) -> tuple[str, ...]:
        return tuple(c for g in self.edit_groups for c in g.commands)

    def bus_map_with(self, groups: int | None = None) -> dict[str, str]:
        """``bus_map`` plus the renames of the first ``groups`` edit groups (all by default)."""
        out = dict(self.bus_map)
        for g in self.edit_groups[:groups]:
            out.update(g.bus_map)
        return out


def _distributed_load_edits() -> EditGroup:
    commands = ["edit line.632670 length=500 units=ft", "edit line.670671 length=1500 units=ft"]
    for node, (phase, kw, kvar) in enumerate((("a", 17.0, 10.0), ("b", 66.0, 38.0), ("c", 117.0, 68.0)), 1):
        commands.append(f"edit load.670{phase} kw={kw * 2 / 3:.6f} kvar={kvar * 2 / 3:.6f}")
        commands.append(
            f"new load.670{phase}_end bus1=671.{node} phases=1 conn=wye model=1 kv=2.4"
            f" kw={kw / 3:.6f} kvar={kvar / 3:.6f}"
        )
    return EditGroup(
        "distributed load 632-671 as Kersting's exact lumped equivalent (670 at 1/4)",
        tuple(commands),
        {"l632_671_q1": "670"},
    )


IEEE13_TAPS_PINNED = EditGroup(
    "regulator taps pinned to the export's 10/8/11 steps",
    (
        "set controlmode=off",
        "edit transformer.reg1 wdg=2 tap=1.0625",
        "edit transformer.reg2 wdg=2 tap=1.05",
        "edit transformer.reg3 wdg=2 tap=1.06875",
    ),
)


def ieee13_data_edits() -> tuple[EditGroup, ...]:
    """The IEEE 13 edit groups after the regulator one: source, cable 606, distributed load."""
    return (
        EditGroup(
            "source: the export's 1.0 pu behind 0.001731 + j0.013844 ohm at 650",
            (
                "edit vsource.source pu=1.0 r1=1e-6 x1=1e-5 r0=1e-6 x0=1e-5",
                "edit transformer.sub %rs=[0.025 0.025] xhl=0.4",
            ),
        ),
        EditGroup(
            "cable 606: the export's LINE606 matrix",
            (
                "edit linecode.mtx606 units=km"
                " rmatrix=[0.495978 | 0.010625 0.490324 | 0.010625 0.010625 0.495978]"
                " xmatrix=[0.277318 | 0.010625 0.251096 | 0.010625 0.010625 0.277318]"
                " cmatrix=[159.6973 | 0 159.6973 | 0 0 159.6973]",  # 60.204451 uS/km at 60 Hz
                "edit line.692675 linecode=mtx606 length=152.4 units=m",  # a line copies a code when set
            ),
        ),
        _distributed_load_edits(),
    )


def fidelity_cases(shared: Path) -> list[FidelityCase]:
    ieee = shared / "opendss" / "IEEETestCases"
    oyod = {"107": "sourcebus", "2": "sd_unbal_oy_od_2", "3": "sd_unbal_oy_od_3", "4": "sd_unbal_oy_od_4"}
    return [
        FidelityCase(
            "ieee13",
            shared / "cyme" / "ieee_13node",
            ieee / "13Bus" / "IEEE13Nodeckt.dss",
            edit_groups=(IEEE13_TAPS_PINNED, *ieee13_data_edits()),
        ),
        FidelityCase(
            "ieee4",
            shared / "cyme" / "ieee_4node",
            ieee / "4Bus-OYOD-UnBal" / "4bus-OYOD-UnBal.dss",
            bus_map=oyod,
            edit_groups=(
                EditGroup(
                    "source, loads and anti-float shunts: the export's values",
                    (
                        "edit vsource.source r1=0.1 x1=0.6 r0=0.5 x0=0.5",
                        "edit transformer.sd_unbal_oy_od_xfma ppm=1",
                        "edit transformer.sd_unbal_oy_od_xfmb ppm=1",
                        "edit load.sd_unbal_d_gy_load1 kw=1275 pf=0.85 model=2 vminpu=0.8",
                        "edit load.sd_unbal_d_gy_load2 kw=1800 pf=0.9 model=2 vminpu=0.8",
                        "edit load.sd_unbal_d_gy_load3 kw=2375 pf=0.95 model=2 vminpu=0.8",
                    ),
                ),
            ),
            line_to_line=("sd_unbal_oy_od_3", "sd_unbal_oy_od_4"),
        ),
    ]


# -- as-shipped variants -----------------------------------------------------------------------------
#
# Utilities ship the same network in forms the shared IEEE 13 export does not use. Each variant rewrites
# that export (in memory; the caller writes the result into a folder of its own, never into the shared
# data) into one such form, and says what its figures against OpenDSS should be and which warnings the
# import report should carry.

Files = dict[str, str]  # file name -> text of one export


@dataclass(frozen=True)
class Variant:
    """A rewrite of a case's export. ``rewrite`` None: the export as shipped (read from its folder);
    ``edit_groups`` None: the case's; ``warnings``: the import report's expected warning counts."""

    name: str
    what: str
    expect: str
    rewrite: Callable[[Files], Files] | None = None
    regulators: str = "fixed"
    edit_groups: tuple[EditGroup, ...] | None = None
    warnings: dict[str, int] = field(default_factory=dict)


def read_export(folder: Path) -> Files:
    """The ``*.txt`` files of an export folder by name (as ``read_cyme`` takes a folder)."""
    out: Files = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".txt"):
        raw = path.read_bytes()
        try:
            out[path.name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            out[path.name] = raw.decode("latin-1")  # older CYME exports are Windows-1252
    return out


def variant_case(case: FidelityCase, variant: Variant, folder: Path) -> FidelityCase:
    """The case for ``variant``: its export rewritten into ``folder`` (created; the caller's, e.g. a
    temporary one), its regulator mode and edit groups."""
    cyme_dir = case.cyme_dir
    if variant.rewrite is not None:
        source, target = case.cyme_dir.resolve(), folder.resolve()
        if target == source or source in target.parents:
            raise ValueError(
                f"variant {variant.name!r}: {folder} is the export's own folder; give one of yours"
            )
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in variant.rewrite(read_export(case.cyme_dir)).items():
            (folder / name).write_text(text, encoding="utf-8")
        cyme_dir = folder
    return replace(
        case,
        name=f"{case.name}/{variant.name}",
        cyme_dir=cyme_dir,
        regulators=variant.regulators,
        edit_groups=case.edit_groups if variant.edit_groups is None else variant.edit_groups,
    )


def _split_values(text: str) -> list[str]:
    return next(csv.reader([text]))


def _join_values(values: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


def rewrite_records(
    text: str,
    section: str,
    fn: Callable[[dict[str, str]], list[dict[str, str]]],
    columns: Sequence[str] | None = None,
) -> str:
    """``text`` with every plain data line of ``[section]`` passed through ``fn`` (a record, column ->
    value, in; the records to write in its place out: ``[]`` drops it, two add one). ``columns``
    replaces the section's FORMAT columns (records are written in them, a missing value blank).
    A rewrite that finds no such section or changes no record is a ``ValueError``: the export it was
    written for has changed, and the variant would silently be the plain export."""
    lines = text.split("\n")
    out: list[str] = []
    inside = found = False
    plain, keys, fmt, changed = "", set[str](), list[str](), 0
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            inside = " ".join(stripped[1:-1].upper().split()) == section
            found = found or inside
            plain, keys, fmt = "", set(), []
            out.append(line)
            continue
        if not inside or not stripped or stripped.startswith(("#", "//", ";")):
            out.append(line)
            continue
        key, eq, rest = stripped.partition("=")
        ukey = key.strip().upper()
        if eq and ukey.startswith("FORMAT_"):
            name = ukey.removeprefix("FORMAT_")
            keys.add(name)
            if not plain or name == plain or name == section.replace(" ", ""):
                plain = name
                fmt = [c.strip() for c in _split_values(rest)]
                while fmt and not fmt[-1]:
                    fmt.pop()
                if columns is not None:
                    line = f"{key.strip()}={','.join(columns)}"
            out.append(line)
            continue
        if eq and ukey in keys and ukey != plain:
            out.append(line)  # a KEY=... line of another format (FEEDER= in [SECTION])
            continue
        values = _split_values(stripped)
        record = {c: (values[i].strip() if i < len(values) else "") for i, c in enumerate(fmt)}
        new = fn(dict(record))
        if columns is None and new == [record]:
            out.append(line)  # untouched, byte for byte
            continue
        changed += 1
        written = list(columns) if columns is not None else fmt
        out.extend(_join_values([r.get(c, "") for c in written]) for r in new)
    if not found or not changed:
        raise ValueError(
            f"variant rewrite: no record of [{section}] was changed (is this the expected export?)"
        )
    return "\n".join(out)


def _rewrite(
    files: Files,
    section: str,
    fn: Callable[[dict[str, str]], list[dict[str, str]]],
    columns: Sequence[str] | None = None,
) -> Files:
    """``rewrite_records`` on the one file of the export that holds ``[section]``."""
    header = f"[{section}]"
    holders = [n for n, t in files.items() if any(ln.strip().upper() == header for ln in t.splitlines())]
    if len(holders) != 1:
        raise ValueError(f"variant rewrite: [{section}] is in {len(holders)} files of the export")
    return {**files, holders[0]: rewrite_records(files[holders[0]], section, fn, columns)}


def _where(
    key: str, value: str, change: Callable[[dict[str, str]], dict[str, str]]
) -> Callable[[dict[str, str]], list[dict[str, str]]]:
    """A record function: ``change`` the records whose ``key`` is ``value``, keep the others."""
    return lambda r: [change(r) if r.get(key) == value else r]


def _zero_length_jumper(files: Files) -> Files:
    """A 0 m jumper (section J632: 632 -> new node 632J, the 4/0 conductors of 633's line) and 633's
    line fed from 632J."""
    files = _rewrite(
        files,
        "NODE",
        lambda r: (
            [r, {"NodeID": "632J", "CoordX": "-2.564756", "CoordY": r["CoordY"]}]
            if r.get("NodeID") == "632"
            else [r]
        ),
    )
    files = _rewrite(
        files,
        "SECTION",
        lambda r: (
            [{**r, "SectionID": "J632", "ToNodeID": "632J"}, {**r, "FromNodeID": "632J"}]
            if r.get("SectionID") == "L632_633"
            else [r]
        ),
    )
    return _rewrite(
        files,
        "OVERHEAD BYPHASE SETTING",
        lambda r: (
            [{**r, "SectionID": "J632", "DeviceNumber": "J632", "Length": "0.000000"}, r]
            if r.get("SectionID") == "L632_633"
            else [r]
        ),
    )


def _caps(
    columns: Sequence[str], write: Callable[[dict[str, str], str, float], dict[str, str]]
) -> Callable[[Files], Files]:
    """Rewrite ``[SHUNT CAPACITOR SETTING]`` into ``columns``: ``write(record, phases, kvar per phase)``
    gives the new record from the export's Phase and KVAR."""

    def rewrite(files: Files) -> Files:
        def one(r: dict[str, str]) -> list[dict[str, str]]:
            phases = "".join(p for p in "ABC" if p in r["Phase"].upper())
            return [write(r, phases, float(r["KVAR"]))]

        return _rewrite(files, "SHUNT CAPACITOR SETTING", one, columns)

    return rewrite


_CAP_HEAD = ("SectionID", "DeviceNumber", "Location", "Connection")
_CAP_TAIL = ("ShuntCapacitorID", "ConnectionStatus")


def _fixed_kvar(r: dict[str, str], phases: str, kvar: float) -> dict[str, str]:
    out = {**r, "KVLN": r["KV"], "Control": "0"}
    for p in "ABC":
        out[f"FixedKVAR{p}"] = f"{kvar if p in phases else 0.0:.6f}"
        out[f"SwitchedKVAR{p}"] = "0.000000"
    return out


def _kvar_abc(r: dict[str, str], phases: str, kvar: float) -> dict[str, str]:
    return {**r, **{f"KVAR{p}": f"{kvar if p in phases else 0.0:.6f}" for p in "ABC"}}


def _three_phase_kvar(r: dict[str, str], phases: str, kvar: float) -> dict[str, str]:
    return {**r, "KVAR": "0.000000", "ThreePhaseKVAR": f"{kvar * len(phases):.6f}"}


def _set(**values: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda r: {**r, **values}


def _three_phase_regulator(files: Files) -> Files:
    """The regulator as one three-phase unit (Type 1, the bank's 3 x 150 kVA) whose PhaseON names A."""
    kva = {k: "450.000000" for k in ("KVA", "KVA_1", "KVA_2", "KVA_3", "KVA_4")}
    files = _rewrite(files, "REGULATOR", _where("ID", "REG650-632", _set(Type="1", **kva)))
    return _rewrite(files, "REGULATOR SETTING", _where("SectionID", "650REG", _set(PhaseON="A")))


def _kersting_settings(files: Files) -> Files:
    """Kersting's regulator settings (122 V, R 3, X 9 on every phase) in place of the export's."""
    settings = {
        f"{k}{p}": v
        for k, v in (("Vset", "122.000000"), ("Rset", "3.000000"), ("Xset", "9.000000"))
        for p in "ABC"
    }
    return _rewrite(files, "REGULATOR SETTING", _where("SectionID", "650REG", _set(**settings)))


def _xfm1_conn(setting: str, equipment: str | None) -> Callable[[Files], Files]:
    """XFM-1's connection written ``setting`` in its setting and ``equipment`` in its catalog entry
    (None: the catalog entry as shipped, Y_Y)."""

    def rewrite(files: Files) -> Files:
        if equipment is not None:
            files = _rewrite(files, "TRANSFORMER", _where("ID", "XFM1_XFO", _set(Conn=equipment)))
        return _rewrite(
            files, "TRANSFORMER SETTING", _where("SectionID", "L633_634_XFM_1", _set(Conn=setting))
        )

    return rewrite


IEEE13_REGCONTROLS = ("reg1", "reg2", "reg3")
IEEE13_EXPORT_TAPS = (1.0625, 1.05, 1.06875)  # 10, 8, 11 steps of 0.625 %


def ieee13_variants() -> list[Variant]:
    """The IEEE 13 export as utilities ship it (see ``Variant``); every one is the same feeder."""
    same = "the plain export's figures"
    fixed = {"fixed_taps": 1}
    caps = [
        (
            "caps_fixed_kvar_abc",
            "capacitors as FixedKVARA/B/C + SwitchedKVARA/B/C (0) + KVLN (CYME 7+)",
            (*_CAP_HEAD, "FixedKVARA", "FixedKVARB", "FixedKVARC", "SwitchedKVARA", "SwitchedKVARB",
             "SwitchedKVARC", "KVLN", "Control", *_CAP_TAIL),
            _fixed_kvar,
        ),
        (
            "caps_kvar_abc",
            "capacitors as KVARA/B/C + KV (the .mdb tables' columns)",
            (*_CAP_HEAD, "KVARA", "KVARB", "KVARC", "KV", *_CAP_TAIL),
            _kvar_abc,
        ),
        (
            "caps_three_phase_kvar",
            "capacitors as the bank's ThreePhaseKVAR (KVAR 0) + Phase",
            (*_CAP_HEAD, "Phase", "KVAR", "ThreePhaseKVAR", "KV", *_CAP_TAIL),
            _three_phase_kvar,
        ),
        (
            "caps_kvar_phase",
            "capacitors as legacy KVAR (per phase) + Phase only",
            (*_CAP_HEAD, "Phase", "KVAR", "KV", *_CAP_TAIL),
            lambda r, _p, _k: r,
        ),
    ]  # fmt: skip
    start_taps = tuple(
        f"edit transformer.{rc} wdg=2 tap={tap}"
        for rc, tap in zip(IEEE13_REGCONTROLS, IEEE13_EXPORT_TAPS, strict=True)
    )
    same_settings = EditGroup(
        "OpenDSS's RegControls given the export's settings (vreg 116.19, R 0, X 0, delay 4 s) and taps",
        tuple(f"edit regcontrol.{rc} vreg=116.19 r=0 x=0 delay=4 tapdelay=0.5" for rc in IEEE13_REGCONTROLS)
        + start_taps,
    )
    # Below 0.95 pu (OpenDSS's default vminpu) OpenDSS turns a load constant-impedance; the export's
    # customer classes hold their model down to 80 % (LoadFlowVoltagePercentOfNominal), as the import
    # does. Only a feeder regulated as low as the export's settings put it gets there.
    load_limit = EditGroup(
        "loads: the export's 80 % load-flow voltage limit (vminpu 0.8, OpenDSS's default 0.95)",
        ("batchedit load..* vminpu=0.8",),
    )
    kersting_start = EditGroup(
        "OpenDSS's RegControls (122 V, R 3, X 9) regulate from the export's taps (10/8/11 steps)",
        start_taps,
    )
    return [
        Variant(
            "zero_length",
            "a 0 m jumper 632 -> 632J (4/0 by phase) feeding 633's line",
            same + " (the jumper is the 1e-4 ohm switch line)",
            _zero_length_jumper,
            warnings={**fixed, "zero_length": 1},
        ),
        *(
            Variant(name, what, same, _caps(columns, write), warnings=fixed)
            for name, what, columns, write in caps
        ),
        Variant(
            "regulator_three_phase_on_a",
            "the three regulators as one three-phase regulator (Type 1, 450 kVA) with PhaseON=A",
            same + " (every phase regulated, each on its own tap)",
            _three_phase_regulator,
            warnings={**fixed, "three_phase_regulator": 1},
        ),
        Variant(
            "regulators_controlled",
            "the export as shipped, regulators controlled (its Vset 116.19 V, no LDC)",
            "rg60 regulated into 116.19 +- 1 V on the PT: far from the taps pinned at 10/8/11",
            regulators="controlled",
        ),
        Variant(
            "regulators_controlled_vs_same",
            "the export as shipped, regulators controlled; OpenDSS's RegControls given the same settings",
            "the same taps on both sides (4 steps of buck, rg60 in 116.19 +- 1 V); with the data edits, "
            "within hundredths of a percent as the plain export",
            regulators="controlled",
            edit_groups=(same_settings, *ieee13_data_edits(), load_limit),  # after every new load
        ),
        Variant(
            "regulators_kersting_vs_shipped",
            "Kersting's settings (Vset 122 V, R 3 V, X 9 V) written into the export, controlled; OpenDSS "
            "regulating as shipped (122 V, R 3, X 9, from tap 0)",
            "the import stays at 10/8/11 (in band); OpenDSS, rising from tap 0, stops at the first taps in "
            "band: a step lower per phase",
            _kersting_settings,
            regulators="controlled",
            edit_groups=ieee13_data_edits(),
        ),
        Variant(
            "regulators_kersting",
            "Kersting's settings (Vset 122 V, R 3 V, X 9 V) written into the export, controlled; OpenDSS "
            "regulating as shipped (122 V, R 3, X 9)",
            "from the same taps both stay at 10/8/11 (in band): the plain export's figures",
            _kersting_settings,
            regulators="controlled",
            edit_groups=(kersting_start, *ieee13_data_edits()),
        ),
        *(
            Variant(f"xfm1_conn_{name}", what, same, _xfm1_conn(setting, equipment), warnings=fixed)
            for name, what, setting, equipment in (
                ("0", "XFM-1 Conn 0 (the CYME 5 code of Y_Y)", "0", "0"),
                ("yg_yg", "XFM-1 Conn Yg_Yg (the later naming)", "Yg_Yg", "Yg_Yg"),
                ("yn_yn", "XFM-1 Conn YN_YN (IEC letters)", "YN_YN", "YN_YN"),
                ("catalog", "XFM-1 Conn blank in its setting: its catalog entry's Y_Y", "", None),
            )
        ),
    ]
