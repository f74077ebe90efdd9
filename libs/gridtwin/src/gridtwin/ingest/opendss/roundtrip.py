"""Round-trip check: solve the source, solve read -> [through] -> write -> compile, compare node by node.

``through`` passes the feeder model through another representation on the way, e.g.
``through_registry(engine)``: twins -> validated bulk upsert into the registry -> export -> feeder model,
which is the path every stored feeder takes. Both sides are compiled in throwaway circuits of the engine
adapter and solved again in snapshot mode from their compiled state (the source's own script may
already have solved). Used by the round-trip tests and ``tests/bench/roundtrip_table.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from gridtwin.grid.dss_writer import write_dss
from gridtwin.grid.model import FeederModel
from gridtwin.grid.ontology import build_interfaces
from gridtwin.grid.twins import feeder_to_twins, twins_to_feeder
from gridtwin.ingest.opendss.reader import read_opendss
from gridtwin.powerflow.scratch import ScratchCircuit
from gridtwin.twin.registry import TwinRegistry

__all__ = ["RoundTrip", "roundtrip", "through_registry"]


@dataclass
class RoundTrip:
    feeder: str
    buses: int
    nodes: int
    max_dv_pu: float
    max_dangle_deg: float
    loss_rel: float
    taps_equal: bool
    missing_nodes: int
    read_s: float
    script: str

    def ok(self) -> bool:
        return (
            self.missing_nodes == 0
            and self.max_dv_pu <= 1e-6
            and self.max_dangle_deg <= 1e-4
            and self.loss_rel <= 1e-6
            and self.taps_equal
        )


def through_registry(engine: sa.Engine) -> Callable[[FeederModel], FeederModel]:
    """Store a model as twins in the registry on ``engine`` (migrated) and export it back."""
    registry = TwinRegistry(engine)
    registry.upload_models(list(build_interfaces().values()))

    def through(model: FeederModel) -> FeederModel:
        twins, relationships = feeder_to_twins(model)
        registry.bulk_upsert(twins, relationships, replace_feeder=model.feeder_id)
        return twins_to_feeder(model.feeder_id, *registry.export_feeder(model.feeder_id))

    return through


def roundtrip(
    master: Path, feeder: str, through: Callable[[FeederModel], FeederModel] | None = None
) -> RoundTrip:
    with ScratchCircuit() as source:
        source.compile_file(master)
        original = source.solve_snapshot()
    start = time.perf_counter()
    model, _ = read_opendss(master, feeder, site="roundtrip")
    read_s = time.perf_counter() - start
    if through is not None:
        model = through(model)
    script = write_dss(model)
    with ScratchCircuit() as written:
        for number, line in enumerate(script.splitlines(), 1):
            written.run(line, f"<written>:{number}")
        again = written.solve_snapshot()
    common = original.nodes.keys() & again.nodes.keys()
    dv = max((abs(original.nodes[n][0] - again.nodes[n][0]) for n in common), default=0.0)
    da = max((_angle_diff(original.nodes[n][1], again.nodes[n][1]) for n in common), default=0.0)
    loss_rel = abs(original.losses_w - again.losses_w) / max(abs(original.losses_w), 1e-12)
    return RoundTrip(
        feeder=feeder,
        buses=len({n.split(".")[0] for n in original.nodes}),
        nodes=len(original.nodes),
        max_dv_pu=dv,
        max_dangle_deg=da,
        loss_rel=loss_rel,
        taps_equal=original.taps == again.taps,
        missing_nodes=len(original.nodes.keys() ^ again.nodes.keys()),
        read_s=read_s,
        script=script,
    )


def _angle_diff(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)
