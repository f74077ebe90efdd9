"""Typed settings read only from ``GRIDTWIN_*`` environment variables.

Embedded defaults run everything on one laptop: a SQLite file and an in-process Redis stand-in under
``data_dir``. Production sets ``GRIDTWIN_DATABASE_URL`` (MySQL) and ``GRIDTWIN_REDIS_URL``.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDTWIN_", extra="ignore")

    data_dir: Path = Field(default=Path(".gridtwin"), description="where embedded state lives")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite under data_dir"
    )
    mysql_local_infile: bool = Field(
        default=True, description="bulk writes by LOAD DATA LOCAL INFILE (the server may then ask for files)"
    )
    redis_url: str | None = Field(default=None, description="redis://...; default: in-process stand-in")
    instance_id: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_.-]{0,64}$",
        description="names this installation's keys on a shared Redis; default: from the database URL",
    )

    # gRPC service addresses (host:port). The all-in-one mode fills these with localhost ports.
    host: str = "127.0.0.1"
    twin_registry_addr: str = "127.0.0.1:50051"
    ingestion_addr: str = "127.0.0.1:50052"
    powerflow_addr: str = "127.0.0.1:50053"
    hosting_addr: str = "127.0.0.1:50054"
    gateway_port: int = 8000
    grpc_port: int = Field(default=0, description="port this service listens on; 0 = its default")

    dtdl_dir: Path | None = Field(
        default=None, description="a folder of DTDL files to use as the ontology; default: the built-in one"
    )

    # Server-side folders an import may read by path (the REST/gRPC "import-path"); empty = none. Uploads
    # need no path; `gridtwin up` on a laptop allows the whole filesystem of its own user.
    import_roots: list[Path] = Field(default_factory=list)
    import_timeout_s: float = Field(default=600.0, gt=0, description="an import's time limit (it may solve)")

    # Limits for untrusted input.
    max_upload_bytes: int = 200 * 1024 * 1024
    max_unzipped_bytes: int = 1024 * 1024 * 1024
    max_zip_members: int = 20_000
    max_zip_ratio: float = 200.0

    # Planning limits (DOMAIN.md: ANSI C84.1 and thermal).
    range_a_min_pu: float = 0.95
    range_a_max_pu: float = 1.05
    range_b_min_pu: float = 0.9167
    range_b_max_pu: float = 1.0583
    thermal_limit_pct: float = 100.0

    # Power-flow solver defaults (gridtwin.powerflow.solver): when a request gives none, a solve may
    # take max(the model's own cap, these). OpenDSS's own default of 15 is too few for large feeders
    # (IEEE 8500 converges after 67 iterations).
    max_iterations: int = Field(
        default=100, ge=1, le=10_000, description="least power-flow iteration cap (model's own if larger)"
    )
    max_control_iterations: int = Field(
        default=100, ge=1, le=10_000, description="least control-iteration cap (model's own if larger)"
    )

    # Jobs on Dask (gridtwin.compute): "local" (LocalCluster), "kubernetes" (KubeCluster) or an existing
    # scheduler address "tcp://host:port".
    dask: str = Field(default="local", description="local | kubernetes | tcp://host:port")
    dask_workers: int | None = Field(default=None, ge=1, description="worker processes; default: cores")
    dask_image: str = Field(default="ghcr.io/gridtwin/gridtwin:latest", description="worker/scheduler image")
    dask_namespace: str | None = Field(default=None, description="Kubernetes namespace; default: current")
    dask_cluster_name: str = Field(default="gridtwin-qsts", description="DaskCluster resource name")
    dask_worker_memory: str = Field(default="4Gi", description="memory request and limit per worker pod")
    dask_worker_cpu: str = Field(default="1", description="CPU request per worker pod (one thread each)")
    dask_data_pvc: str = Field(
        default="gridtwin-data", description="PersistentVolumeClaim holding data_dir, shared by the workers"
    )
    dask_data_mount: str = Field(default="/data", description="where the data volume is mounted in pods")
    dask_max_in_flight: int | None = Field(
        default=None, ge=1, description="feeder tasks outstanding at once; default 2 x workers"
    )
    task_retries: int = Field(
        default=2, ge=0, description="retries of a feeder task that raised unexpectedly"
    )

    # Utility measurements in (issue 7).
    ami_chunk_rows: int = Field(
        default=2_000_000, ge=1_000, description="AMI reads per streamed chunk (bounds an import's memory)"
    )
    max_ami_upload_bytes: int = Field(
        default=20 * 1024**3, ge=1, description="largest AMI upload streamed to the ingestion service"
    )
    open_meteo_archive_url: str = "https://archive-api.open-meteo.com/v1/archive"
    open_meteo_forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    weather_offline: bool = Field(default=False, description="serve weather only from the on-disk cache")
    weather_min_interval_s: float = Field(
        default=1.0, ge=0, description="least time between two requests to the weather API (politeness)"
    )
    weather_timeout_s: float = Field(default=30.0, gt=0, description="one weather API request's time limit")
    weather_retries: int = Field(default=3, ge=0, description="retries of a weather request that failed")

    # Access control (issue 15). Secrets come from the environment (a Kubernetes Secret); the all-in-one
    # makes them once and keeps them in {data_dir}/secrets.json (0600).
    internal_secret: SecretStr | None = Field(
        default=None, description="signs the gateway's calls to the services (every service needs it)"
    )
    jwt_secret: SecretStr | None = Field(default=None, description="signs users' access tokens (gateway)")
    access_token_ttl_s: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_s: int = Field(default=14 * 86_400, ge=300)
    login_max_failures: int = Field(default=5, ge=1, description="failed logins in a row before a lockout")
    login_lock_s: int = Field(default=900, ge=1, description="how long a locked account stays locked")
    admin_password: SecretStr | None = Field(
        default=None, description="the bootstrap admin's password on a fresh install (else one is generated)"
    )
    rate_limit_per_s: float = Field(default=20.0, gt=0, description="requests per second per user")
    rate_limit_burst: int = Field(default=60, ge=1, description="requests a user may send at once")
    rate_limit_ip_per_s: float = Field(default=40.0, gt=0, description="requests per second per address")
    rate_limit_ip_burst: int = Field(default=120, ge=1)
    site_max_running_jobs: int = Field(default=4, ge=1, description="queued or running jobs per site at once")
    cors_origins: list[str] = Field(
        default_factory=list, description="browser origins allowed to call the API"
    )
    cookie_secure: bool = Field(default=True, description="session cookies only over HTTPS")
    max_json_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="largest JSON request body")
    request_timeout_s: float = Field(default=900.0, gt=0, description="longest a REST request may take")
    oidc_issuer: str | None = Field(
        default=None, description="the identity provider's issuer URL (OIDC login)"
    )
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_role_claim: str = Field(default="gridtwin_role", description="ID-token claim holding the role")
    oidc_sites_claim: str = Field(default="gridtwin_sites", description="ID-token claim holding the sites")

    # Observability.
    otel_exporter: str = Field(default="none", description="none | console | otlp")
    log_level: str = "INFO"
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gridtwin.db').resolve()}"

    def resolved_instance_id(self) -> str:
        """This installation's name on shared servers (Redis): one database, one installation."""
        if self.instance_id:
            return self.instance_id
        return hashlib.sha256(self.resolved_database_url().encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
