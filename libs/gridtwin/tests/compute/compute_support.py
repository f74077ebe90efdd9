"""Helpers shared by the compute tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from gridtwin.compute.events import JobEvents
from gridtwin.compute.qsts_task import QSTS_KIND, qsts_job_params
from gridtwin.errors import ErrorDetail, NotFoundError
from gridtwin.grid.model import TABLES, FeederModel
from gridtwin.store.jobs import JobStore
from gridtwin.store.profiles import ProfileStore
from gridtwin.store.results import QstsResultStore
from gridtwin.twin.records import FeederInfo


def shared_data() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4].parent / "shared" / "data"


IEEE13 = shared_data() / "opendss" / "IEEETestCases" / "13Bus" / "IEEE13Nodeckt.dss"
PARTITION = "test-s1"


def with_profile_shape(
    base: FeederModel, feeder_id: str, ref: str, *, version: str = "v1", debugtrace: bool = False
) -> FeederModel:
    """``base`` renamed, every load following one yearly shape backed by the profile ``ref``."""
    shape = {c: None for c in TABLES["loadshapes"].column_names()}
    shape.update(
        name="daily",
        npts=8760,
        interval_h=1.0,
        mult=[],
        qmult=[],
        hours=[],
        use_actual=False,
        profile=ref,
        dss_extra_json="",
    )
    tables = {k: v.copy() for k, v in base.tables.items()}
    tables["loadshapes"] = pd.DataFrame([shape], columns=TABLES["loadshapes"].column_names())
    tables["loads"]["yearly"] = "daily"
    if debugtrace:  # regulators that write a trace file beside the model while solving
        tables["regcontrols"]["dss_extra_json"] = json.dumps({"debugtrace": "yes"})
    return FeederModel(feeder_id, base.site, dict(base.circuit), tables, version)


def submit_qsts(
    runner: Any,
    feeders: list[str],
    spec: Any,
    *,
    site: str = "",
    job_id: str | None = None,
    params_extra: dict[str, Any] | None = None,
    scenario: dict[str, Any] | None = None,
    scenario_id: str = "",
) -> Any:
    """A QSTS job on ``runner`` (its QSTS kind registered by the ``make_runner`` fixture)."""
    params = qsts_job_params(feeders, spec, extra=params_extra, scenario=scenario, scenario_id=scenario_id)
    return runner.submit(QSTS_KIND, feeders, params, site=site, job_id=job_id)


@dataclass
class Env:
    jobs: JobStore
    results: QstsResultStore
    events: JobEvents
    profiles: ProfileStore
    profile_root: Path
    models: dict[str, FeederModel]
    loads: list[str]  # feeder ids passed to the loader, in call order

    # The test's FeederSource: the models above, each load recorded.
    def feeder_model(self, feeder: str) -> FeederModel:
        self.loads.append(feeder)
        model = self.models.get(feeder)
        if model is None:
            raise NotFoundError(
                f"feeder {feeder} not found", [ErrorDetail(where=feeder, message="no such feeder")]
            )
        return model

    def feeder_ipc(self, feeder: str) -> bytes:
        return self.feeder_model(feeder).to_ipc()

    def feeder_version(self, feeder: str) -> str:
        return self.feeder_model(feeder).version

    def list_feeders(self, site: str | None = None) -> list[FeederInfo]:
        return [FeederInfo(f, m.site, 1, m.version) for f, m in sorted(self.models.items())]
