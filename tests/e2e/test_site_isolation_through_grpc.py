"""Site isolation through gRPC, behind the gateway: two sites' data (feeders, QSTS jobs, scenarios,
hosting results, measurement imports) and callers of site A, of site B, of both and of every site, in
each role, signing internal tokens as the gateway does for the user it verified.

A caller of site A never sees or changes site B's items through any RPC: reads of B's ids answer
NOT_FOUND (exactly as missing ones), lists never hold them, creating or importing into B is
PERMISSION_DENIED. A missing, forged, expired, ``alg: none``, user-access or other-secret token is
UNAUTHENTICATED (a process that can reach a service's port cannot impersonate the gateway); health
answers without one. The per-site job quota answers RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
import pytest
from e2e_support import ADMIN, IEEE13, INTERNAL_SECRET, SHARED_DATA, Stack, free_port, user
from gridtwin.access import ALL_SITES, Principal, Role
from gridtwin.access.tokens import INTERNAL_AUDIENCE, ISSUER, TokenSigner, new_secret
from gridtwin.config import Settings
from gridtwin.rpc.errors import details_from_rpc_error
from gridtwin.rpc.runner import RunningService, discover_services, start_grpc_services, stop_grpc_services
from gridtwin.rpc.stubs import hosting_stub, ingestion_stub, measurements_stub, powerflow_stub, registry_stub
from gridtwin.rpc.v1 import common_pb2, hosting_pb2, ingestion_pb2, measurements_pb2, powerflow_pb2
from gridtwin.rpc.v1 import twin_registry_pb2 as pb
from grpc_health.v1 import health_pb2, health_pb2_grpc

pytestmark = pytest.mark.skipif(not IEEE13.is_file(), reason="shared test data not found")

SITE_A, SITE_B = "iso-a", "iso-b"
FEEDER_A, FEEDER_B = "isoa13", "isob13"
SCENARIO = "name: {name}\nseed: 1\nlayers: []\n"
SHORT = powerflow_pb2.QstsPeriod(hours=2)
T = 120  # seconds per call
ROLES = ("admin", "operator", "analyst", "viewer")


@dataclass(frozen=True)
class World:
    job_a: str
    job_b: str
    scenario_a: str
    scenario_b: str
    import_a: str
    import_b: str
    relationship_b: tuple[str, str]  # (source id, relationship id) of a relationship of site B


def _code(call: Callable[[], Any]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    code: grpc.StatusCode = info.value.code()
    return code


def _wait_job(stack: Stack, who: Principal, job_id: str) -> str:
    deadline = time.monotonic() + 600
    with stack.channel("powerflow", who) as ch:
        stub = powerflow_stub(ch)
        while True:
            job = stub.GetJob(powerflow_pb2.GetJobRequest(job_id=job_id), timeout=T)
            if job.status in ("succeeded", "partial", "failed", "cancelled"):
                return str(job.status)
            assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def hosting(stack: Stack) -> Iterator[Stack]:
    """The HostingCapacity service beside the session's stack (same database, registry and secret)."""
    settings = stack.settings.model_copy(update={"hosting_addr": f"127.0.0.1:{free_port()}"})
    specs = [s for s in discover_services().specs if s.name == "hosting"]
    running: list[RunningService] = start_grpc_services(specs, settings)
    yield Stack([*stack.running, *running], settings)
    stop_grpc_services(running, grace_s=1)


