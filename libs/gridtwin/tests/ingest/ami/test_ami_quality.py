"""Each quality check on a planted fault, with exact counts, flags and what was filled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ami_import_support import directory, reads, stored, write_csv
from gridtwin.ingest.ami import AmiOptions, AmiReport, import_ami, quality
from gridtwin.store.ami import AmiStore, QualityFlag

METERS = {f"M{i}": "F1" for i in range(1, 6)}


def _run(
    tmp_path: Path, frame: pd.DataFrame, *, generating: set[str] | None = None, **opts: object
) -> tuple[AmiReport, pd.DataFrame]:
    store = AmiStore(tmp_path / "s")
    src = write_csv(frame, tmp_path / "r.csv")
    rep = import_ami([src], directory(METERS, generating), store, import_id="q", options=AmiOptions(**opts))  # type: ignore[arg-type]
    return rep, stored(store)


def _q(rep: AmiReport, meter: str) -> pd.Series:
    return rep.quality.set_index("meter_id").loc[meter]


def _has(flags: pd.Series, flag: QualityFlag) -> pd.Series:
    return (flags.astype(int) & int(flag)) != 0


def test_duplicates_exact_dropped_conflicting_keep_the_last(tmp_path: Path) -> None:
    frame = reads(["M1", "M2"], "2025-07-01", "2025-07-03")
    dup = frame.iloc[[3, 4]]
    conflict = frame.iloc[[10]].assign(kwh=1.5)
    rep, s = _run(tmp_path, pd.concat([frame, dup, conflict], ignore_index=True))
    q = _q(rep, "M1")
    assert (q["duplicates"], q["conflicting_duplicates"], q["reads"]) == (2, 1, 48)
    row = s[(s.meter_id == "M1") & (s.ts_utc == frame.ts[10])].iloc[0]
    assert row["kwh"] == 1.5 and _has(pd.Series([row["flags"]]), QualityFlag.DUPLICATE_CONFLICT).all()
    assert [d.code for d in rep.issues] == ["duplicate_conflict"]
    assert rep.issues[0].where == "r.csv:12"  # the read that was replaced by the later one


def test_short_gap_filled_linearly(tmp_path: Path) -> None:
    frame = reads(["M1", "M2"], "2025-07-01", "2025-07-03")
    cut = frame.index[(frame.meter_id == "M1")][10:13]
    left, right = frame.kwh[cut[0] - 1], frame.kwh[cut[-1] + 1]
    rep, s = _run(tmp_path, frame.drop(index=cut))
    q = _q(rep, "M1")
    assert (q["missing"], q["filled_linear"], q["filled_profile"], q["reads"], q["expected"]) == (
        3,
        3,
        0,
        45,
        48,
    )
    m1 = s[s.meter_id == "M1"].reset_index(drop=True)
    filled = m1.iloc[10:13]
    assert _has(filled["flags"], QualityFlag.FILLED_LINEAR).all()
    np.testing.assert_allclose(filled["kwh"], left + (right - left) * np.array([1, 2, 3]) / 4)
    assert int(_has(m1["flags"], QualityFlag.FILLED_LINEAR).sum()) == 3


def test_long_gap_filled_from_the_meters_profile(tmp_path: Path) -> None:
    frame = reads(["M1", "M2"], "2025-07-07", "2025-07-12")  # Monday to Friday: weekdays only
    m1 = frame.index[frame.meter_id == "M1"]
    cut = m1[30:42]  # 12 h > max_linear_fill_intervals
    rep, s = _run(tmp_path, frame.drop(index=cut))
    q = _q(rep, "M1")
    assert (q["missing"], q["filled_linear"], q["filled_profile"]) == (12, 0, 12)
    got = s[s.meter_id == "M1"].reset_index(drop=True).iloc[30:42]
    assert _has(got["flags"], QualityFlag.FILLED_PROFILE).all()
    kept = frame.drop(index=cut)
    kept = kept[kept.meter_id == "M1"]
    mean_by_hour = kept.groupby(kept.ts.dt.hour)["kwh"].mean()
    np.testing.assert_allclose(got["kwh"].to_numpy(), mean_by_hour.loc[got["ts_utc"].dt.hour].to_numpy())


def test_spike_and_absurd_replaced_original_kept(tmp_path: Path) -> None:
    frame = reads(["M1", "M2"], "2025-07-01", "2025-07-03")
    i_spike = frame.index[frame.meter_id == "M1"][20]
    i_absurd = frame.index[frame.meter_id == "M2"][5]
    frame.loc[i_spike, "kwh"] = 40.0
    frame.loc[i_absurd, "kwh"] = 5000.0
    rep, s = _run(tmp_path, frame)
    assert (_q(rep, "M1")["spikes"], _q(rep, "M1")["absurd"]) == (1, 0)
    assert (_q(rep, "M2")["spikes"], _q(rep, "M2")["absurd"]) == (0, 1)
    sp = s[(s.meter_id == "M1") & (s.ts_utc == frame.ts[i_spike])].iloc[0]
    assert sp["kwh_raw"] == 40.0 and sp["kwh"] < 5
    assert np.isclose(sp["kwh"], (frame.kwh[i_spike - 1] + frame.kwh[i_spike + 1]) / 2)
    ab = s[(s.meter_id == "M2") & (s.ts_utc == frame.ts[i_absurd])].iloc[0]
    assert ab["kwh_raw"] == 5000.0 and _has(pd.Series([ab["flags"]]), QualityFlag.ABSURD).all()
    codes = {d.code: d for d in rep.issues}
    assert codes["absurd"].where == f"r.csv:{i_absurd + 2}" and "absurd" in codes["absurd"].message
    assert codes["spike"].where == f"r.csv:{i_spike + 2}"
    assert s["kwh_raw"].notna().sum() == 2


def test_negatives_flagged_unless_generating(tmp_path: Path) -> None:
    frame = reads(["M1", "M2"], "2025-07-01", "2025-07-02")
    frame.loc[frame.index[frame.meter_id == "M1"][3], "kwh"] = -0.5
    frame.loc[frame.index[frame.meter_id == "M2"][3], "kwh"] = -0.5
    rep, s = _run(tmp_path, frame, generating={"M2"})
    assert (_q(rep, "M1")["negatives"], _q(rep, "M2")["negatives"]) == (1, 0)
    assert int(_has(s["flags"], QualityFlag.NEGATIVE).sum()) == 1
    assert (s["kwh"] < 0).sum() == 2  # kept, only flagged


def test_flat_line_flagged(tmp_path: Path) -> None:
    frame = reads(["M1", "M2"], "2025-07-01", "2025-07-03")
    frame.loc[frame.index[frame.meter_id == "M1"][5:25], "kwh"] = 0.777
    frame.loc[frame.index[frame.meter_id == "M2"][5:15], "kwh"] = 0.777  # 10 < 16: not a flat line
    rep, s = _run(tmp_path, frame)
    assert (_q(rep, "M1")["flatline_reads"], _q(rep, "M2")["flatline_reads"]) == (20, 0)
    assert int(_has(s["flags"], QualityFlag.FLATLINE).sum()) == 20


def test_meter_shifted_by_whole_hours_is_tz_suspect(tmp_path: Path) -> None:
    frame = reads(list(METERS), "2025-07-01", "2025-07-08", shift_h={"M3": 3})
    rep, s = _run(tmp_path, frame)
    shifts = rep.quality.set_index("meter_id")["tz_shift_h"].to_dict()
    assert shifts == {"M1": 0, "M2": 0, "M3": 3, "M4": 0, "M5": 0}
    flagged = s[_has(s["flags"], QualityFlag.TZ_SUSPECT)]
    assert set(flagged["meter_id"]) == {"M3"} and len(flagged) == 7 * 24
    assert [d.code for d in rep.issues] == ["tz_suspect"]
    assert rep.counts["tz_suspect_meters"] == 1


def test_local_time_written_as_utc_is_a_dst_fault(tmp_path: Path) -> None:
    zone = "America/Chicago"
    frames = []
    for start, end in (("2025-03-08 06:00", "2025-03-10 06:00"), ("2025-11-01 05:00", "2025-11-03 06:00")):
        frames.append(reads(["M1", "M2", "M3"], start, end))
    truth = pd.concat(frames, ignore_index=True)
    store = AmiStore(tmp_path / "s")
    good = truth[truth.meter_id != "M2"]
    bad = truth[truth.meter_id == "M2"].copy()
    # The faulty source: local wall-clock end times labelled as UTC.
    wall = (bad["ts"] + pd.Timedelta(hours=1)).dt.tz_convert(zone).dt.tz_localize(None)
    bad_csv = pd.DataFrame(
        {
            "MeterNumber": bad["meter_id"],
            "read_time": wall.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "usage": bad["kwh"],
        }
    )
    bad_csv.to_csv(tmp_path / "bad.csv", index=False)
    srcs = [write_csv(good, tmp_path / "good.csv"), tmp_path / "bad.csv"]
    rep = import_ami(srcs, directory(METERS), store, import_id="d", options=AmiOptions(dst_zone=zone))
    faults = rep.quality.set_index("meter_id")["dst_fault"].to_dict()
    assert faults == {"M1": False, "M2": True, "M3": False}
    assert [d.where for d in rep.issues if d.code == "dst_fault"] == ["F1/M2"]
    assert _q(rep, "M2")["conflicting_duplicates"] == 1  # the repeated 01:00 hour


def test_feeder_head_meter_is_not_absurd(tmp_path: Path) -> None:
    """A feeder-head (SCADA) meter reads the whole feeder: the per-customer absurd limit does not apply."""
    frame = reads(["M1", "M2"], "2025-07-01", "2025-07-03")
    head = reads(["H1"], "2025-07-01", "2025-07-03").assign(kwh=lambda f: f.kwh * 5000.0)  # MWh an hour
    i_absurd = frame.index[frame.meter_id == "M2"][5]
    frame.loc[i_absurd, "kwh"] = 5000.0
    d = directory({**{m: "F1" for m in ("M1", "M2")}, "H1": "F1"})
    d.loc[d.meter_id == "H1", "role"] = "feeder_head"
    store = AmiStore(tmp_path / "s")
    src = write_csv(pd.concat([frame, head], ignore_index=True), tmp_path / "r.csv")
    rep = import_ami([src], d, store, import_id="h", options=AmiOptions())
    s = stored(store)
    assert _q(rep, "H1")["absurd"] == 0 and _q(rep, "M2")["absurd"] == 1  # customers are still checked
    h1 = s[s.meter_id == "H1"].sort_values("ts_utc")
    assert not _has(h1["flags"], QualityFlag.ABSURD).any() and h1["kwh_raw"].isna().all()
    assert np.allclose(h1["kwh"].to_numpy(), head["kwh"].to_numpy())
    assert [d.where for d in rep.issues if d.code == "absurd"] == [f"r.csv:{i_absurd + 2}"]


def test_blocks_of_meters_give_the_same_partitions_and_issue_lines(tmp_path: Path, monkeypatch: Any) -> None:
    """A partition checked in blocks of a few meters: the same reads, quality and (capped) issue lines in
    the same order as one check of the whole partition."""
    frame = reads(list(METERS), "2025-07-01", "2025-07-03")
    conflicts = frame.iloc[[3, 60, 110, 170, 230]].assign(kwh=7.5)  # one per meter
    frame = frame.copy()
    frame.loc[frame.index[[20, 75, 200]], "kwh"] = 90.0  # spikes in three meters
    frame = pd.concat([frame, conflicts], ignore_index=True).drop(index=[40, 41, 150])
    results = {}
    for block in (None, 40, 100):  # the whole partition; one meter a block; two meters a block
        if block is not None:
            monkeypatch.setattr(quality, "BLOCK_ROWS", block)
        for cap in (200, 6):
            (tmp_path / f"{block}-{cap}").mkdir()
            results[block, cap] = _run(tmp_path / f"{block}-{cap}", frame, max_issue_lines=cap)
    for (_block, cap), (rep, s) in results.items():
        whole, s_whole = results[None, cap]
        assert [d.to_dict() for d in rep.issues] == [d.to_dict() for d in whole.issues]
        assert rep.to_dict() == whole.to_dict()
        pd.testing.assert_frame_equal(rep.quality, whole.quality)
        pd.testing.assert_frame_equal(s, s_whole)
    codes = [d.code for d in results[None, 200][0].issues]
    assert codes[:5] == ["duplicate_conflict"] * 5 and set(codes[5:]) == {"spike"} and len(codes) > 6
    assert [d.code for d in results[40, 6][0].issues] == codes[:6]  # the cap keeps the first lines


def test_time_zone_check_compares_a_meter_with_its_own_class(tmp_path: Path) -> None:
    """On a synthetic feeder of homes, shops and plants, only the meter planted 3 h off is suspect:
    businesses peak at noon and homes in the evening, which is no clock error."""
    from gridtwin.grid.synth import synth_feeder
    from gridtwin.grid.synth.ami import write_synthetic_ami
    from gridtwin.ingest.ami.mapping import map_meters, read_meter_list
    from gridtwin.store.ami import AmiStore

    synth = write_synthetic_ami(tmp_path / "src", [0], 42, months=[1])
    directory = map_meters(read_meter_list(synth.meters_csv)[0], [synth_feeder(0, 42).model]).directory
    assert directory["customer_class"].nunique() > 1
    rep = import_ami(synth.files, directory, AmiStore(tmp_path / "ami"), import_id="tz", options=AmiOptions())
    planted = next(f for f in synth.truth["faults"] if f["kind"] == "shift_3h")
    q = rep.quality
    assert q.loc[q["tz_shift_h"] != 0, "meter_id"].tolist() == [planted["meter_id"]]
    assert int(q.loc[q["meter_id"] == planted["meter_id"], "tz_shift_h"].iloc[0]) == 3
