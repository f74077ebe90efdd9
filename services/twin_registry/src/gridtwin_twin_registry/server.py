"""The TwinRegistry service's ``SERVICE`` spec (entry point ``gridtwin.services``: ``twin_registry``).

At start it migrates the database to head and, when the registry holds no models yet, uploads the
project ontology (``GRIDTWIN_DTDL_DIR``, a folder of DTDL files; default: the built-in ontology).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import grpc
from gridtwin.config import Settings
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.grid.ontology import build_interfaces
from gridtwin.rpc.server import ServiceSpec
from gridtwin.rpc.stubs import add_servicer
from gridtwin.rpc.v1 import twin_registry_pb2_grpc
from gridtwin.store.db import make_engine, migrate
from gridtwin.twin.dtdl import load_model_set, read_documents
from gridtwin.twin.registry import TwinRegistry

from gridtwin_twin_registry.servicer import TwinRegistryServicer

__all__ = ["SERVICE", "add_to_server", "ensure_ontology"]

log = logging.getLogger(__name__)


def ensure_ontology(registry: TwinRegistry, folder: Path | None = None) -> list[str]:
    """Upload the ontology at start (idempotent: identical models are accepted again).

    The built-in ontology is generated from the feeder-model tables (``gridtwin.grid.ontology``) and is
    byte-for-byte what ``dtdl/`` holds (a test keeps them equal), so an installed service needs no
    checkout. A stored model with the same DTMI but another body is a ``ConflictError``: bump the DTMI
    version when the ontology changes.
    """
    if folder is None:
        docs: list[object] = list(build_interfaces().values())
        source = "built-in ontology"
    else:
        if not folder.is_dir():
            raise InputError(
                "DTDL ontology folder not found",
                [
                    ErrorDetail(
                        where=str(folder), message="GRIDTWIN_DTDL_DIR must name a folder of DTDL files"
                    )
                ],
            )
        load_model_set([folder])  # validates first, with errors naming the file
        read, _ = read_documents([folder])
        docs = [doc for _, doc in read]
        source = str(folder)
    ids: list[str] = list(registry.upload_models(docs))
    log.info("ontology uploaded", extra={"models": len(ids), "source": source})
    return ids


def add_to_server(server: grpc.Server, settings: Settings) -> Callable[[], None]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url(), mysql_local_infile=settings.mysql_local_infile)
    migrate(engine)
    registry = TwinRegistry(engine)
    ensure_ontology(registry, settings.dtdl_dir)
    add_servicer(
        twin_registry_pb2_grpc.add_TwinRegistryServicer_to_server, TwinRegistryServicer(registry), server
    )
    return engine.dispose


SERVICE = ServiceSpec(
    name="twin_registry",
    default_port=50051,
    add_to_server=add_to_server,
    grpc_services=("gridtwin.v1.TwinRegistry",),
)