@pytest.fixture(scope="module")
def world(stack: Stack, hosting: Stack) -> World:
    """Each site's data, made by that site's own operator and analyst."""
    out: dict[str, Any] = {}
    for tag, site, feeder in (("a", SITE_A, FEEDER_A), ("b", SITE_B, FEEDER_B)):
        operator, analyst = user(f"op-{tag}", "operator", site), user(f"an-{tag}", "analyst", site)
        # Site A names no site: a caller of one site imports into it.
        given = "" if tag == "a" else site
        with stack.channel("ingestion", operator) as ch:
            ingestion_stub(ch).ImportOpenDss(
                ingestion_pb2.ImportOpenDssRequest(feeder=feeder, site=given, path=str(IEEE13)), timeout=T
            )
            rec = measurements_stub(ch).ImportMeters(
                measurements_pb2.ImportMetersRequest(site=given, from_twins=True), timeout=T
            )
            assert rec.site == site and rec.status == "committed", rec
            out[f"import_{tag}"] = rec.import_id
        with stack.channel("twin_registry", operator) as ch:
            info = {
                f.id: f.site
                for f in registry_stub(ch).ListFeeders(pb.ListFeedersRequest(), timeout=T).feeders
            }
            assert info[feeder] == site
            rels = registry_stub(ch).ListRelationships(
                pb.ListRelationshipsRequest(source_id=feeder), timeout=T
            )
            out[f"relationship_{tag}"] = (feeder, rels.relationships[0].id)
        with stack.channel("powerflow", analyst) as ch:
            stub = powerflow_stub(ch)
            job = stub.RunQSTS(powerflow_pb2.RunQstsRequest(feeders=[feeder], period=SHORT), timeout=T)
            assert job.site == site
            out[f"job_{tag}"] = job.id
            doc = stub.CreateScenario(
                powerflow_pb2.ScenarioText(text=SCENARIO.format(name=f"iso-{tag}"), site=given), timeout=T
            )
            assert doc.site == site
            out[f"scenario_{tag}"] = doc.id
        with hosting.channel("hosting", analyst) as ch:
            reply = hosting_stub(ch).PerBus(
                hosting_pb2.PerBusRequest(feeder=feeder, buses=["675"], method="fast"), timeout=600
            )
            assert reply.table.total >= 1
    for tag in ("a", "b"):
        site = SITE_A if tag == "a" else SITE_B
        assert _wait_job(stack, user("an", "analyst", site), out[f"job_{tag}"]) == "succeeded"
    return World(
        out["job_a"], out["job_b"], out["scenario_a"], out["scenario_b"], out["import_a"], out["import_b"],
        out["relationship_b"],
    )  # fmt: skip


def _lists(stack: Stack, hosting: Stack, who: Principal) -> dict[str, set[str]]:
    """Everything ``who`` can list: feeders, twins' sites, jobs, scenarios, imports."""
    with stack.channel("twin_registry", who) as ch:
        reg = registry_stub(ch)
        feeders = {f.id for f in reg.ListFeeders(pb.ListFeedersRequest(), timeout=T).feeders}
        sites: set[str] = set()
        token = ""
        while True:
            page = reg.QueryTwins(
                pb.QueryTwinsRequest(page=common_pb2.PageRequest(page_size=1000, page_token=token)), timeout=T
            )
            sites |= {t.site for t in page.twins}
            token = page.next_page_token
            if not token:
                break
    with stack.channel("powerflow", who) as ch:
        pf = powerflow_stub(ch)
        jobs = {j.id for j in pf.ListJobs(powerflow_pb2.ListJobsRequest(limit=1000), timeout=T).jobs}
        scenarios = {
            s.id
            for s in pf.ListScenarios(powerflow_pb2.ListScenariosRequest(limit=1000), timeout=T).scenarios
        }
    with stack.channel("ingestion", who) as ch:
        imports = {
            i.import_id
            for i in measurements_stub(ch)
            .ListImports(measurements_pb2.ListImportsRequest(limit=1000), timeout=T)
            .imports
        }
    return {"feeders": feeders, "sites": sites, "jobs": jobs, "scenarios": scenarios, "imports": imports}


