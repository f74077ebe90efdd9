"""Utility measurements through the services (gRPC): IEEE 13 imported, its loads as the meter directory,
a year of hourly AMI reads streamed up and imported (quality, aggregation), measured load allocated
onto the loads and solved, outage records turned into IEEE 1366 indices, and a year of weather from a
local Open-Meteo attached to the feeder. Bad files are located errors that leave nothing behind."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest
from e2e_support import IEEE13, Stack
from fake_open_meteo import FakeOpenMeteo
from gridtwin.grid.model import FeederModel
from gridtwin.rpc.errors import details_from_rpc_error
from gridtwin.rpc.stubs import ingestion_stub, measurements_stub, powerflow_stub, registry_stub
from gridtwin.rpc.v1 import ingestion_pb2, measurements_pb2, powerflow_pb2, twin_registry_pb2

FEEDER = "ami13"
SITE = "amisite"
YEAR = 2025
HOURS = 8760


@pytest.fixture(scope="module")
def model(stack: Stack) -> FeederModel:
    with stack.channel("ingestion") as ch:
        ingestion_stub(ch).ImportOpenDss(
            ingestion_pb2.ImportOpenDssRequest(feeder=FEEDER, site=SITE, path=str(IEEE13), replace=True),
            timeout=120,
        )
    return _export(stack)


def _export(stack: Stack) -> FeederModel:
    with stack.channel("twin_registry") as ch:
        reply = registry_stub(ch).ExportFeeder(
            twin_registry_pb2.ExportFeederRequest(feeder=FEEDER), timeout=60
        )
    return FeederModel.from_ipc(bytes(reply.feeder_model_ipc))


def _chunks(name: str, data: bytes, size: int = 64 * 1024) -> Iterator[Any]:
    for i in range(0, max(len(data), 1), size):
        yield measurements_pb2.FileChunk(filename=name if i == 0 else "", data=data[i : i + size])


def _upload(stack: Stack, name: str, data: bytes) -> str:
    with stack.channel("ingestion") as ch:
        reply = measurements_stub(ch).UploadFile(_chunks(name, data), timeout=120)
    assert reply.size_bytes == len(data) and reply.filename == name
    return str(reply.upload_id)


def _m(stack: Stack, method: str, request: Any, timeout: float = 300) -> Any:
    with stack.channel("ingestion") as ch:
        return getattr(measurements_stub(ch), method)(request, timeout=timeout)


def _hourly_reads(model: FeederModel) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A year of hourly kWh per load (interval-end timestamps with offsets): a daily and seasonal shape
    scaled to each load's kW, seeded."""
    loads = model.table("loads")
    t = pd.date_range(f"{YEAR}-01-01", periods=HOURS, freq="h", tz="UTC")
    hod = np.asarray(t.hour, dtype=np.float64)
    doy = np.asarray(t.day_of_year, dtype=np.float64)
    base = 0.55 + 0.25 * np.sin(2 * np.pi * (hod - 16) / 24) + 0.15 * np.cos(2 * np.pi * (doy - 200) / 365)
    rng = np.random.default_rng(3)
    truth: dict[str, np.ndarray] = {}
    frames = []
    for name, p_kw in zip(loads["name"], loads["p_kw"], strict=True):
        kwh = np.round(float(p_kw) * base * rng.uniform(0.95, 1.05, HOURS), 4)
        truth[str(name)] = kwh
        frames.append(pd.DataFrame({"meter": str(name), "read_end": (t + pd.Timedelta(hours=1)), "kwh": kwh}))
    frame = pd.concat(frames, ignore_index=True)
    frame["read_end"] = frame["read_end"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return frame, truth


@pytest.fixture(scope="module")
def ami_import(stack: Stack, model: FeederModel) -> tuple[dict[str, Any], dict[str, np.ndarray], str]:
    reply = _m(stack, "ImportMeters", measurements_pb2.ImportMetersRequest(site=SITE, from_twins=True))
    rep = json.loads(reply.report_json)
    assert reply.status == "committed" and rep["meters"] == len(model.table("loads"))
    frame, truth = _hourly_reads(model)
    extra = pd.DataFrame({"meter": ["nobody"], "read_end": [f"{YEAR}-03-01T01:00:00+00:00"], "kwh": [1.0]})
    csv = pd.concat([frame, extra], ignore_index=True).to_csv(index=False).encode()
    uid = _upload(stack, "reads.csv", csv)
    reply = _m(stack, "ImportAmi", measurements_pb2.ImportAmiRequest(site=SITE, upload_ids=[uid]))
    assert reply.kind == "ami" and reply.status == "committed", reply.report_json
    return json.loads(reply.report_json), truth, reply.import_id


def test_ami_import_report_and_aggregation(stack: Stack, ami_import: Any) -> None:
    rep, truth, _iid = ami_import
    counts = rep["counts"]
    assert counts["rows_read"] == HOURS * len(truth) + 1
    assert counts["rows_unknown_meter"] == 1
    unknown = [d for d in rep["issues"] if "nobody" in d["message"]]
    assert unknown and unknown[0]["where"].startswith("reads.csv:")
    assert rep["feeders"] == [FEEDER] and rep["months"][0] == f"{YEAR}-01"
    summary = rep["aggregation"]["feeders"][FEEDER]
    total = sum(float(v.sum()) for v in truth.values())
    assert summary["energy_kwh"] == pytest.approx(total, rel=1e-6)
    peak = np.sum(np.vstack(list(truth.values())), axis=0).max()
    assert summary["peak_kw"] == pytest.approx(peak, rel=1e-6)
    assert 0 < summary["coincidence_factor"] <= 1 and 0 < summary["load_factor"] < 1
    got = json.loads(
        _m(stack, "GetLoadSummary", measurements_pb2.GetLoadSummaryRequest(feeder=FEEDER)).summary_json
    )
    assert got[0]["year"] == YEAR and got[0]["peak_kw"] == pytest.approx(peak, rel=1e-6)


def test_import_records_and_idempotent_resume(stack: Stack, ami_import: Any) -> None:
    _rep, _truth, iid = ami_import
    rec = _m(stack, "GetImport", measurements_pb2.GetImportRequest(import_id=iid))
    assert rec.status == "committed" and rec.site == SITE
    listed = _m(stack, "ListImports", measurements_pb2.ListImportsRequest(kind="ami"))
    assert iid in [r.import_id for r in listed.imports]
    again = _m(
        stack,
        "ImportAmi",
        measurements_pb2.ImportAmiRequest(site=SITE, paths=[], import_id=iid, upload_ids=[]),
    )
    assert again.import_id == iid and again.status == "committed"


def test_allocation_puts_measured_load_on_the_loads_and_solves(
    stack: Stack, model: FeederModel, ami_import: Any
) -> None:
    _rep, truth, _iid = ami_import
    reply = _m(
        stack, "AllocateLoads", measurements_pb2.AllocateLoadsRequest(site=SITE, feeders=[FEEDER], year=YEAR)
    )
    report = json.loads(reply.report_json)[FEEDER]
    assert report["loads_allocated"] == len(truth)
    after = _export(stack)
    loads = after.table("loads").set_index("name")
    shapes = after.table("loadshapes").set_index("name")
    for name, _kwh in truth.items():
        shape = str(loads.loc[name, "yearly"])
        assert shape.startswith("ami_") and str(shapes.loc[shape, "profile"]).startswith(
            f"loadshape/ami-{FEEDER}/"
        )
    # Each load's measured energy is kept: peak x mean of its normalised group shape x hours.
    assert float(loads["p_kw"].sum()) > 0
    with stack.channel("powerflow") as ch:
        snap = powerflow_stub(ch).Snapshot(powerflow_pb2.SnapshotRequest(feeder=FEEDER), timeout=120)
    assert snap.converged


def test_bad_ami_files_are_located_and_leave_nothing(stack: Stack, ami_import: Any) -> None:
    before = _m(stack, "GetLoadSummary", measurements_pb2.GetLoadSummaryRequest(feeder=FEEDER)).summary_json
    bad = b"meter,read_end,kwh\n671,2025-06-01T01:00:00+00:00,1.0\n671,2025-06-01T02:00:00+00:00,\xff\xfe\n"
    uid = _upload(stack, "latin.csv", bad)
    with pytest.raises(grpc.RpcError) as err:
        _m(stack, "ImportAmi", measurements_pb2.ImportAmiRequest(site=SITE, upload_ids=[uid]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any("latin.csv:3" in d["where"] for d in details_from_rpc_error(err.value))
    buf = io.BytesIO()
    pd.DataFrame({"meter": ["671"] * 1000, "read_end": pd.date_range("2025-06-01", periods=1000, freq="h", tz="UTC"),
                  "kwh": np.ones(1000)}).to_parquet(buf)  # fmt: skip
    uid = _upload(stack, "cut.parquet", buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(grpc.RpcError) as err:
        _m(stack, "ImportAmi", measurements_pb2.ImportAmiRequest(site=SITE, upload_ids=[uid]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "cut.parquet" in err.value.details()
    failed = _m(stack, "ListImports", measurements_pb2.ListImportsRequest(kind="ami")).imports
    assert [r.status for r in failed][:2] == ["failed", "failed"]
    after = _m(stack, "GetLoadSummary", measurements_pb2.GetLoadSummaryRequest(feeder=FEEDER)).summary_json
    assert json.loads(after)[0]["energy_kwh"] == json.loads(before)[0]["energy_kwh"]
    with pytest.raises(grpc.RpcError) as err:
        _m(stack, "ImportAmi", measurements_pb2.ImportAmiRequest(site=SITE, upload_ids=["0" * 32]))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        _m(stack, "ImportAmi", measurements_pb2.ImportAmiRequest(site=SITE, paths=["/etc/passwd"]))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        _m(
            stack,
            "ImportAmi",
            measurements_pb2.ImportAmiRequest(site=SITE, upload_ids=[uid], options_json='{"timezone": 3}'),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any(d["where"].startswith("options.") for d in details_from_rpc_error(err.value))


def test_an_empty_upload_is_a_located_input_error(stack: Stack) -> None:
    # Found by the API fuzzer (issue 15): a client-streaming call's errors went unmapped (UNKNOWN: a 500).
    with stack.channel("ingestion") as ch, pytest.raises(grpc.RpcError) as err:
        measurements_stub(ch).UploadFile(_chunks("empty.csv", b""), timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [d["where"] for d in details_from_rpc_error(err.value)] == ["empty.csv"]


def test_oms_import_and_reliability(stack: Stack, model: FeederModel) -> None:
    csv = (
        b"OUTAGE_ID,START_TIME,RESTORE_TIME,CAUSE_CODE,DEVICE_ID,FEEDER_ID,CUST_INT\n"
        b"o1,2025-02-01 10:00,2025-02-01 11:00,TREE,671692,ami13,5\n"
        b"o2,2025-03-05 08:00,2025-03-05 08:03,ANIMAL,632670,ami13,15\n"
        b"o3,2025-07-10 14:00,2025-07-10 16:30,EQUIP,650632,ami13,15\n"
    )
    uid = _upload(stack, "outages.csv", csv)
    reply = _m(stack, "ImportOms", measurements_pb2.ImportOmsRequest(site=SITE, upload_id=uid))
    rep = json.loads(reply.report_json)
    assert reply.status == "committed" and rep["outages"] == 3 and rep["linked_devices"] == 3
    doc = json.loads(
        _m(
            stack, "GetReliability", measurements_pb2.GetReliabilityRequest(site=SITE, years=[2025])
        ).report_json
    )
    served = doc["customers_served"][FEEDER]
    assert served == len(model.table("loads"))  # the meter directory: one customer per meter
    system = doc["system"][0]["all"]
    assert system["saifi"] == pytest.approx((5 + 15) / served)
    assert system["saidi_min"] == pytest.approx((5 * 60 + 15 * 150) / served)
    assert system["maifi"] == pytest.approx(15 / served)
    bad = b"OUTAGE_ID,START_TIME,RESTORE_TIME,CAUSE_CODE,DEVICE_ID,FEEDER_ID,CUST_INT\no9,2025-04-01 10:00,2025-04-01 09:00,X,671692,ami13,5\n"
    uid = _upload(stack, "bad.csv", bad)
    with pytest.raises(grpc.RpcError) as err:
        _m(stack, "ImportOms", measurements_pb2.ImportOmsRequest(site=SITE, upload_id=uid))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any(d["where"] == "bad.csv:2" for d in details_from_rpc_error(err.value))
    again = json.loads(
        _m(
            stack, "GetReliability", measurements_pb2.GetReliabilityRequest(site=SITE, years=[2025])
        ).report_json
    )
    assert again["system"][0]["all"]["saifi"] == system["saifi"]  # nothing of the bad file landed


def test_weather_import_attaches_to_the_feeder(
    stack: Stack, model: FeederModel, open_meteo: FakeOpenMeteo
) -> None:
    req = measurements_pb2.ImportWeatherRequest(
        site=SITE, feeders=[FEEDER], has_location=True, lat=41.88, lon=-87.63, year=2024, attach=True
    )
    reply = _m(stack, "ImportWeather", req)
    rep = json.loads(reply.report_json)
    assert reply.status == "committed" and rep["hours"] >= 8760 and rep["attached_feeders"] == [FEEDER]
    assert any(r["path"] == "/v1/archive" and r["start_date"] == "2024-01-01" for r in open_meteo.requests)
    with stack.channel("twin_registry") as ch:
        twin = registry_stub(ch).GetTwin(twin_registry_pb2.GetTwinRequest(id=FEEDER), timeout=60)
    circuit = json.loads(json.loads(twin.json)["circuit_json"])
    assert circuit["ambient_profile"] == rep["profiles"][0] and circuit["ambient_profile"].endswith("/temp_c")
    # Cached: offline serves it again without a request.
    served = len(open_meteo.requests)
    offline = _m(stack, "ImportWeather", measurements_pb2.ImportWeatherRequest(
        site=SITE, feeders=[FEEDER], has_location=True, lat=41.88, lon=-87.63, year=2024, offline=True))  # fmt: skip
    assert offline.status == "committed" and len(open_meteo.requests) == served
    forecast = _m(stack, "ImportWeather", measurements_pb2.ImportWeatherRequest(
        site=SITE, has_location=True, lat=41.88, lon=-87.63, forecast=True, forecast_days=3))  # fmt: skip
    frep = json.loads(forecast.report_json)
    assert forecast.status == "committed" and frep["hours"] == 72
    assert any(r.endswith("-forecast/temp_c") for r in frep["profiles"])
    open_meteo.failing = True
    try:
        with pytest.raises(grpc.RpcError) as err:
            _m(stack, "ImportWeather", measurements_pb2.ImportWeatherRequest(
                site=SITE, has_location=True, lat=10.0, lon=10.0, year=2023))  # fmt: skip
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        open_meteo.failing = False
    with pytest.raises(grpc.RpcError) as err:
        _m(
            stack,
            "ImportWeather",
            measurements_pb2.ImportWeatherRequest(site=SITE, feeders=[FEEDER], year=2024),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # IEEE 13 has no coordinates: say lat/lon
