"""Scenarios as a planner uses them: stored documents, a scenario run as one QSTS job, sweeps (one job
per point, every point validated before any job starts) and diffs of jobs against a base.

The PowerFlow service turns protobuf into these calls and back; nothing here knows gRPC. Every call
takes the caller's ``principal`` (None: a trusted caller in the process): scenarios, sweeps and jobs
of sites it does not hold do not exist for it (``ScenarioStore``, ``JobStore``). A scenario saved without
a site by a caller of exactly one site lands in that site; "" (shared by every site) only from a caller
of every site. A sweep is admitted by the per-site job quota as one job.
"""

from __future__ import annotations

import builtins
import fnmatch
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import ValidationError

from gridtwin.access.principal import Principal
from gridtwin.compute.qsts_jobs import FeederSelection, QstsJobs
from gridtwin.errors import ErrorDetail, InputError, NotFoundError
from gridtwin.powerflow.qsts_results import QstsSpec
from gridtwin.scenarios.diff import diff_jobs
from gridtwin.scenarios.loader import parse_scenario, resolve_files
from gridtwin.scenarios.schema import Scenario, Sweep
from gridtwin.scenarios.sweep import sweep_points, sweep_scenarios, sweep_table
from gridtwin.store.jobs import JobRecord
from gridtwin.store.scenarios import ScenarioRecord, ScenarioStore, SweepRecord
from gridtwin.store.sites import landing_site

__all__ = ["DIFF_LEVELS", "DiffPage", "ScenarioJobs", "SweepView", "parse_scenario_text", "scenario_summary"]

DIFF_LEVELS = ("feeders", "elements", "buses")
# Sorting of a diff's rows: new violations first, then the biggest change.
_DIFF_ORDER = {"elements": "hours_over_normal_delta", "buses": "hours_outside_a_delta"}


def scenario_summary(scenario: Scenario) -> dict[str, Any]:
    """What a scenario does in a few fields (its sweep's points are built: a bad sweep fails here)."""
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


def parse_scenario_text(text: str, fmt: str = "") -> Scenario:
    """A scenario from its YAML or JSON text, checked whole (sweep included)."""
    if not text.strip():
        raise InputError("scenario text is empty", [ErrorDetail(where="text", message="send YAML or JSON")])
    if fmt not in ("", "yaml", "json"):
        raise InputError("bad format", [ErrorDetail(where="format", message="yaml or json")])
    scenario = resolve_files(parse_scenario(text, source="scenario", fmt=fmt or None), base_dir=None)
    scenario_summary(scenario)
    return scenario


@dataclass(frozen=True)
class SweepView:
    sweep: SweepRecord
    statuses: dict[str, str]  # job id -> status
    table: pd.DataFrame  # parameter values -> violation hours, worst loading, losses, peak


@dataclass(frozen=True)
class DiffPage:
    totals: list[dict[str, Any]]  # one row per job against the base
    page: pd.DataFrame
    total: int