@pytest.mark.parametrize("role", ROLES)
def test_a_caller_of_site_a_never_sees_site_b(stack: Stack, hosting: Stack, world: World, role: str) -> None:
    who = user(f"{role}-a", role, SITE_A)
    listed = _lists(stack, hosting, who)
    assert FEEDER_A in listed["feeders"] and FEEDER_B not in listed["feeders"]
    assert SITE_A in listed["sites"] and SITE_B not in listed["sites"]
    assert world.job_a in listed["jobs"] and world.job_b not in listed["jobs"]
    assert world.scenario_a in listed["scenarios"] and world.scenario_b not in listed["scenarios"]
    assert world.import_a in listed["imports"] and world.import_b not in listed["imports"]

    nf = grpc.StatusCode.NOT_FOUND
    source, rel = world.relationship_b
    with stack.channel("twin_registry", who) as ch:
        reg = registry_stub(ch)
        reg.GetTwin(pb.GetTwinRequest(id=FEEDER_A), timeout=T)  # its own site: there
        assert _code(lambda: reg.GetTwin(pb.GetTwinRequest(id=FEEDER_B), timeout=T)) == nf
        assert _code(lambda: reg.GetTwin(pb.GetTwinRequest(id=f"site.{SITE_B}"), timeout=T)) == nf
        assert _code(lambda: reg.ExportFeeder(pb.ExportFeederRequest(feeder=FEEDER_B), timeout=T)) == nf
        assert (
            _code(
                lambda: reg.ExportFeeder(
                    pb.ExportFeederRequest(feeder=FEEDER_B, version_only=True), timeout=T
                )
            )
            == nf
        )
        assert (
            _code(lambda: reg.ListRelationships(pb.ListRelationshipsRequest(source_id=source), timeout=T))
            == nf
        )
        assert (
            _code(lambda: reg.GetRelationship(pb.GetRelationshipRequest(source_id=source, id=rel), timeout=T))
            == nf
        )
        assert _code(lambda: reg.Traverse(pb.TraverseRequest(start_id=FEEDER_B, max_hops=2), timeout=T)) == nf
        assert not reg.QueryTwins(pb.QueryTwinsRequest(feeder=FEEDER_B), timeout=T).twins
        assert not reg.QueryTwins(pb.QueryTwinsRequest(site=SITE_B), timeout=T).twins
        hops = reg.Traverse(pb.TraverseRequest(start_id=FEEDER_A, max_hops=3, direction="both"), timeout=T)
        assert {t.site for t in hops.twins} <= {SITE_A, ""}
    with stack.channel("powerflow", who) as ch:
        pf = powerflow_stub(ch)
        pf.GetJob(powerflow_pb2.GetJobRequest(job_id=world.job_a), timeout=T)
        assert _code(lambda: pf.GetJob(powerflow_pb2.GetJobRequest(job_id=world.job_b), timeout=T)) == nf
        results = powerflow_pb2.QstsResultsRequest(job_id=world.job_b)
        assert _code(lambda: pf.GetQstsResults(results, timeout=T)) == nf
        compare = powerflow_pb2.CompareJobsRequest(job_id=world.job_a, base_job_id=world.job_b)
        assert _code(lambda: pf.CompareJobs(compare, timeout=T)) == nf
        diff = powerflow_pb2.DiffJobsRequest(base_job_id=world.job_a, job_ids=[world.job_b])
        assert _code(lambda: pf.DiffJobs(diff, timeout=T)) == nf
        assert _code(lambda: pf.GetScenario(powerflow_pb2.ScenarioRef(id=world.scenario_b), timeout=T)) == nf
        if role != "viewer":  # the others may run and cancel: B's items are still not there
            assert _code(lambda: pf.Snapshot(powerflow_pb2.SnapshotRequest(feeder=FEEDER_B), timeout=T)) == nf
            assert (
                _code(lambda: pf.CancelJob(powerflow_pb2.CancelJobRequest(job_id=world.job_b), timeout=T))
                == nf
            )
            run = powerflow_pb2.RunScenarioRequest(
                scenario_id=world.scenario_b, feeders=[FEEDER_A], period=SHORT
            )
            assert _code(lambda: pf.RunScenario(run, timeout=T)) == nf
            upd = powerflow_pb2.ScenarioText(id=world.scenario_b, text=SCENARIO.format(name="x"))
            assert _code(lambda: pf.UpdateScenario(upd, timeout=T)) == nf
            assert (
                _code(lambda: pf.DeleteScenario(powerflow_pb2.ScenarioRef(id=world.scenario_b), timeout=T))
                == nf
            )
    with hosting.channel("hosting", who) as ch:
        hc = hosting_stub(ch)
        hc.GetPerBus(hosting_pb2.PerBusQuery(feeder=FEEDER_A), timeout=T)
        assert _code(lambda: hc.GetPerBus(hosting_pb2.PerBusQuery(feeder=FEEDER_B), timeout=T)) == nf
        csv = hosting_pb2.PerBusQuery(feeder=FEEDER_B, format="csv")
        assert _code(lambda: hc.GetPerBus(csv, timeout=T)) == nf
        if role != "viewer":
            check = hosting_pb2.ConnectionRequest(feeder=FEEDER_B, bus="675", kw=10.0)
            assert _code(lambda: hc.CheckConnection(check, timeout=T)) == nf
    with stack.channel("ingestion", who) as ch:
        ms = measurements_stub(ch)
        ms.GetImport(measurements_pb2.GetImportRequest(import_id=world.import_a), timeout=T)
        assert (
            _code(
                lambda: ms.GetImport(measurements_pb2.GetImportRequest(import_id=world.import_b), timeout=T)
            )
            == nf
        )
        assert (
            _code(lambda: ms.GetReliability(measurements_pb2.GetReliabilityRequest(site=SITE_B), timeout=T))
            == nf
        )


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_a_writer_of_site_a_cannot_change_or_create_in_site_b(
    stack: Stack, hosting: Stack, world: World, role: str
) -> None:
    who = user(f"{role}-a", role, SITE_A)
    nf, denied = grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED
    load_b = f"{FEEDER_B}.loads.671"
    twin_b = {
        "$dtId": "iso.stray",
        "$metadata": {"$model": "dtmi:gridtwin:Site;1"},
        "name": "x",
        "site": SITE_B,
    }
    with stack.channel("twin_registry", who) as ch:
        reg = registry_stub(ch)
        patch = json.dumps([{"op": "replace", "path": "/p_kw", "value": 1.0}])
        assert _code(lambda: reg.PatchTwin(pb.PatchTwinRequest(id=load_b, json_patch=patch), timeout=T)) == nf
        assert _code(lambda: reg.DeleteTwin(pb.DeleteTwinRequest(id=load_b), timeout=T)) == nf
        assert _code(lambda: reg.DeleteFeeder(pb.DeleteFeederRequest(feeder=FEEDER_B), timeout=T)) == nf
        assert (
            _code(lambda: reg.CreateTwin(pb.CreateTwinRequest(json=json.dumps(twin_b)), timeout=T)) == denied
        )
        bulk = pb.BulkUpsertRequest(twins_json=[json.dumps(twin_b)])
        assert _code(lambda: reg.BulkUpsert(bulk, timeout=T)) == denied
        # Overwriting B's twins under the same ids (as an import of the same feeder would) is refused.
        mine = {
            "$dtId": f"site.{SITE_B}",
            "$metadata": {"$model": "dtmi:gridtwin:Site;1"},
            "name": "x",
            "site": SITE_A,
        }
        assert (
            _code(lambda: reg.BulkUpsert(pb.BulkUpsertRequest(twins_json=[json.dumps(mine)]), timeout=T))
            == denied
        )
        replace = pb.BulkUpsertRequest(twins_json=[], replace_feeder=FEEDER_B)
        assert _code(lambda: reg.BulkUpsert(replace, timeout=T)) == denied
        # A relationship from A's feeder to B's twin: B's twin is not there for A.
        rel = pb.Relationship(id="iso-x", source_id=FEEDER_A, name="contains", target_id=load_b)
        assert _code(
            lambda: reg.CreateRelationship(pb.CreateRelationshipRequest(relationship=rel), timeout=T)
        ) in (
            nf,
            grpc.StatusCode.INVALID_ARGUMENT,
        )
    with stack.channel("ingestion", who) as ch:
        ing = ingestion_stub(ch)
        into_b = ingestion_pb2.ImportOpenDssRequest(feeder="isoz13", site=SITE_B, path=str(IEEE13))
        assert _code(lambda: ing.ImportOpenDss(into_b, timeout=T)) == denied
        over_b = ingestion_pb2.ImportOpenDssRequest(
            feeder=FEEDER_B, site=SITE_A, path=str(IEEE13), replace=True
        )
        assert _code(lambda: ing.ImportOpenDss(over_b, timeout=T)) == denied
        synth = ingestion_pb2.GenerateSyntheticRequest(feeders=1, seed=1, site=SITE_B)
        assert _code(lambda: list(ing.GenerateSynthetic(synth, timeout=T))) == denied
        ms = measurements_stub(ch)
        meters = measurements_pb2.ImportMetersRequest(site=SITE_B, from_twins=True)
        assert _code(lambda: ms.ImportMeters(meters, timeout=T)) == denied
        resume = measurements_pb2.ImportAmiRequest(site=SITE_A, import_id=world.import_b)
        assert _code(lambda: ms.ImportAmi(resume, timeout=T)) == nf
    with stack.channel("powerflow", who) as ch:
        pf = powerflow_stub(ch)
        run_b = powerflow_pb2.RunQstsRequest(feeders=[FEEDER_B], period=SHORT)
        assert _code(lambda: pf.RunQSTS(run_b, timeout=T)) == denied
        both = powerflow_pb2.RunQstsRequest(feeders=[FEEDER_A, FEEDER_B], period=SHORT)
        assert _code(lambda: pf.RunQSTS(both, timeout=T)) == denied
        resubmit_b = powerflow_pb2.RunQstsRequest(feeders=[FEEDER_A], period=SHORT, job_id=world.job_b)
        assert _code(lambda: pf.RunQSTS(resubmit_b, timeout=T)) in (grpc.StatusCode.ALREADY_EXISTS, denied)
        scenario_b = powerflow_pb2.ScenarioText(text=SCENARIO.format(name="b"), site=SITE_B)
        assert _code(lambda: pf.CreateScenario(scenario_b, timeout=T)) == denied
        shared = powerflow_pb2.ScenarioText(text=SCENARIO.format(name="shared"))
        two_sites = user("an-ab", "analyst", SITE_A, SITE_B)
    with stack.channel("powerflow", two_sites) as ch:  # no site named and two held: which? refused
        assert _code(lambda: powerflow_stub(ch).CreateScenario(shared, timeout=T)) == denied
    with hosting.channel("hosting", who) as ch:
        hc = hosting_stub(ch)
        stochastic = hosting_pb2.StochasticRequest(feeders=[FEEDER_B], samples=2)
        assert _code(lambda: hc.RunStochastic(stochastic, timeout=T)) == denied
        assert (
            _code(lambda: hc.PerBus(hosting_pb2.PerBusRequest(feeder=FEEDER_B, buses=["675"]), timeout=T))
            == nf
        )
        query = hosting_pb2.StochasticQuery(job_id=world.job_b)
        assert _code(lambda: hc.GetStochastic(query, timeout=T)) == nf
    # B's items are unchanged.
    with stack.channel("twin_registry", user("viewer-b", "viewer", SITE_B)) as ch:
        assert registry_stub(ch).GetTwin(pb.GetTwinRequest(id=load_b), timeout=T).site == SITE_B
        assert registry_stub(ch).GetTwin(pb.GetTwinRequest(id=f"site.{SITE_B}"), timeout=T).site == SITE_B


