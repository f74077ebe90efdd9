"""The PowerFlow service's scenario handlers: CRUD, run, sweep and diff.

Thin: ``gridtwin.scenarios`` validates, samples and diffs; ``gridtwin.store.scenarios`` stores;
``QstsJobs`` (its runner) runs each scenario as a QSTS job whose tasks compose the scenario on
their feeder. Validation of a whole sweep (every point's scenario) happens before any job starts.
"""

from __future__ import annotations

import builtins
import fnmatch
import json
from typing import Any

import pandas as pd
import sqlalchemy as sa
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.rpc.v1 import powerflow_pb2, twin_registry_pb2
from gridtwin.scenarios.diff import diff_jobs
from gridtwin.scenarios.loader import parse_scenario, resolve_files
from gridtwin.scenarios.schema import Scenario, Sweep
from gridtwin.scenarios.sweep import sweep_points, sweep_scenarios, sweep_table
from gridtwin.store.scenarios import ScenarioRecord, ScenarioStore, SweepRecord
from pydantic import ValidationError

from gridtwin_powerflow.jobs import QstsJobs, job_to_proto, spec_from_request, table_to_proto

__all__ = ["ScenarioHandlers", "scenario_summary"]

DIFF_LEVELS = ("feeders", "elements", "buses")


def scenario_summary(scenario: Scenario) -> dict[str, Any]:
    sweep = None
    if scenario.sweep is not None:
        sweep = {"method": scenario.sweep.method, "points": len(sweep_points(scenario.sweep))}
    return {
        "name": scenario.name,
        "seed": scenario.seed,
        "layers": [{"id": layer.id, "type": layer.type} for layer in scenario.layers],
        "targets": scenario.targets.model_dump(),
        "sweep": sweep,
    }


def _parse(text_msg: Any) -> tuple[Scenario, str]:
    text = str(text_msg.text)
    if not text.strip():
        raise InputError("scenario text is empty", [ErrorDetail(where="text", message="send YAML or JSON")])
    fmt = str(text_msg.format) or None
    if fmt not in (None, "yaml", "json"):
        raise InputError("bad format", [ErrorDetail(where="format", message="yaml or json")])
    scenario = resolve_files(parse_scenario(text, source="scenario", fmt=fmt), base_dir=None)
    scenario_summary(scenario)  # builds the sweep's points too: a bad sweep fails here, not at run time
    return scenario, text


def _doc(record: ScenarioRecord, scenario: Scenario | None = None, *, with_body: bool = True) -> Any:
    sc = scenario or Scenario.model_validate(record.body)
    return powerflow_pb2.ScenarioDoc(
        id=record.id,
        name=record.name,
        schema_version=record.schema_version,
        revision=record.revision,
        body_json=json.dumps(record.body, sort_keys=True) if with_body else "",
        created_at=record.created_at.isoformat(),
        updated_at=record.updated_at.isoformat(),
        summary_json=json.dumps(scenario_summary(sc)),
    )


