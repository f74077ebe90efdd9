"""An import that cannot be silently wrong, through the services: IEEE 13 uploaded with only one of its
three single-phase regulators answers with a warning naming the regulator behind which phases B and C
float (the check ran in the import's child process), and the clean feeder answers with none."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from e2e_support import IEEE13, IEEE13_DIR, Stack
from gridtwin.rpc.stubs import ingestion_stub
from gridtwin.rpc.v1 import ingestion_pb2

pytestmark = pytest.mark.skipif(not IEEE13.is_file(), reason="shared test data not found")

# Regulators 2 and 3 (and their controls) left out: RG60 gets phase A only, the line out of it takes three.
DROPPED = ("new transformer.reg2", "new transformer.reg3", "new regcontrol.reg2", "new regcontrol.reg3",
           "~ buses=[650.2", "~ buses=[650.3")  # fmt: skip


def _zip(broken: bool) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(IEEE13_DIR.iterdir()):
            text = path.read_text()
            if broken and path.name == IEEE13.name:
                text = "\n".join(ln for ln in text.splitlines() if not ln.lower().startswith(DROPPED)) + "\n"
            zf.writestr(f"IEEETestCases/13Bus/{path.name}", text)
        zf.write(IEEE13_DIR.parent / "IEEELineCodes.DSS", "IEEETestCases/IEEELineCodes.DSS")
    return buf.getvalue()


def _import(stack: Stack, feeder: str, data: bytes) -> Any:
    request = ingestion_pb2.ImportOpenDssRequest(feeder=feeder, site="checks", zip=data, master=IEEE13.name)
    with stack.channel("ingestion") as ch:
        return ingestion_stub(ch).ImportOpenDss(request, timeout=120)


def test_import_with_a_floating_phase_answers_with_the_warning(stack: Stack) -> None:
    reply = _import(stack, "ieee13-one-regulator", _zip(broken=True))
    assert reply.twins > 40  # imported all the same: the warnings say what is wrong with it
    first = reply.report.warnings[0]
    assert (first.code, first.where) == ("floating_phases", "transformer.reg1")
    assert "phases B, C at bus rg60" in first.message and "11 load(s)" in first.message
    codes = [w.code for w in reply.report.warnings]
    assert {"voltage_low", "voltage_high"} & set(codes)
    assert reply.report.counts["check_warnings"] == codes.index("extra_property")


def test_clean_import_answers_with_no_check_warning(stack: Stack) -> None:
    reply = _import(stack, "ieee13-checked", _zip(broken=False))
    assert reply.report.counts["check_warnings"] == 0
    assert [w.code for w in reply.report.warnings] == ["extra_property"]  # the reader's own note