def test_callers_of_both_and_of_every_site_see_both(stack: Stack, hosting: Stack, world: World) -> None:
    both = user("an-ab", "analyst", SITE_A, SITE_B)
    for who in (both, user("viewer-all", "viewer", ALL_SITES), ADMIN):
        listed = _lists(stack, hosting, who)
        assert {FEEDER_A, FEEDER_B} <= listed["feeders"]
        assert {world.job_a, world.job_b} <= listed["jobs"]
        assert {world.scenario_a, world.scenario_b} <= listed["scenarios"]
        assert {world.import_a, world.import_b} <= listed["imports"]
    # A job over both sites' feeders belongs to both: its caller sees it, a caller of one site does not.
    with stack.channel("powerflow", both) as ch:
        job = powerflow_stub(ch).RunQSTS(
            powerflow_pb2.RunQstsRequest(feeders=[FEEDER_A, FEEDER_B], period=SHORT), timeout=T
        )
    assert job.site == f"{SITE_A},{SITE_B}"
    assert _wait_job(stack, both, job.id) == "succeeded"
    for one in (SITE_A, SITE_B):
        with stack.channel("powerflow", user("an", "analyst", one)) as ch:
            stub = powerflow_stub(ch)
            get = powerflow_pb2.GetJobRequest(job_id=job.id)
            assert _code(lambda: stub.GetJob(get, timeout=T)) == grpc.StatusCode.NOT_FOUND  # noqa: B023
            listed = powerflow_stub(ch).ListJobs(powerflow_pb2.ListJobsRequest(limit=1000), timeout=T)
            assert job.id not in {j.id for j in listed.jobs}
    with stack.channel("powerflow", ADMIN) as ch:
        assert powerflow_stub(ch).GetJob(powerflow_pb2.GetJobRequest(job_id=job.id), timeout=T).id == job.id


