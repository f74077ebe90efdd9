"""The TwinRegistry service's ``SERVICE`` spec (entry point ``gridtwin.services``: ``twin_registry``).

At start it migrates the database to head and, when the registry holds no models yet, uploads the
project ontology from ``GRIDTWIN_DTDL_DIR`` (default: the repository's ``dtdl/`` folder).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import gridtwin
import grpc
from gridtwin.config import Settings
from gridtwin.errors import ErrorDetail, InputError
from gridtwin.rpc.server import ServiceSpec
from gridtwin.rpc.stubs import add_servicer
from gridtwin.rpc.v1 import twin_registry_pb2_grpc
from gridtwin.store.db import make_engine, migrate
from gridtwin.twin.dtdl import load_model_set, read_documents
from gridtwin.twin.registry import TwinRegistry
from sqlalchemy import Engine

from gridtwin_twin_registry.servicer import TwinRegistryServicer

__all__ = ["SERVICE", "add_to_server", "dtdl_dir", "ensure_ontology"]

log = logging.getLogger(__name__)

_engines: list[Engine] = []
_engines_lock = threading.Lock()


def dtdl_dir() -> Path:
    """``GRIDTWIN_DTDL_DIR``, else ``dtdl/`` at the root of the checkout the package runs from."""
    configured = os.environ.get("GRIDTWIN_DTDL_DIR")
    if configured:
        return Path(configured)
    # The package lives at <root>/libs/gridtwin/src/gridtwin in a checkout: look upwards for dtdl/.
    package = Path(gridtwin.__file__).resolve().parent
    for parent in package.parents:
        if (parent / "dtdl").is_dir():
            return parent / "dtdl"
    return package.parents[3] / "dtdl"


def ensure_ontology(registry: TwinRegistry, folder: Path | None = None) -> list[str]:
    """Upload the ontology when the registry has no models; return the DTMIs uploaded."""
    if registry.list_models():
        return []
    folder = folder or dtdl_dir()
    if not folder.is_dir():
        raise InputError(
            "DTDL ontology folder not found",
            [ErrorDetail(where=str(folder), message="set GRIDTWIN_DTDL_DIR to the dtdl/ folder")],
        )
    load_model_set([folder])  # validates first, with errors naming the file
    docs, _ = read_documents([folder])
    ids: list[str] = list(registry.upload_models([doc for _, doc in docs]))
    log.info("uploaded the ontology", extra={"models": len(ids), "folder": str(folder)})
    return ids


def add_to_server(server: grpc.Server, settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    migrate(engine)
    with _engines_lock:
        _engines.append(engine)
    registry = TwinRegistry(engine)
    ensure_ontology(registry)
    add_servicer(
        twin_registry_pb2_grpc.add_TwinRegistryServicer_to_server, TwinRegistryServicer(registry), server
    )


def close() -> None:
    """Dispose of the SQL engines opened by ``add_to_server``."""
    with _engines_lock:
        while _engines:
            _engines.pop().dispose()


SERVICE = ServiceSpec(
    name="twin_registry",
    default_port=50051,
    add_to_server=add_to_server,
    grpc_services=("gridtwin.v1.TwinRegistry",),
    on_stop=close,
)