class ScenarioHandlers:
    def __init__(self, jobs: QstsJobs, engine: sa.Engine) -> None:
        self._jobs = jobs
        self.store = ScenarioStore(engine)

    # -- documents ----------------------------------------------------------------------------------

    def validate(self, request: Any) -> Any:
        scenario, _ = _parse(request)
        body = scenario.model_dump(mode="json")
        return powerflow_pb2.ScenarioDoc(
            id=str(request.id),
            name=scenario.name,
            schema_version=scenario.schema_version,
            body_json=json.dumps(body, sort_keys=True),
            summary_json=json.dumps(scenario_summary(scenario)),
        )

    def create(self, request: Any) -> Any:
        scenario, text = _parse(request)
        body = scenario.model_dump(mode="json")
        record = self.store.create(
            scenario.name, scenario.schema_version, body, text, str(request.id) or None
        )
        return _doc(record, scenario)

    def update(self, request: Any) -> Any:
        if not request.id:
            raise InputError("scenario id is required", [ErrorDetail(where="id", message="empty")])
        scenario, text = _parse(request)
        body = scenario.model_dump(mode="json")
        record = self.store.update(
            str(request.id),
            scenario.name,
            scenario.schema_version,
            body,
            text,
            expected_revision=int(request.expected_revision) or None,
        )
        return _doc(record, scenario)

    def get(self, request: Any) -> Any:
        return _doc(self.store.get(str(request.id)))

    def list(self, request: Any) -> Any:
        records, total = self.store.list(limit=int(request.limit) or 50, offset=int(request.offset))
        return powerflow_pb2.ListScenariosResponse(
            scenarios=[_doc(r, with_body=False) for r in records], total=total
        )

    def delete(self, request: Any) -> Any:
        record = self.store.get(str(request.id))
        self.store.delete(record.id)
        return _doc(record, with_body=False)

    # -- runs ---------------------------------------------------------------------------------------

    def _scenario(self, scenario_id: str, inline: Any) -> tuple[Scenario, str]:
        if scenario_id:
            record = self.store.get(scenario_id)
            return Scenario.model_validate(record.body), record.id
        if inline is not None and str(inline.text).strip():
            return _parse(inline)[0], ""
        raise InputError(
            "no scenario", [ErrorDetail(where="scenario_id", message="give scenario_id or scenario")]
        )

    def _feeders(self, scenario: Scenario, request: Any) -> tuple[builtins.list[str], str]:
        """Explicit request selection wins; else the scenario's targets (sites and/or patterns)."""
        if request.feeders or request.site or request.feeder_glob:
            return self._jobs._select(request), str(request.site)
        targets = scenario.targets
        if not targets.feeders and not targets.sites:
            raise InputError(
                "no target feeders",
                [
                    ErrorDetail(
                        where="targets", message="the scenario names no feeders or sites; pass feeders"
                    )
                ],
            )
        chosen: set[str] = set()
        for site in targets.sites or [""]:
            listed = self._jobs._call("ListFeeders", twin_registry_pb2.ListFeedersRequest(site=site))
            for f in listed.feeders:
                if f.twin_count > 0 and (
                    not targets.feeders or any(fnmatch.fnmatchcase(f.id, p) for p in targets.feeders)
                ):
                    chosen.add(f.id)
        if not chosen:
            raise InputError("no target feeders", [ErrorDetail(where="targets", message="match no feeder")])
        return sorted(chosen), (targets.sites[0] if len(targets.sites) == 1 else "")

    def run(self, request: Any) -> Any:
        scenario, scenario_id = self._scenario(
            str(request.scenario_id), request.scenario if request.HasField("scenario") else None
        )
        spec = spec_from_request(request.period, None, self._jobs._limits)
        feeders, site = self._feeders(scenario, request)
        job = self._jobs.runner().submit_qsts(
            feeders,
            spec,
            site=site,
            job_id=str(request.job_id) or None,
            scenario=scenario.model_dump(mode="json"),
            scenario_id=scenario_id,
        )
        return job_to_proto(job, [])

    def run_sweep(self, request: Any) -> Any:
        record = self.store.get(str(request.scenario_id))
        scenario = Scenario.model_validate(record.body)
        sweep = scenario.sweep
        if request.sweep_json:
            try:
                sweep = Sweep.model_validate_json(str(request.sweep_json))
            except ValidationError as exc:
                details = [
                    ErrorDetail(where="sweep." + ".".join(str(p) for p in e["loc"]), message=e["msg"])
                    for e in exc.errors()
                ]
                raise InputError("invalid sweep", details) from exc
        points = sweep_scenarios(scenario, sweep)  # every point validated before any job starts
        assert sweep is not None
        spec = spec_from_request(request.period, None, self._jobs._limits)
        feeders, site = self._feeders(scenario, request)
        samples = []
        for i, (values, point) in enumerate(points):
            job = self._jobs.runner().submit_qsts(
                feeders,
                spec,
                site=site,
                scenario=point.model_dump(mode="json"),
                scenario_id=record.id,
                params_extra={"sweep_sample": i, "sweep_values": values},
            )
            samples.append({"sample": i, "values": values, "job_id": job.id})
        swept = self.store.create_sweep(record.id, sweep.method, sweep.model_dump(mode="json"), samples)
        return self._sweep_info(swept)

    def get_sweep(self, request: Any) -> Any:
        return self._sweep_info(self.store.get_sweep(str(request.id)))

    def _sweep_info(self, sweep: SweepRecord) -> Any:
        rows: dict[str, pd.DataFrame] = {}
        statuses: dict[str, str] = {}
        for s in sweep.samples:
            job_id = str(s["job_id"])
            statuses[job_id] = self._jobs.jobs.get(job_id).status
            frame, _ = self._jobs.results.feeders(job_id, limit=1000)
            rows[job_id] = frame
        table = sweep_table(sweep.samples, rows)
        table.insert(2, "status", [statuses[str(s["job_id"])] for s in sweep.samples])
        return powerflow_pb2.SweepInfo(
            id=sweep.id,
            scenario_id=sweep.scenario_id,
            method=sweep.method,
            spec_json=json.dumps(sweep.spec, sort_keys=True),
            samples=[
                powerflow_pb2.SweepSample(
                    sample=int(s["sample"]),
                    values_json=json.dumps(s["values"], sort_keys=True),
                    job_id=str(s["job_id"]),
                    status=statuses[str(s["job_id"])],
                )
                for s in sweep.samples
            ],
            table=table_to_proto(table, len(table), "sweep"),
        )

    def diff(self, request: Any) -> Any:
        base = str(request.base_job_id)
        jobs = [str(j) for j in request.job_ids]
        if not base or not jobs:
            raise InputError(
                "diff needs a base job and at least one other",
                [ErrorDetail(where="job_ids", message="empty")],
            )
        for j in [base, *jobs]:
            self._jobs.jobs.get(j)  # NotFoundError names it
        level = str(request.level) or "feeders"
        if level not in DIFF_LEVELS:
            raise InputError(
                "bad level", [ErrorDetail(where="level", message=f"one of {', '.join(DIFF_LEVELS)}")]
            )
        result = diff_jobs(self._jobs.results, base, jobs)
        frame: pd.DataFrame = getattr(result, level)
        if level != "feeders" and request.new_only and len(frame):
            frame = frame[frame["new_violation"]]
        if level == "elements" and len(frame):
            frame = frame.sort_values(
                ["new_violation", "hours_over_normal_delta"], ascending=False, kind="stable"
            )
        elif level == "buses" and len(frame):
            frame = frame.sort_values(
                ["new_violation", "hours_outside_a_delta"], ascending=False, kind="stable"
            )
        limit, offset = int(request.limit) or 100, int(request.offset)
        if not 1 <= limit <= 10_000 or offset < 0:
            raise InputError(
                "bad paging", [ErrorDetail(where="limit", message="limit 1..10000, offset >= 0")]
            )
        page = frame.iloc[offset : offset + limit].reset_index(drop=True)
        return powerflow_pb2.DiffJobsResponse(
            totals_json=json.dumps(result.totals), table=table_to_proto(page, len(frame), level)
        )