def test_a_viewer_reads_but_runs_and_writes_nothing(stack: Stack, world: World) -> None:
    viewer = user("viewer-a", "viewer", SITE_A)
    denied = grpc.StatusCode.PERMISSION_DENIED
    with stack.channel("powerflow", viewer) as ch:
        pf = powerflow_stub(ch)
        assert pf.GetJob(powerflow_pb2.GetJobRequest(job_id=world.job_a), timeout=T).id == world.job_a
        run = powerflow_pb2.RunQstsRequest(feeders=[FEEDER_A], period=SHORT)
        assert _code(lambda: pf.RunQSTS(run, timeout=T)) == denied
    with stack.channel("twin_registry", viewer) as ch:
        patch = json.dumps([{"op": "replace", "path": "/p_kw", "value": 1.0}])
        request = pb.PatchTwinRequest(id=f"{FEEDER_A}.loads.671", json_patch=patch)
        assert _code(lambda: registry_stub(ch).PatchTwin(request, timeout=T)) == denied
        upload = pb.UploadModelsRequest(models_json=[])
        assert _code(lambda: registry_stub(ch).UploadModels(upload, timeout=T)) == denied


# -- who may call at all ---------------------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _tokens() -> dict[str, str]:
    """Internal tokens a service must refuse, each for an admin of every site."""
    claims = ADMIN.to_claims()
    now = int(time.time())
    good = TokenSigner(INTERNAL_SECRET).internal_token(user("viewer-a", "viewer", SITE_A))
    head, _, sig = good.split(".")
    raised = {**jwt.decode(good, options={"verify_signature": False}), "role": "admin", "sites": [ALL_SITES]}
    base = {**claims, "iss": ISSUER, "aud": INTERNAL_AUDIENCE, "iat": now, "nbf": now}
    other = new_secret()
    return {
        "other secret": TokenSigner(other).internal_token(ADMIN),
        "expired": jwt.encode(
            {**base, "iat": now - 600, "nbf": now - 600, "exp": now - 300}, INTERNAL_SECRET
        ),
        "claims edited": f"{head}.{_b64(raised)}.{sig}",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({**base, 'exp': now + 60})}.",
        "user access token": TokenSigner(other, INTERNAL_SECRET).access_token(ADMIN)[0],
        "garbage": "not-a-token",
        "no exp": jwt.encode(base, INTERNAL_SECRET),
    }


