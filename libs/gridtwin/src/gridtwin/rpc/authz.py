"""Which permission each RPC needs (``gridtwin.access.roles.MATRIX``): the services check it for every
call, whoever makes it, so a route the gateway forgot to guard is still guarded behind it. A test fails
when an RPC of the protos has no entry here."""

from __future__ import annotations

from typing import Final

__all__ = ["EXEMPT_SERVICES", "RPC_PERMISSIONS"]

# Probes and reflection answer without a caller (Kubernetes' gRPC probes carry no credentials).
EXEMPT_SERVICES: Final = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection")

_REGISTRY = {
    "UploadModels": "models.write",
    "ListModels": "models.read",
    "GetTwin": "twins.read",
    "CreateTwin": "twins.write",
    "ReplaceTwin": "twins.write",
    "PatchTwin": "twins.write",
    "DeleteTwin": "twins.write",
    "BulkUpsert": "feeders.import",
    "CreateRelationship": "twins.write",
    "GetRelationship": "twins.read",
    "DeleteRelationship": "twins.write",
    "ListRelationships": "twins.read",
    "QueryTwins": "twins.read",
    "Traverse": "twins.read",
    "ListFeeders": "feeders.read",
    "ExportFeeder": "twins.read",
    "DeleteFeeder": "feeders.delete",
}
_INGESTION = {
    "ImportOpenDss": "feeders.import",
    "ImportCyme": "feeders.import",
    "ImportGis": "feeders.import",
    "GenerateSynthetic": "feeders.import",
}
_MEASUREMENTS = {
    "UploadFile": "measurements.import",
    "ImportMeters": "measurements.import",
    "ImportAmi": "measurements.import",
    "AllocateLoads": "measurements.import",
    "GetLoadSummary": "measurements.read",
    "ImportOms": "measurements.import",
    "GetReliability": "measurements.read",
    "ImportWeather": "measurements.import",
    "GetImport": "measurements.read",
    "ListImports": "measurements.read",
}
_POWERFLOW = {
    "Snapshot": "powerflow.run",
    "ValidateAgainst": "powerflow.run",
    "RunQSTS": "jobs.run",
    "GetJob": "jobs.read",
    "ListJobs": "jobs.read",
    "CancelJob": "jobs.cancel",
    "GetQstsResults": "jobs.read",
    "CompareJobs": "jobs.read",
    "ValidateScenario": "scenarios.write",
    "CreateScenario": "scenarios.write",
    "UpdateScenario": "scenarios.write",
    "GetScenario": "scenarios.read",
    "ListScenarios": "scenarios.read",
    "DeleteScenario": "scenarios.write",
    "RunScenario": "scenarios.run",
    "RunSweep": "scenarios.run",
    "GetSweep": "scenarios.read",
    "DiffJobs": "jobs.read",
}
_HOSTING = {
    "PerBus": "hosting.run",
    "GetPerBus": "hosting.read",
    "CheckConnection": "hosting.run",
    "RunStochastic": "hosting.run",
    "GetStochastic": "hosting.read",
}

RPC_PERMISSIONS: Final[dict[str, str]] = {
    f"/gridtwin.v1.{service}/{method}": permission
    for service, table in (
        ("TwinRegistry", _REGISTRY),
        ("Ingestion", _INGESTION),
        ("Measurements", _MEASUREMENTS),
        ("PowerFlow", _POWERFLOW),
        ("HostingCapacity", _HOSTING),
    )
    for method, permission in table.items()
}
