"""The CYME-vs-OpenDSS fidelity cases (IEEE 13 and IEEE 4) shared by tests and the bench table.

Each case names the CYME export, its OpenDSS counterpart, how CYME node ids map to OpenDSS bus names,
and the edits that give the OpenDSS original the same *input data* as the export where the two test
case files differ (so the table measures the mapping, not the data). ``edits=()`` runs are reported
too (``raw``).

- IEEE 13: the export's regulator taps are 10/8/11 steps (Kersting's published solution); the OpenDSS
  RegControls settle at other taps, so the original is solved with its taps pinned to the export's.
  The export's cable 606 is Kersting's original matrix (the OpenDSS file carries the 2016 corrected
  one and keeps the original in a comment): the original is edited back to it. Not edited: the
  export's source impedance at 650 (the OpenDSS model has a stiff 115 kV source behind a 5 MVA
  transformer, about 0.2 % less drop) and its distributed load (lumped here at the section's middle,
  at node 670, a third of the way, in the OpenDSS file).
- IEEE 4: the export is the open-wye / open-delta bank (TRANSFORMER SETTING Conn=6) with delta loads,
  so its counterpart is ``4Bus-OYOD-UnBal``. The export's loads are 1275/1800/2375 kW at 85/90/95 %
  in a constant-impedance class and its source has 0.1+j0.6 ohm; the OpenDSS file has 850/1200/1583 kW
  constant power and an infinite source: the original is edited to the export's values. Line 2 data
  still differ (the OpenDSS file uses a 3-wire linecode 300), which moves the floating neutral of the
  ungrounded delta secondary: compare phase-to-phase there, or read its line-to-neutral rows as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FidelityCase", "fidelity_cases"]


@dataclass(frozen=True)
class FidelityCase:
    name: str
    cyme_dir: Path
    master: Path
    bus_map: dict[str, str] = field(default_factory=dict)
    edits: tuple[str, ...] = ()


def fidelity_cases(shared: Path) -> list[FidelityCase]:
    ieee = shared / "opendss" / "IEEETestCases"
    oyod = {"107": "sourcebus", "2": "sd_unbal_oy_od_2", "3": "sd_unbal_oy_od_3", "4": "sd_unbal_oy_od_4"}
    return [
        FidelityCase(
            "ieee13",
            shared / "cyme" / "ieee_13node",
            ieee / "13Bus" / "IEEE13Nodeckt.dss",
            edits=(
                "set controlmode=off",
                "edit transformer.reg1 wdg=2 tap=1.0625",
                "edit transformer.reg2 wdg=2 tap=1.05",
                "edit transformer.reg3 wdg=2 tap=1.06875",
                # the export's cable 606 is Kersting's original (kept commented in the OpenDSS file)
                "edit linecode.mtx606 units=mi rmatrix=[0.7982 | 0.3192 0.7891 | 0.2849 0.3192 0.7982]"
                " xmatrix=[0.4463 | 0.0328 0.4041 | -0.0143 0.0328 0.4463] cmatrix=[257 | 0 257 | 0 0 257]",
                "edit line.692675 linecode=mtx606 length=500 units=ft",  # lines copy a code when set
            ),
        ),
        FidelityCase(
            "ieee4",
            shared / "cyme" / "ieee_4node",
            ieee / "4Bus-OYOD-UnBal" / "4bus-OYOD-UnBal.dss",
            bus_map=oyod,
            edits=(
                "edit vsource.source r1=0.1 x1=0.6 r0=0.5 x0=0.5",
                "edit transformer.sd_unbal_oy_od_xfma ppm=1",
                "edit transformer.sd_unbal_oy_od_xfmb ppm=1",
                "edit load.sd_unbal_d_gy_load1 kw=1275 pf=0.85 model=2 vminpu=0.8",
                "edit load.sd_unbal_d_gy_load2 kw=1800 pf=0.9 model=2 vminpu=0.8",
                "edit load.sd_unbal_d_gy_load3 kw=2375 pf=0.95 model=2 vminpu=0.8",
            ),
        ),
    ]
