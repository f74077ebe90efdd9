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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EditGroup", "FidelityCase", "fidelity_cases"]


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


def fidelity_cases(shared: Path) -> list[FidelityCase]:
    ieee = shared / "opendss" / "IEEETestCases"
    oyod = {"107": "sourcebus", "2": "sd_unbal_oy_od_2", "3": "sd_unbal_oy_od_3", "4": "sd_unbal_oy_od_4"}
    return [
        FidelityCase(
            "ieee13",
            shared / "cyme" / "ieee_13node",
            ieee / "13Bus" / "IEEE13Nodeckt.dss",
            edit_groups=(
                EditGroup(
                    "regulator taps pinned to the export's 10/8/11 steps",
                    (
                        "set controlmode=off",
                        "edit transformer.reg1 wdg=2 tap=1.0625",
                        "edit transformer.reg2 wdg=2 tap=1.05",
                        "edit transformer.reg3 wdg=2 tap=1.06875",
                    ),
                ),
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
            ),
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