class ScenarioJobs:
    """Scenario documents in ``store``; runs and sweeps as QSTS jobs of ``qsts``."""

    def __init__(self, qsts: QstsJobs, store: ScenarioStore) -> None:
        self.qsts = qsts
        self.store = store

    # -- documents ----------------------------------------------------------------------------------

    def create(
        self,
        text: str,
        fmt: str = "",
        scenario_id: str = "",
        *,
        site: str = "",
        principal: Principal | None = None,
    ) -> tuple[ScenarioRecord, Scenario]:
        """Store a scenario in ``site`` ("" : the caller's one site, or shared; see the module doc)."""
        scenario = parse_scenario_text(text, fmt)
        body = scenario.model_dump(mode="json")
        record = self.store.create(
            scenario.name,
            scenario.schema_version,
            body,
            text,
            scenario_id or None,
            site=landing_site(principal, site, ""),
            principal=principal,
        )
        return record, scenario

    def update(
        self,
        scenario_id: str,
        text: str,
        fmt: str = "",
        expected_revision: int | None = None,
        *,
        site: str = "",
        principal: Principal | None = None,
    ) -> tuple[ScenarioRecord, Scenario]:
        """Replace a stored scenario's text (``site``: move it there; "" keeps its site)."""
        if not scenario_id:
            raise InputError("scenario id is required", [ErrorDetail(where="id", message="empty")])
        scenario = parse_scenario_text(text, fmt)
        body = scenario.model_dump(mode="json")
        record = self.store.update(
            scenario_id,
            scenario.name,
            scenario.schema_version,
            body,
            text,
            expected_revision=expected_revision,
            site=site or None,
            principal=principal,
        )
        return record, scenario

    def get(self, scenario_id: str, *, principal: Principal | None = None) -> ScenarioRecord:
        return self.store.get(scenario_id, principal=principal)

    def list(
        self, *, limit: int = 50, offset: int = 0, principal: Principal | None = None
    ) -> tuple[builtins.list[ScenarioRecord], int]:
        return self.store.list(limit=limit, offset=offset, principal=principal)

    def delete(self, scenario_id: str, *, principal: Principal | None = None) -> ScenarioRecord:
        record = self.store.get(scenario_id, principal=principal)
        self.store.delete(record.id, principal=principal)
        return record

    # -- runs ---------------------------------------------------------------------------------------

    def scenario(
        self, scenario_id: str, text: str = "", fmt: str = "", *, principal: Principal | None = None
    ) -> tuple[Scenario, str]:
        """A stored scenario by id, else one given inline (id "")."""
        if scenario_id:
            record = self.store.get(scenario_id, principal=principal)
            return Scenario.model_validate(record.body), record.id
        if text.strip():
            return parse_scenario_text(text, fmt), ""
        raise InputError(
            "no scenario", [ErrorDetail(where="scenario_id", message="give scenario_id or scenario")]
        )

    def target_feeders(self, scenario: Scenario, selection: FeederSelection) -> builtins.list[str]:
        """Explicit request selection wins; else the scenario's targets (sites and/or patterns), among
        the feeders the feeder source lists for the caller."""
        if selection.given:
            return self.qsts.select(selection)
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
            for f in self.qsts.runner.feeders.list_feeders(site or None):
                if f.twin_count > 0 and (
                    not targets.feeders or any(fnmatch.fnmatchcase(f.id, p) for p in targets.feeders)
                ):
                    chosen.add(f.id)
        if not chosen:
            raise InputError("no target feeders", [ErrorDetail(where="targets", message="match no feeder")])
        return sorted(chosen)

    def run(
        self,
        scenario: Scenario,
        scenario_id: str,
        spec: QstsSpec,
        selection: FeederSelection,
        job_id: str = "",
        *,
        principal: Principal | None = None,
    ) -> JobRecord:
        feeders = self.target_feeders(scenario, selection)
        return self.qsts.run(
            selection,
            spec,
            feeders=feeders,
            job_id=job_id or None,
            scenario=scenario.model_dump(mode="json"),
            scenario_id=scenario_id,
            principal=principal,
        )

    def sweep(
        self,
        scenario_id: str,
        sweep_json: str,
        spec: QstsSpec,
        selection: FeederSelection,
        *,
        principal: Principal | None = None,
    ) -> SweepView:
        """One job per point of the stored scenario's sweep (or ``sweep_json``), all validated first;
        the per-site quota admits the sweep as one job (its first)."""
        record = self.store.get(scenario_id, principal=principal)
        scenario = Scenario.model_validate(record.body)
        sweep = scenario.sweep
        if sweep_json:
            try:
                sweep = Sweep.model_validate_json(sweep_json)
            except ValidationError as exc:
                details = [
                    ErrorDetail(where="sweep." + ".".join(str(p) for p in e["loc"]), message=e["msg"])
                    for e in exc.errors()
                ]
                raise InputError("invalid sweep", details) from exc
        points = sweep_scenarios(scenario, sweep)  # every point validated before any job starts
        assert sweep is not None
        feeders = self.target_feeders(scenario, selection)
        site = self.qsts.runner.job_site(feeders, principal)  # checked once for every point
        samples = []
        for i, (values, point) in enumerate(points):
            job = self.qsts.run(
                selection,
                spec,
                feeders=feeders,
                scenario=point.model_dump(mode="json"),
                scenario_id=record.id,
                extra={"sweep_sample": i, "sweep_values": values},
                principal=principal,
                quota=i == 0,
                site=site,
            )
            samples.append({"sample": i, "values": values, "job_id": job.id})
        swept = self.store.create_sweep(
            record.id, sweep.method, sweep.model_dump(mode="json"), samples, principal=principal
        )
        return self.sweep_view(swept.id, principal=principal)

    def sweep_view(self, sweep_id: str, *, principal: Principal | None = None) -> SweepView:
        """The sweep's points and results (``NotFoundError`` unless ``principal`` sees its scenario and
        every one of its jobs)."""
        sweep = self.store.get_sweep(sweep_id, principal=principal)
        rows: dict[str, pd.DataFrame] = {}
        statuses: dict[str, str] = {}
        for s in sweep.samples:
            job_id = str(s["job_id"])
            try:
                statuses[job_id] = self.qsts.jobs.get(job_id, principal=principal).status
            except NotFoundError:
                if principal is None:
                    raise
                raise NotFoundError(
                    "no such sweep", [ErrorDetail(where=sweep_id, message="not found")]
                ) from None
            rows[job_id], _ = self.qsts.results.feeders(job_id, limit=1000)
        table = sweep_table(sweep.samples, rows)
        table.insert(2, "status", [statuses[str(s["job_id"])] for s in sweep.samples])
        return SweepView(sweep, statuses, table)

    def diff(
        self,
        base: str,
        jobs: builtins.list[str],
        level: str,
        *,
        new_only: bool,
        limit: int,
        offset: int,
        principal: Principal | None = None,
    ) -> DiffPage:
        """``jobs`` against ``base`` at ``level``: totals and one page of rows, new violations first."""
        if not base or not jobs:
            raise InputError(
                "diff needs a base job and at least one other",
                [ErrorDetail(where="job_ids", message="empty")],
            )
        for j in [base, *jobs]:
            self.qsts.jobs.get(j, principal=principal)  # NotFoundError names it
        level = level or "feeders"
        if level not in DIFF_LEVELS:
            raise InputError(
                "bad level", [ErrorDetail(where="level", message=f"one of {', '.join(DIFF_LEVELS)}")]
            )
        limit = limit or 100
        if not 1 <= limit <= 10_000 or offset < 0:
            raise InputError(
                "bad paging", [ErrorDetail(where="limit", message="limit 1..10000, offset >= 0")]
            )
        result = diff_jobs(self.qsts.results, base, jobs)
        frame: pd.DataFrame = getattr(result, level)
        if level != "feeders" and new_only and len(frame):
            frame = frame[frame["new_violation"]]
        if level in _DIFF_ORDER and len(frame):
            frame = frame.sort_values(["new_violation", _DIFF_ORDER[level]], ascending=False, kind="stable")
        page = frame.iloc[offset : offset + limit].reset_index(drop=True)
        return DiffPage(result.totals, page, len(frame))
