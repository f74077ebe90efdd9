"""import_ami end to end: formats, time handling, chunking, resume, failure atomicity, re-import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from ami_import_support import directory, listing, reads, stored, write_csv, write_parquet
from gridtwin.errors import ConflictError, InputError
from gridtwin.ingest.ami import QUALITY_COLUMNS, AmiOptions, import_ami
from gridtwin.store.ami import AmiStore, QualityFlag

METERS = {"M1": "F1", "M2": "F1", "M3": "F2"}


def _truth(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"ts": "ts_utc"}).sort_values(["meter_id", "ts_utc"], ignore_index=True)


def _kwh(store: AmiStore) -> pd.DataFrame:
    s = stored(store)
    return s.loc[:, ["meter_id", "ts_utc", "kwh"]].sort_values(["meter_id", "ts_utc"], ignore_index=True)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False)


def test_csv_and_parquet_store_the_same(tmp_path: Path) -> None:
    frame = reads(list(METERS), "2025-07-01", "2025-07-04")
    a, b = AmiStore(tmp_path / "a"), AmiStore(tmp_path / "b")
    ra = import_ami(
        [write_csv(frame, tmp_path / "r.csv")], directory(METERS), a, import_id="i", options=AmiOptions()
    )
    rb = import_ami(
        [write_parquet(frame, tmp_path / "r.parquet")],
        directory(METERS),
        b,
        import_id="i",
        options=AmiOptions(),
    )
    _same(stored(a), stored(b))
    _same(_kwh(a), _truth(frame))
    assert a.feeders() == ["F1", "F2"] and a.months("F1") == ["2025-07"]
    assert ra.counts["reads"] == rb.counts["reads"] == 3 * 72
    assert set(stored(a)["interval_min"]) == {60} and (stored(a)["flags"] == 0).all()
    # The report is JSON, the quality table is stored with the contract's columns.
    d = json.loads(json.dumps(ra.to_dict()))
    assert d["period_utc"] == ["2025-07-01T00:00:00+00:00", "2025-07-04T00:00:00+00:00"]
    assert d["feeders"] == ["F1", "F2"] and d["months"] == ["2025-07"] and d["issues"] == []
    assert tuple(ra.quality.columns) == QUALITY_COLUMNS
    assert set(ra.quality["grade"]) == {"A"}
    assert a.read_quality("i").num_rows == 3


@pytest.mark.parametrize("fmt", ["z", "offset"])
def test_fifteen_minute_reads_with_offsets(tmp_path: Path, fmt: str) -> None:
    frame = reads(["M1", "M2"], "2025-07-01", "2025-07-03", step_min=15)
    src = write_csv(frame, tmp_path / "r.csv", step_min=15, fmt=fmt)
    if fmt == "offset":
        assert "2025-06-30T19:15:00-05:00" in src.read_text()
    store = AmiStore(tmp_path / "s")
    rep = import_ami([src], directory(METERS), store, import_id="i", options=AmiOptions())
    _same(_kwh(store), _truth(frame))
    assert set(stored(store)["interval_min"]) == {15}
    assert rep.quality["expected"].tolist() == [192, 192]
    assert rep.quality["interval_min"].tolist() == [15, 15]


def test_naive_local_times_across_both_dst_changes(tmp_path: Path) -> None:
    zone = "America/Chicago"
    spring = reads(["M1", "M2"], "2025-03-08 06:00", "2025-03-10 06:00", step_min=15)
    fall = reads(["M1", "M2"], "2025-11-01 05:00", "2025-11-03 06:00", step_min=15)
    opts = AmiOptions(timezone=zone)
    for name, frame, resolved in (("spring", spring, 0), ("fall", fall, 8)):
        src = write_csv(frame, tmp_path / f"{name}.csv", step_min=15, fmt=f"local:{zone}")
        store = AmiStore(tmp_path / name)
        rep = import_ami([src], directory(METERS), store, import_id="i", options=opts)
        _same(_kwh(store), _truth(frame))  # every read back at its true UTC time
        # Fall back: 01:00..01:45 (interval end) occur twice; the second pass is standard time.
        assert rep.quality["dst_resolved"].tolist() == [resolved, resolved]
        dst = (stored(store)["flags"] & int(QualityFlag.DST_RESOLVED)) != 0
        assert int(dst.sum()) == 2 * resolved
        assert rep.counts["missing"] == 0


def test_nonexistent_local_time_is_a_report_line(tmp_path: Path) -> None:
    frame = reads(["M1"], "2025-03-09 05:00", "2025-03-09 10:00", step_min=60)
    src = write_csv(frame, tmp_path / "r.csv", fmt="local:America/Chicago")
    with src.open("a") as fh:
        fh.write("M1,2025-03-09 02:30:00,1.0\n")
    store = AmiStore(tmp_path / "s")
    rep = import_ami(
        [src], directory(METERS), store, import_id="i", options=AmiOptions(timezone="America/Chicago")
    )
    lines = [d for d in rep.issues if d.code == "dst_nonexistent"]
    assert [d.where for d in lines] == ["r.csv:7"]
    assert "does not exist" in lines[0].message
    _same(_kwh(store), _truth(frame))


def test_interval_start_and_end_give_the_same_reads(tmp_path: Path) -> None:
    frame = reads(["M1", "M2"], "2025-07-01", "2025-07-02", step_min=15)
    a, b = AmiStore(tmp_path / "a"), AmiStore(tmp_path / "b")
    import_ami([write_csv(frame, tmp_path / "e.csv", step_min=15, at="end")], directory(METERS), a,
               import_id="i", options=AmiOptions())  # fmt: skip
    import_ami([write_csv(frame, tmp_path / "s.csv", step_min=15, at="start")], directory(METERS), b,
               import_id="i", options=AmiOptions(timestamp_at="start"))  # fmt: skip
    _same(stored(a), stored(b))
    _same(_kwh(a), _truth(frame))


def test_many_small_chunks_equal_one_chunk(tmp_path: Path) -> None:
    frame = reads(list(METERS), "2025-06-28", "2025-07-03", step_min=60)
    frame = frame.drop(index=[5, 6, 7, 200]).reset_index(drop=True)  # gaps to fill, across chunk ends
    src = write_csv(frame, tmp_path / "r.csv")
    one, many = AmiStore(tmp_path / "one"), AmiStore(tmp_path / "many")
    r1 = import_ami([src], directory(METERS), one, import_id="i", options=AmiOptions())
    events: list[dict[str, Any]] = []
    rn = import_ami(
        [src],
        directory(METERS),
        many,
        import_id="i",
        options=AmiOptions(chunk_rows=37),
        progress=events.append,
    )
    assert sum(e["stage"] == "staged" for e in events) == -(-len(frame) // 37)
    _same(stored(one), stored(many))
    _same(r1.quality, rn.quality)
    assert r1.counts["filled_linear"] == rn.counts["filled_linear"] == 4
    assert one.months("F1") == ["2025-06", "2025-07"]


def test_resume_after_a_crash(tmp_path: Path) -> None:
    frame = reads(list(METERS), "2025-07-01", "2025-07-05")
    src = write_csv(frame, tmp_path / "r.csv")
    opts = AmiOptions(chunk_rows=40)
    ref = AmiStore(tmp_path / "ref")
    r_ref = import_ami([src], directory(METERS), ref, import_id="x", options=opts)
    store = AmiStore(tmp_path / "s")

    def crash(event: dict[str, Any]) -> None:
        if event["stage"] == "staged" and event["chunk"] == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        import_ami([src], directory(METERS), store, import_id="x", options=opts, progress=crash)
    assert store.feeders() == []  # nothing committed
    staged = sorted((tmp_path / "s" / "_imports" / "x" / "staging").rglob("chunk-00000[01].parquet"))
    assert staged
    before = {p: p.stat().st_mtime_ns for p in staged}
    events: list[dict[str, Any]] = []
    rep = import_ami([src], directory(METERS), store, import_id="x", options=opts, progress=events.append)
    assert next(e["chunk"] for e in events if e["stage"] == "staged") == 3  # chunks 0-2 not re-staged
    _same(stored(store), stored(ref))
    _same(rep.quality, r_ref.quality)
    assert rep.counts == r_ref.counts
    assert not any(p.exists() and p.stat().st_mtime_ns != t for p, t in before.items())
    # The same id again returns the committed report; other sources under that id conflict.
    assert import_ami([src], directory(METERS), store, import_id="x", options=opts).counts == rep.counts
    other = write_csv(frame.head(10), tmp_path / "other.csv")
    with pytest.raises(ConflictError):
        import_ami([other], directory(METERS), store, import_id="x", options=opts)


def test_a_failed_import_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    store = AmiStore(tmp_path / "s")
    frame = reads(list(METERS), "2025-07-01", "2025-07-03")
    import_ami(
        [write_csv(frame, tmp_path / "a.csv")], directory(METERS), store, import_id="a", options=AmiOptions()
    )
    before = listing(tmp_path / "s")
    good = write_csv(reads(list(METERS), "2025-07-03", "2025-07-05", seed=3), tmp_path / "b.csv")
    bad = write_parquet(frame, tmp_path / "c.parquet")
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    with pytest.raises(InputError):
        import_ami([good, bad], directory(METERS), store, import_id="b", options=AmiOptions(chunk_rows=50))
    assert listing(tmp_path / "s") == before


def test_reimport_replaces_the_same_meter_and_time(tmp_path: Path) -> None:
    store = AmiStore(tmp_path / "s")
    first = reads(["M1", "M2"], "2025-07-01", "2025-07-04")
    import_ami(
        [write_csv(first, tmp_path / "a.csv")], directory(METERS), store, import_id="a", options=AmiOptions()
    )
    second = reads(["M1"], "2025-07-03", "2025-07-06", seed=9)
    second["kwh"] = second["kwh"] * 2
    rep = import_ami(
        [write_csv(second, tmp_path / "b.csv")], directory(METERS), store, import_id="b", options=AmiOptions()
    )
    assert rep.counts["replaced"] == 24
    got = _kwh(store)
    want = pd.concat(
        [first[(first.meter_id == "M2") | (first.ts < pd.Timestamp("2025-07-03", tz="UTC"))], second]
    )
    _same(got, _truth(want))
    assert len(got) == 72 + 48 + 72


def test_unknown_meters_are_reported_not_stored(tmp_path: Path) -> None:
    frame = reads(["M1", "X9"], "2025-07-01", "2025-07-02")
    store = AmiStore(tmp_path / "s")
    rep = import_ami(
        [write_csv(frame, tmp_path / "r.csv")], directory(METERS), store, import_id="i", options=AmiOptions()
    )
    lines = [d for d in rep.issues if d.code == "unknown_meter"]
    assert [(d.where, d.message) for d in lines] == [
        ("r.csv:26", "meter X9 is not in the meter directory (twin graph)")
    ]
    assert rep.counts["rows_unknown_meter"] == 24
    assert set(stored(store)["meter_id"]) == {"M1"}
    assert np.isclose(stored(store)["kwh"].sum(), frame[frame.meter_id == "M1"]["kwh"].sum())
