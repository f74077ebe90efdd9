"""Every CYME transformer connection code (numbers and names), and three-winding transformers: the
windings the model holds, and a solution with every phase where it belongs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from cyme_builder import (
    KV,
    LINE_ID,
    block,
    line_of,
    lines,
    ll_pu,
    ln_pu,
    loads,
    nodes,
    sections,
    solve,
    through_twins,
    write_export,
)
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.cyme import read_cyme

G, U, D = "wye+g", "wye", "delta"  # grounded wye, ungrounded wye (floating star point), delta
# code -> (primary, secondary, arrangement: bank | open | ct, warned: the model approximates it)
CODES: dict[str, tuple[str, str, str, bool]] = {
    "0": (G, G, "bank", False), "1": (D, G, "bank", False), "2": (G, D, "bank", False),
    "3": (U, U, "bank", False), "4": (D, D, "bank", False), "5": (D, D, "open", False),
    "6": (G, D, "open", False), "7": (D, U, "bank", False), "8": (U, D, "bank", False),
    "9": (G, U, "bank", False), "10": (U, G, "bank", False), "11": (G, G, "bank", True),
    "12": (D, G, "bank", True), "13": (G, G, "bank", True), "14": (G, D, "bank", True),
    "15": (G, G, "ct", False), "16": (D, G, "ct", False), "17": (G, D, "bank", True),
    "18": (D, D, "bank", True), "19": (U, D, "bank", True), "20": (D, D, "open", True),
    "21": (G, D, "open", True), "22": (D, G, "open", False), "23": (G, D, "bank", False),
    "24": (U, D, "bank", False), "25": (D, D, "bank", False), "26": (G, D, "bank", True),
    "27": (D, G, "bank", False), "28": (D, U, "bank", False), "29": (D, D, "bank", False),
    "30": (D, D, "bank", False), "31": (D, G, "bank", True),
    # names (a bare Y is grounded: these exports do not use the Yg naming)
    "Y_Y": (G, G, "bank", False), "Y_D": (G, D, "bank", False), "Yg_Yg": (G, G, "bank", False), "D_Yg": (D, G, "bank", False),
    "Yg_D": (G, D, "bank", False), "D_D": (D, D, "bank", False), "YNG_D": (U, D, "bank", False),
    "D_YNG": (D, U, "bank", False), "YNG_YNG": (U, U, "bank", False), "YO_DO": (G, D, "open", False),
    "DO_DO": (D, D, "open", False), "Yg_Zg": (G, G, "bank", True), "D_Zg": (D, G, "bank", True),
    "Yg_CT": (G, G, "ct", False), "D_CT": (D, G, "ct", False), "Dn_Yg": (D, G, "bank", False),
    "Yg_Dn": (G, D, "bank", False), "D_DCT": (D, D, "bank", True), "YO_DOCT": (G, D, "open", True),
}  # fmt: skip


def _export(tmp_path: Path, code: str) -> Path:
    _, sec, arrangement, _ = CODES[code]
    ct = arrangement == "ct"
    phase = "A" if ct else "ABC"
    kv2 = 0.24 if ct else 0.48
    network = (
        nodes("src", "n1", "n2", "l2")
        + sections("s1,src,n1,ABC", f"xf,n1,n2,{phase}", f"ld,n2,l2,{phase}")
        + lines(f"s1,s1,{LINE_ID},500")
        + block(
            "TRANSFORMER SETTING",
            "SectionID,Location,EqID,DeviceNumber,Conn,PrimTap,SecondaryTap,ConnectionStatus",
            [f"xf,M,XF,xf1,{code},100,100,0"],
        )
    )
    equipment = block(
        "TRANSFORMER",
        "ID,Type,KVA,KVLLprim,KVLLsec,Z1,Z0,XR,XR0,Conn,NoLoadLosses",
        [f"XF,{4 if ct else 2},500,{KV},{kv2},5,5,4,4,{code},0.5"],
    )
    if ct:
        load = loads([("ld", "A", 20.0, 5.0)])
    elif code in ("22",):  # open wye secondary: two phases
        load = loads([("ld", p, 100.0, 30.0) for p in "AB"])
    else:  # wye loads on a grounded secondary, delta loads elsewhere
        load = loads([("ld", p, 100.0, 30.0) for p in "ABC"], connection="0" if sec == G else "2")
    return write_export(tmp_path / f"xf_{code}", network, equipment, load)


def _ends(model: FeederModel) -> list[tuple[str, str]]:
    """(conn, bus) of every winding of every transformer row."""
    xf = model.tables["transformers"]
    return [(c, b) for _, row in xf.iterrows() for c, b in zip(row["conns"], row["buses"], strict=True)]


@pytest.mark.parametrize("code", list(CODES))
def test_connection_code(tmp_path: Path, code: str) -> None:
    prim, sec, arrangement, warned = CODES[code]
    folder = _export(tmp_path, code)
    model, report = read_cyme(folder, "xf")
    assert report.unmapped == []
    xf = model.tables["transformers"]
    assert len(xf) == {"bank": 1, "open": 2, "ct": 1}[arrangement]
    first = xf.iloc[0]
    for kind, conn, bus in (
        (prim, first["conns"][0], first["buses"][0]),
        (sec, first["conns"][1], first["buses"][1]),
    ):
        if arrangement == "ct" and bus.startswith("n2"):
            assert bus == "n2.1.0"  # the split-phase secondary's first leg
            continue
        assert conn == kind.split("+")[0]
        if kind == G:
            # star point grounded: node 0, written or OpenDSS's default
            assert bus.endswith(".0") or bus.count(".") == 3
        elif kind == U:
            assert bus.endswith(".4")  # the floating star point
    where = f"network.txt:{line_of(folder / 'network.txt', 'xf,M,XF')} [TRANSFORMER SETTING] Conn"
    assert any(w.where == where and w.code == "approximated" for w in report.warnings) == warned
    result = solve(model)
    assert result.converged
    if arrangement == "ct":
        legs = ln_pu(result, "n2")
        assert set(legs) == {1, 2} and all(0.9 < v < 1.1 for v in legs.values()), legs
    elif code == "22":
        pu = ln_pu(result, "n2")
        assert all(0.9 < pu[n] < 1.1 for n in (1, 2)), pu
    elif sec == G:
        pu = ln_pu(result, "n2")
        assert set(pu) == {1, 2, 3} and all(0.9 < v < 1.1 for v in pu.values()), pu
    else:  # a delta or floating secondary: only its phase-to-phase voltages are defined
        ll = ll_pu(result, "n2", 0.48)
        assert set(ll) == {"AB", "BC", "CA"} and all(0.9 < v < 1.1 for v in ll.values()), ll


def test_bare_y_is_ungrounded_where_the_export_names_grounded_wyes_yg(tmp_path: Path) -> None:
    folder = _export(tmp_path, "Y_D")
    equipment = folder / "equipment.txt"
    # a second catalog entry written in the later naming: the export's bare Y is an ungrounded wye
    equipment.write_text(equipment.read_text() + "\n" + block("TRANSFORMER", "ID,Type,KVA,KVLLprim,KVLLsec,Z1,XR,Conn",
                                                               ["OTHER,2,100,12.47,0.48,4,3,Yg_Yg"]))  # fmt: skip
    model, report = read_cyme(folder, "xf")
    assert model.tables["transformers"].iloc[0]["buses"][0] == "n1.1.2.3.4"
    assert any(w.code == "wye_naming" and "network.txt:" in w.where for w in report.warnings)


def _three_winding(tmp_path: Path, tertiary: bool = True) -> Path:
    """69 kV source -> a 69 / 13.8 / 4.16 kV three-winding transformer (Yg / Yg / delta): loads on the
    secondary (wye) and on the tertiary (delta); without ``tertiary`` the tertiary node is in neither
    [NODE] nor [SECTION] (nothing on it)."""
    names = ["src", "n1", "n2", "l2", "l3"] + (["t1"] if tertiary else [])
    network = (
        nodes(*names)
        + sections("s1,src,n1,ABC", "x3,n1,n2,ABC", "ld2,n2,l2,ABC", *(["ld3,t1,l3,ABC"] if tertiary else []))
        + lines(f"s1,s1,{LINE_ID},200")
        + block(
            "THREE WINDING TRANSFORMER SETTING",
            "SectionID,Location,EqID,DeviceNumber,TertiaryNodeID,PrimaryFixedTapSetting,SecondaryFixedTapSetting,"
            "TertiaryFixedTapSetting,ConnectionStatus",
            ["x3,M,T3W,x3w,t1,100,102.5,100,0"],
        )
    )
    equipment = block(
        "THREE WINDING TRANSFORMER",
        "ID,PrimaryRatedCapacity,PrimaryVoltage,PrimaryConnection,PrimaryToSecondaryZ1,PrimaryToSecondaryXR1,"
        "PrimaryToTertiaryZ1,PrimaryToTertiaryXR1,SecondaryToTertiaryZ1,SecondaryToTertiaryXR1,"
        "SecondaryRatedCapacity,SecondaryVoltage,SecondaryConnection,TertiaryRatedCapacity,TertiaryVoltage,"
        "TertiaryConnection,NoLoadLosses",
        ["T3W,10000,69,0,8,20,10,20,4,15,10000,13.8,0,3000,4.16,2,10"],
    )
    load = loads([("ld2", p, 2000.0, 600.0) for p in "ABC"])
    if tertiary:
        load += loads([("ld3", p, 500.0, 150.0) for p in "ABC"], connection="2")
    return write_export(tmp_path / "three", network, equipment, load, kv=69.0)


def test_three_winding_transformer(tmp_path: Path) -> None:
    model, report = read_cyme(_three_winding(tmp_path), "x3")
    assert report.unmapped == []
    row = model.tables["transformers"].set_index("name").loc["x3w"]
    assert row["windings"] == 3 and row["phases"] == 3
    assert list(row["buses"]) == ["n1.1.2.3", "n2.1.2.3", "t1.1.2.3"]
    assert list(row["conns"]) == ["wye", "wye", "delta"]
    assert list(row["kvs_kv"]) == [69.0, 13.8, 4.16] and list(row["kvas_kva"]) == [10000.0, 10000.0, 3000.0]
    assert list(row["taps_pu"]) == [1.0, 1.025, 1.0]
    z = {k: z_ / math.sqrt(1 + xr * xr) * xr for k, z_, xr in (("hl", 8, 20), ("ht", 10, 20), ("lt", 4, 15))}
    assert (row["xhl_pct"], row["xht_pct"], row["xlt_pct"]) == pytest.approx((z["hl"], z["ht"], z["lt"]))
    r12, r13, r23 = 8 / math.sqrt(401), 10 / math.sqrt(401), 4 / math.sqrt(226)
    assert row["pct_rs"][2] == pytest.approx((r13 + r23 - r12) / 2 * 3000 / 10000)  # on its own kVA
    buses = model.tables["buses"].set_index("name")
    assert buses.loc["t1", "base_kv"] == pytest.approx(4.16 / math.sqrt(3))
    assert buses.loc["n2", "base_kv"] == pytest.approx(13.8 / math.sqrt(3))
    assert through_twins(model).to_ipc() == model.to_ipc()
    result = solve(model)
    assert result.converged
    assert all(0.95 < v < 1.08 for v in ln_pu(result, "n2").values()), ln_pu(result, "n2")
    assert all(0.9 < v < 1.06 for v in ll_pu(result, "t1", 4.16).values()), ll_pu(result, "t1", 4.16)


def test_three_winding_tertiary_missing_from_node_list_is_created_with_a_warning(tmp_path: Path) -> None:
    folder = _three_winding(tmp_path, tertiary=False)
    model, report = read_cyme(folder, "x3")
    where = f"network.txt:{line_of(folder / 'network.txt', 'x3,M,T3W')} [THREE WINDING TRANSFORMER SETTING]"
    assert any(w.where == f"{where} TertiaryNodeID" for w in report.warnings)
    assert "t1" in set(model.tables["buses"]["name"])
