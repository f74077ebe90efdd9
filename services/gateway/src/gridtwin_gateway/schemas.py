"""Request and response models of the REST API (they make the OpenAPI page at /docs).

Twin documents and DTDL models keep their own JSON shape (defined by the DTDL interfaces), so they
appear here as free-form objects.
"""

from __future__ import annotations

from typing import Any, Literal

from gridtwin.rpc.v1 import powerflow_pb2
from pydantic import BaseModel, Field

TwinDocument = dict[str, Any]
SOLVER_FIELDS = ("max_iterations", "max_control_iterations", "tolerance")
MAX_ITERATIONS_DOC = (
    "power-flow iterations per solve (default: the model's own, at least the installation's 100)"
)
MAX_CONTROL_ITERATIONS_DOC = (
    "control iterations per solve (default: the model's own, at least the installation's 100)"
)
TOLERANCE_DOC = "convergence tolerance in per unit (default: the model's own)"
# The largest numbers the back ends' messages carry (protobuf int32 / int64) and a calendar year: a
# parameter beyond them is a 422 that says so, not a failed conversion (a 500).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
YEAR_MAX = 9999


class ImportDetail(BaseModel):
    where: str
    message: str
    code: str = "invalid"


class ImportReportOut(BaseModel):
    source: str = Field(description="the file or archive that was read")
    counts: dict[str, int] = Field(description="elements mapped, per feeder-model table")
    warnings: list[ImportDetail]
    unmapped: list[ImportDetail] = Field(description="what could not be mapped, and where")


class ImportOut(BaseModel):
    feeder: str
    twins: int = Field(description="twins written")
    relationships: int = Field(description="relationships written")
    report: ImportReportOut


class ImportPathIn(BaseModel):
    path: str = Field(description="a .dss master file, or a folder with one master, on the server")
    feeder: str = Field(description="feeder id, [A-Za-z0-9_-]{1,64}")
    site: str = ""
    master: str = Field(default="", description="master file name inside the folder (optional)")
    replace: bool = Field(default=False, description="replace an existing feeder of that id")


class FeederOut(BaseModel):
    id: str
    site: str
    twin_count: int
    version: str = Field(description="changes whenever any twin or relationship of the feeder changes")


class FeederList(BaseModel):
    feeders: list[FeederOut]


class DeletedOut(BaseModel):
    deleted: int


class TwinPage(BaseModel):
    twins: list[TwinDocument] = Field(description="twin documents ($dtId, $metadata, properties)")
    next_page_token: str = Field(
        default="", description="pass as page_token for the next page; empty at the end"
    )


class RelationshipList(BaseModel):
    relationships: list[dict[str, Any]] = Field(
        description="Azure-Digital-Twins-shaped relationships: $relationshipId, $sourceId, "
        "$relationshipName, $targetId, $etag and their properties"
    )


class ModelOut(BaseModel):
    id: str = Field(description="DTMI")
    extends: list[str]
    display_name: str
    model: dict[str, Any] = Field(description="the DTDL interface document")


class ModelList(BaseModel):
    models: list[ModelOut]


class ModelIds(BaseModel):
    ids: list[str] = Field(description="DTMIs of the interfaces stored")


class VoltageOut(BaseModel):
    bus: str
    node: int = Field(description="OpenDSS node number 1, 2, 3")
    pu: float = Field(description="magnitude, per unit of the line-to-neutral base")
    angle_deg: float


class ElementOut(BaseModel):
    name: str = Field(description="Class.name, lower case")
    current_a: float = Field(description="max phase current at terminal 1")
    loading_pct: float = Field(description="of the normal rating")
    loading_emerg_pct: float = Field(description="of the emergency rating")
    losses_kw: float
    losses_kvar: float
    p_kw: float = Field(description="terminal 1 power in")
    q_kvar: float


class ViolationOut(BaseModel):
    kind: str = Field(
        description="range_a_low | range_a_high | range_b_low | range_b_high | thermal_normal | thermal_emergency"
    )
    element: str = Field(description="bus.node or Class.name")
    value: float = Field(description="pu or %")
    limit: float


class SolverOut(BaseModel):
    max_iterations: int
    max_control_iterations: int
    tolerance: float


class SnapshotOut(BaseModel):
    """One snapshot power flow of a feeder, solved by OpenDSS in the powerflow service."""

    feeder: str
    version: str = Field(description="the feeder version the result was solved on")
    converged: bool
    iterations: int
    losses_kw: float
    losses_kvar: float
    line_losses_kw: float
    transformer_losses_kw: float
    source_kw: float = Field(description="power delivered by the source (positive into the feeder)")
    source_kvar: float
    voltages: list[VoltageOut]
    elements: list[ElementOut]
    violations: list[ViolationOut]
    solve_ms: float = Field(description="time the service spent compiling and solving")
    recompiled: bool = Field(description="whether the feeder script was recompiled for this solve")
    message: str = Field(default="", description="why the result is not trustworthy (empty when converged)")
    solver: SolverOut | None = Field(default=None, description="the iteration caps and tolerance used")


class SolverIn(BaseModel):
    """Power-flow solver settings of a request; a field left out keeps the model's own value (iteration
    caps at least the installation's GRIDTWIN_MAX_ITERATIONS / GRIDTWIN_MAX_CONTROL_ITERATIONS)."""

    max_iterations: int | None = Field(default=None, ge=1, le=10_000, description=MAX_ITERATIONS_DOC)
    max_control_iterations: int | None = Field(
        default=None, ge=1, le=10_000, description=MAX_CONTROL_ITERATIONS_DOC
    )
    tolerance: float | None = Field(default=None, gt=0, le=0.1, description=TOLERANCE_DOC)

    def solver_proto(self) -> Any:
        return solver_options(**{k: getattr(self, k) for k in SOLVER_FIELDS})


def solver_options(**values: Any) -> Any:
    """``gridtwin.v1.SolverOptions`` with the given (non-None) fields set."""
    return powerflow_pb2.SolverOptions(**{k: v for k, v in values.items() if v is not None})


class HealthOut(BaseModel):
    status: Literal["ok", "ready", "not_ready"]
    backends: dict[str, str] = Field(default_factory=dict, description="back end -> gRPC health status")