@pytest.mark.parametrize("service", ["twin_registry", "powerflow", "ingestion"])
def test_only_signed_callers_get_in(stack: Stack, service: str) -> None:
    calls: dict[str, Callable[[grpc.Channel, Any], Any]] = {
        "twin_registry": lambda ch, md: registry_stub(ch).ListFeeders(
            pb.ListFeedersRequest(), timeout=T, metadata=md
        ),
        "powerflow": lambda ch, md: powerflow_stub(ch).ListJobs(
            powerflow_pb2.ListJobsRequest(), timeout=T, metadata=md
        ),
        "ingestion": lambda ch, md: measurements_stub(ch).ListImports(
            measurements_pb2.ListImportsRequest(), timeout=T, metadata=md
        ),
    }
    call = calls[service]
    unauth = grpc.StatusCode.UNAUTHENTICATED
    with stack.channel(service, None) as ch:  # no token at all
        assert _code(lambda: call(ch, None)) == unauth
        for name, token in _tokens().items():
            md = (("authorization", f"Bearer {token}"),)
            assert _code(lambda md=md: call(ch, md)) == unauth, name  # type: ignore[misc]
        assert _code(lambda: call(ch, (("authorization", "Basic YWRtaW46YWRtaW4="),))) == unauth
        health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=T)
        assert health.status == health_pb2.HealthCheckResponse.SERVING  # probes need no token
    with stack.channel(service, ADMIN) as ch:
        call(ch, None)  # the same call, signed with the secret: in


