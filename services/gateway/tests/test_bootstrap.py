"""Starting the gateway: no secrets, no start (a clear message, no open mode); a fresh install's admin
(the given password, or a generated one handed to whoever starts the app, once); TLS at the gateway."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from gateway_fakes import ADMIN_PASSWORD, ApiClient, auth_settings
from gridtwin.config import Settings
from gridtwin_gateway.app import GatewayConfigError, create_app
from gridtwin_gateway.server import run_gateway
from pydantic import SecretStr


@pytest.mark.parametrize("missing", ["jwt_secret", "internal_secret"])
def test_no_secrets_no_start(tmp_path: Path, missing: str) -> None:
    settings = auth_settings(tmp_path).model_copy(update={missing: None})
    with pytest.raises(GatewayConfigError, match=r"GRIDTWIN_JWT_SECRET.*GRIDTWIN_INTERNAL_SECRET"):
        create_app(settings)


def test_bad_secrets_no_start(tmp_path: Path) -> None:
    short = auth_settings(tmp_path).model_copy(update={"jwt_secret": SecretStr("short")})
    with pytest.raises(GatewayConfigError, match="at least 32 bytes"):
        create_app(short)
    same = auth_settings(tmp_path).model_copy(
        update={"jwt_secret": SecretStr("s" * 40), "internal_secret": SecretStr("s" * 40)}
    )
    with pytest.raises(GatewayConfigError, match="differ"):
        create_app(same)


def test_bootstrap_admin_with_a_given_password(tmp_path: Path) -> None:
    app = create_app(auth_settings(tmp_path))
    assert app.state.bootstrap_password is None
    with ApiClient(app) as api:
        assert api.login("admin", ADMIN_PASSWORD)["role"] == "admin"


def test_bootstrap_admin_with_a_generated_password(tmp_path: Path) -> None:
    settings = auth_settings(tmp_path).model_copy(update={"admin_password": None})
    app = create_app(settings)
    generated = app.state.bootstrap_password
    assert generated and len(generated) >= 20
    assert create_app(settings).state.bootstrap_password is None  # once: the admin exists now
    with ApiClient(app) as api:
        body = api.login("admin", generated)
        assert (body["role"], body["sites"]) == ("admin", ["*"])
        rows = api.get("/api/v1/audit", params={"action": "users.bootstrap"}).json()["entries"]
        assert rows and generated not in str(rows)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "gateway.crt", folder / "gateway.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_at_the_gateway_and_the_generated_password_handed_over(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    settings: Settings = auth_settings(tmp_path).model_copy(
        update={"tls_cert": cert, "tls_key": key, "admin_password": None}
    )
    port = _free_port()
    ready, stop = threading.Event(), threading.Event()
    told: list[str] = []
    thread = threading.Thread(
        target=run_gateway,
        kwargs={
            "settings": settings,
            "port": port,
            "ready_event": ready,
            "stop_event": stop,
            "on_bootstrap_password": told.append,
        },
        daemon=True,
    )
    thread.start()
    try:
        assert ready.wait(20), "the gateway did not start"
        resp = httpx.get(
            f"https://127.0.0.1:{port}/healthz",
            verify=ssl.create_default_context(cafile=str(cert)),
            timeout=10,
        )
        assert resp.status_code == 200
        assert resp.headers["strict-transport-security"].startswith("max-age=")
        assert "server" not in resp.headers
        assert len(told) == 1
        login = httpx.post(
            f"https://127.0.0.1:{port}/api/v1/auth/token",
            data={"username": "admin", "password": told[0]},
            verify=ssl.create_default_context(cafile=str(cert)),
            timeout=30,
        )
        assert login.status_code == 200
    finally:
        stop.set()
        thread.join(20)
