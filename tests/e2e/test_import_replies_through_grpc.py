"""What an import answers, through the real services: the twin count is the one ``feeders list`` shows,
a missing server path says it does not exist, and an upload that is no zip says so."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from e2e_support import IEEE13, SHARED_DATA, Stack
from gridtwin.rpc.errors import details_from_rpc_error
from gridtwin.rpc.stubs import ingestion_stub, registry_stub
from gridtwin.rpc.v1 import ingestion_pb2, twin_registry_pb2

pytestmark = pytest.mark.skipif(not IEEE13.is_file(), reason="shared test data not found")


def _import(stack: Stack, **kwargs: Any) -> Any:
    with stack.channel("ingestion") as ch:
        return ingestion_stub(ch).ImportOpenDss(ingestion_pb2.ImportOpenDssRequest(**kwargs), timeout=120)


def test_import_reply_counts_the_twins_feeders_list_shows(stack: Stack) -> None:
    reply = _import(stack, feeder="ieee13-counted", site="counting", path=str(IEEE13))
    with stack.channel("twin_registry") as ch:
        listed = registry_stub(ch).ListFeeders(
            twin_registry_pb2.ListFeedersRequest(site="counting"), timeout=30
        )
        site_twin = registry_stub(ch).GetTwin(
            twin_registry_pb2.GetTwinRequest(id="site.counting"), timeout=30
        )
    (info,) = listed.feeders
    assert info.id == "ieee13-counted" and info.twin_count == reply.twins > 40
    assert site_twin.feeder == ""  # written by the import, shared by the site: no feeder's twin


def test_missing_server_path_says_it_does_not_exist(stack: Stack) -> None:
    missing = SHARED_DATA / "opendss" / "no-such-folder"
    with pytest.raises(grpc.RpcError) as info:
        _import(stack, feeder="nothere", path=str(missing))
    err: Any = info.value
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert (err.details() or "").startswith("path does not exist")
    # (when the shared folder is reached through a link, the message also says where it resolved to)
    assert details_from_rpc_error(err)[0]["message"].startswith(f"{missing} does not exist")


def test_upload_that_is_no_zip_says_so(stack: Stack) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _import(stack, feeder="notzip", zip=b"bus,kv\nb1,12.47\n")
    err: Any = info.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.details() or "").startswith("not a zip archive")
    assert "unsafe" not in (err.details() or "")
