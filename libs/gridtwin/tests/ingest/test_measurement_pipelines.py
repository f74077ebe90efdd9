"""Meters, AMI reads, measured load and outages in over a local registry (no gRPC): each import ends as
a committed record with its report (or a failed one with the error), aggregation and allocation write
what they measured, and allocation writes a new version of the feeder with measured load shapes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from gridtwin.errors import InputError, NotFoundError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.source import RegistryFeeders
from gridtwin.ingest.ami.options import parse_ami_options
from gridtwin.ingest.ami.pipeline import (
    allocate_site,
    import_meters,
    load_summary,
    measured_feeders,
    open_ami_import,
    run_ami_import,
)
from gridtwin.ingest.measurements import MeasurementStores
from gridtwin.ingest.oms import parse_oms_mapping
from gridtwin.ingest.oms.pipeline import import_outages, site_reliability
from gridtwin.ingest.synthetic import write_synthetic
from gridtwin.twin.registry import TwinRegistry

SITE = "m1"
NO_OVERRIDES = pd.DataFrame(columns=["meter_id", "feeder", "transformer", "note"])


@pytest.fixture
def stores(sql_engine: sa.Engine, tmp_path: Path) -> MeasurementStores:
    return MeasurementStores.open(sql_engine, tmp_path / "data")


@pytest.fixture
def model(feeders: RegistryFeeders, twin_registry: TwinRegistry, stores: MeasurementStores) -> FeederModel:
    """One synthetic feeder of SITE in the registry, its load shapes in the profile store."""
    progress: list[tuple[int, int, str, int]] = []
    ids = write_synthetic(
        twin_registry, stores.profiles, 1, 9, site=SITE, progress=lambda *p: progress.append(p)
    )
    twins = next(f.twin_count for f in feeders.list_feeders(SITE))
    assert progress == [(1, 1, ids[0], twins + 1)]  # the feeder's twins and the site twin
    return feeders.feeder_model(ids[0])


def _january_reads(path: Path, meters: list[str]) -> Path:
    """Hourly kWh of January 2025 for ``meters`` (interval-end timestamps), seeded."""
    t = pd.date_range("2025-01-01T01:00", periods=31 * 24, freq="h", tz="UTC")
    rng = np.random.default_rng(4)
    frames = [
        pd.DataFrame(
            {
                "meter": m,
                "read_end": t.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                "kwh": rng.uniform(0.5, 2, len(t)),
            }
        )
        for m in meters
    ]
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path


def test_meters_reads_and_measured_load_onto_the_feeder(
    model: FeederModel,
    feeders: RegistryFeeders,
    twin_registry: TwinRegistry,
    stores: MeasurementStores,
    tmp_path: Path,
) -> None:
    fid = model.feeder_id
    rec = import_meters(feeders, stores, SITE, None, NO_OVERRIDES)
    assert rec.status == "committed" and rec.source == "twins"
    assert rec.report["meters"] == len(model.table("loads")) and rec.report["feeders"] == [fid]

    metered = [str(n) for n in model.table("loads")["name"][:4]]
    reads = _january_reads(tmp_path / "reads.csv", metered)
    options = parse_ami_options("")
    rec = open_ami_import(stores, SITE, [reads], options)
    done = run_ami_import(feeders, twin_registry, stores, SITE, rec, [reads], options)
    assert done.status == "committed" and done.report["feeders"] == [fid]
    assert done.report["aggregation"]["year"] == 2025 and fid in done.report["aggregation"]["feeders"]
    again = open_ami_import(stores, SITE, [reads], options, import_id=rec.id)
    assert again.status == "committed"  # landed: nothing left to do
    rows, transformers = load_summary(stores, fid, 0, transformers=True)
    assert rows[0]["year"] == 2025 and json.loads(transformers)
    assert measured_feeders(feeders, stores, SITE) == [fid]

    before = feeders.feeder_version(fid)
    report = allocate_site(feeders, twin_registry, stores, SITE, [fid], 2025, 0.05)
    assert report[fid]["twins_written"] > 0
    after = feeders.feeder_model(fid)
    assert after.version != before
    loads = after.table("loads").set_index("name")
    shapes = after.table("loadshapes").set_index("name")
    for name in metered:
        profile = str(shapes.loc[str(loads.loc[name, "yearly"]), "profile"])
        assert profile.startswith(f"loadshape/ami-{fid}/")
        assert stores.profiles.resolve([profile])[profile].shape == (8760,)


def test_a_failed_import_is_recorded_with_its_error(
    feeders: RegistryFeeders, stores: MeasurementStores
) -> None:
    with pytest.raises(NotFoundError, match="the site has no feeders"):
        import_meters(feeders, stores, "empty", None, NO_OVERRIDES)
    rec = stores.records.list_imports("meters")[0]
    assert rec.status == "failed" and rec.report["error"] == "the site has no feeders"
    with pytest.raises(NotFoundError):
        allocate_site(feeders, feeders.registry, stores, "empty", ["nope"], 2025, 0.0)


def test_outages_linked_to_the_twins_and_reliability(
    model: FeederModel, feeders: RegistryFeeders, stores: MeasurementStores, tmp_path: Path
) -> None:
    fid = model.feeder_id
    line = str(model.table("lines")["name"].iloc[0])
    csv = tmp_path / "outages.csv"
    csv.write_text(
        "OUTAGE_ID,START_TIME,RESTORE_TIME,CAUSE_CODE,DEVICE_ID,FEEDER_ID,CUST_INT\n"
        f"o1,2025-02-01 10:00,2025-02-01 11:00,TREE,{line},{fid},5\n"
        f"o2,2025-03-05 08:00,2025-03-05 08:03,ANIMAL,{line},{fid},15\n"
        f"o3,2025-07-10 14:00,2025-07-10 16:30,EQUIP,no-such-device,{fid},15\n"
        f"o4,2025-07-11 14:00,2025-07-10 16:30,EQUIP,{line},{fid},15\n"  # restored before it started
    )
    mapping = parse_oms_mapping("", "mapping")
    with pytest.raises(InputError, match="1 outage rows are not valid"):
        import_outages(feeders, stores, SITE, csv, mapping)
    assert stores.records.list_imports("oms")[0].status == "failed"
    rec = import_outages(feeders, stores, SITE, csv, mapping, skip_invalid=True)
    assert rec.status == "committed" and rec.report["outages"] == 3 and rec.report["skipped_rows"] == 1
    assert rec.report["linked_devices"] == 2 and rec.report["feeders"] == [fid]
    assert any("no-such-device" in d["message"] for d in rec.report["issues"])

    doc = site_reliability(feeders, stores, SITE, years=[2025])
    assert doc["rows"] and {r["feeder"] for r in doc["rows"] if r["feeder"]} == {fid}
    with pytest.raises(NotFoundError, match="no outage records"):
        site_reliability(feeders, stores, "elsewhere")