def test_the_service_role_is_no_user_role(stack: Stack) -> None:
    """A principal's role comes from the token, verified; a user cannot claim the service's own role
    without the secret (tested above), and the service role in a valid token is the platform's."""
    service = Principal("service:test", Role.SERVICE, frozenset({ALL_SITES}), via="service")
    with stack.channel("twin_registry", service) as ch:
        assert registry_stub(ch).ListFeeders(pb.ListFeedersRequest(), timeout=T) is not None


# -- the per-site job quota ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quota_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Registry, ingestion and power flow of their own (own database) with one running job per site."""
    data_dir = tmp_path_factory.mktemp("quota")
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'quota.db'}",
        twin_registry_addr=f"127.0.0.1:{free_port()}",
        ingestion_addr=f"127.0.0.1:{free_port()}",
        powerflow_addr=f"127.0.0.1:{free_port()}",
        import_roots=[SHARED_DATA],
        internal_secret=INTERNAL_SECRET,
        site_max_running_jobs=1,
    )
    wanted = ("twin_registry", "ingestion", "powerflow")
    running = start_grpc_services([s for s in discover_services().specs if s.name in wanted], settings)
    stack = Stack(running, settings)
    for feeder, site in (("qa13", SITE_A), ("qb13", SITE_B)):
        with stack.channel("ingestion") as ch:
            ingestion_stub(ch).ImportOpenDss(
                ingestion_pb2.ImportOpenDssRequest(feeder=feeder, site=site, path=str(IEEE13)), timeout=T
            )
    yield stack
    stop_grpc_services(running, grace_s=1)


def test_a_site_runs_at_most_its_quota_of_jobs(quota_stack: Stack) -> None:
    analyst_a, analyst_b = user("an-a", "analyst", SITE_A), user("an-b", "analyst", SITE_B)
    year = powerflow_pb2.QstsPeriod(hours=8760)  # long enough to still be queued or running below
    with quota_stack.channel("powerflow", analyst_a) as ch:
        pf = powerflow_stub(ch)
        first = pf.RunQSTS(powerflow_pb2.RunQstsRequest(feeders=["qa13"], period=year), timeout=T)
        try:
            with pytest.raises(grpc.RpcError) as info:
                pf.RunQSTS(powerflow_pb2.RunQstsRequest(feeders=["qa13"], period=year), timeout=T)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert details_from_rpc_error(info.value)[0]["code"] == "quota"
            # Another site's quota is its own.
            with quota_stack.channel("powerflow", analyst_b) as other:
                second = powerflow_stub(other).RunQSTS(
                    powerflow_pb2.RunQstsRequest(feeders=["qb13"], period=SHORT), timeout=T
                )
                assert second.site == SITE_B
        finally:
            pf.CancelJob(powerflow_pb2.CancelJobRequest(job_id=first.id), timeout=T)
        # Once the first has ended, the site may run another.
        again = pf.RunQSTS(powerflow_pb2.RunQstsRequest(feeders=["qa13"], period=SHORT), timeout=T)
        assert again.site == SITE_A
