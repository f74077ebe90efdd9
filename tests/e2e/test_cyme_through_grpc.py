"""CYME exports through the ingestion service: an upload with its equipment file, then other feeders of
the same site that bring only their network and load files and are read against the site's catalog;
bad uploads are located errors and leave the registry unchanged."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import grpc
import pytest
from e2e_support import SHARED_DATA, Stack
from gridtwin.rpc.errors import details_from_rpc_error
from gridtwin.rpc.stubs import ingestion_stub, powerflow_stub, registry_stub
from gridtwin.rpc.v1 import ingestion_pb2, powerflow_pb2, twin_registry_pb2

IEEE13 = SHARED_DATA / "cyme" / "ieee_13node"
pytestmark = pytest.mark.skipif(not IEEE13.is_dir(), reason="shared test data not found")


def _zip(*files: Path, half_of: str = "") -> bytes:
    """The files zipped; ``half_of`` names one cut in the middle (an upload that stopped)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in files:
            data = f.read_bytes()
            zf.writestr(f.name, data[: len(data) // 2] if f.name == half_of else data)
    return buf.getvalue()


def _import(stack: Stack, feeder: str, site: str, data: bytes) -> ingestion_pb2.ImportOpenDssResponse:
    with stack.channel("ingestion") as ch:
        request = ingestion_pb2.ImportCymeRequest(feeder=feeder, site=site, zip=data)
        return ingestion_stub(ch).ImportCyme(request, timeout=300)


def _voltages(stack: Stack, feeder: str) -> dict[tuple[str, int], float]:
    with stack.channel("powerflow") as ch:
        snap = powerflow_stub(ch).Snapshot(powerflow_pb2.SnapshotRequest(feeder=feeder), timeout=300)
    assert snap.converged
    return {(v.bus, v.node): v.pu for v in snap.voltages}


def _feeders(stack: Stack) -> set[str]:
    with stack.channel("twin_registry") as ch:
        listed = registry_stub(ch).ListFeeders(twin_registry_pb2.ListFeedersRequest(), timeout=60)
    return {f.id for f in listed.feeders if f.twin_count}


def test_one_equipment_catalog_serves_the_sites_feeders(stack: Stack) -> None:
    files = [IEEE13 / "network.txt", IEEE13 / "equipment.txt", IEEE13 / "load.txt"]
    first = _import(stack, "cymecat1", "cat", _zip(*files))
    assert first.twins > 20 and not first.report.unmapped
    # The next feeder of the site brings its network and loads only: the stored catalog completes it.
    second = _import(stack, "cymecat2", "cat", _zip(IEEE13 / "network.txt", IEEE13 / "load.txt"))
    assert second.twins == first.twins
    assert any(w.code == "site_catalog" for w in second.report.warnings)
    assert _voltages(stack, "cymecat2") == pytest.approx(_voltages(stack, "cymecat1"), abs=1e-9)
    # Another site has no catalog yet: the missing equipment is named, nothing is written.
    with pytest.raises(grpc.RpcError) as err:
        _import(stack, "cymecat3", "other", _zip(IEEE13 / "network.txt", IEEE13 / "load.txt"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any("network.txt" in d["where"] for d in details_from_rpc_error(err.value))
    assert "cymecat3" not in _feeders(stack)


def test_truncated_upload_is_located_and_nothing_is_written(stack: Stack) -> None:
    files = [IEEE13 / "network.txt", IEEE13 / "equipment.txt", IEEE13 / "load.txt"]
    truncated = _zip(*files, half_of="load.txt")
    with pytest.raises(grpc.RpcError) as err:
        _import(stack, "cymebad", "cat2", truncated)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    wheres = [d["where"] for d in details_from_rpc_error(err.value)]
    assert any(w.startswith("load.txt:") for w in wheres), wheres  # the file in the archive, and the line
    assert "cymebad" not in _feeders(stack)


def test_regulators_option_reaches_the_reader(stack: Stack) -> None:
    """Controlled by default (the export's own Vset 116.19 V), taps pinned with "fixed"; any other value
    is INVALID_ARGUMENT naming the field, with nothing written."""
    files = _zip(IEEE13 / "network.txt", IEEE13 / "equipment.txt", IEEE13 / "load.txt")
    with stack.channel("ingestion") as ch:
        stub = ingestion_stub(ch)
        fixed = stub.ImportCyme(
            ingestion_pb2.ImportCymeRequest(feeder="cymefixed", site="reg", zip=files, regulators="fixed"),
            timeout=300,
        )
        controlled = stub.ImportCyme(
            ingestion_pb2.ImportCymeRequest(feeder="cymectl", site="reg", zip=files), timeout=300
        )
        with pytest.raises(grpc.RpcError) as err:
            stub.ImportCyme(
                ingestion_pb2.ImportCymeRequest(
                    feeder="cymebadreg", site="reg", zip=files, regulators="sometimes"
                ),
                timeout=300,
            )
    assert any(w.code == "fixed_taps" for w in fixed.report.warnings)
    assert not any(w.code == "fixed_taps" for w in controlled.report.warnings)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [d["where"] for d in details_from_rpc_error(err.value)] == ["regulators"]
    assert "cymebadreg" not in _feeders(stack)
    # the fixed taps (Kersting's 10/8/11 steps) hold rg60 near 1.06 pu; controlled, it sits at 116.19/120
    pinned, regulated = _voltages(stack, "cymefixed"), _voltages(stack, "cymectl")
    assert pinned[("rg60", 1)] > 1.05 and 0.95 < regulated[("rg60", 1)] < 0.98
