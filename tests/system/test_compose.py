"""The shipped image and compose stack, built and run for real on a private dockerd.

No registry is reachable from CI, so the test makes everything locally: Debian's docker.io
and docker-compose (installed when missing and we are root), a dockerd of its own with
--bridge=none (every container uses host networking: compose.hostnet.yml), a base image
from debootstrap (cached outside the repo) and a wheelhouse built on the host, so the image
build never touches the network. Skipped, saying why, where any of that cannot work.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from otpq_core.sealing import generate_key
from otpq_local.redis_server import free_port
from producer import OtpClient, Settings
from sandbox.control import SandboxControl
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
HOSTNET = Path(__file__).with_name("compose.hostnet.yml")
COMPOSE_FILES = [ROOT / "docker-compose.yml", ROOT / "compose.sandbox.yml", HOSTNET]
APT_PACKAGES = ["docker.io", "docker-compose", "debootstrap"]
#: debootstrap's result, kept between runs (a few minutes to make, seconds to import).
BASE_CACHE = Path(os.environ.get("OTPQ_TEST_BASE_CACHE", "/var/cache/otpq-test-base.tar"))
BASE_PACKAGES = "python3,python3-venv,redis-server"
BASE_IMAGE = "otpq-test-base"
DEST = "+14255550142"
#: Longest any wait below takes; a bound, not an expectation.
PATIENCE = 240.0

pytestmark = [pytest.mark.system, pytest.mark.timeout(1500)]

T = TypeVar("T")


def poll(check: Callable[[], T | None], what: str, timeout: float = PATIENCE) -> T:
    return wait_until(check, timeout, what, ignoring=(OSError,), interval=0.5)


def run(*cmd: str | Path, timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def ensure_tools() -> None:
    """Install Debian's engine, compose and debootstrap when missing (root only), or skip."""
    if all(shutil.which(tool) for tool in ("dockerd", "docker-compose", "debootstrap")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("needs dockerd, docker-compose and debootstrap (apt-get install as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *APT_PACKAGES]):
        done = run(*cmd, env=env)
        if done.returncode:
            pytest.skip(f"apt cannot install {APT_PACKAGES}: {done.stderr.strip()[-300:]}")


def debian_mirror() -> str:
    """The Debian mirror apt already uses here (debootstrap must not guess another)."""
    sources = Path("/etc/apt")
    for path in [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = line.split()
            if line.startswith("URIs:") and "security" not in line:
                return words[1]
            if words[:1] == ["deb"] and "security" not in line:
                return next(w for w in words[1:] if "://" in w)
    return "http://deb.debian.org/debian"


def base_tarball(scratch: Path) -> Path:
    """A bookworm minbase with python3 and redis-server, made once and cached."""
    if BASE_CACHE.is_file():
        return BASE_CACHE
    rootfs = scratch / "rootfs"
    done = run(
        "debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", rootfs,
        debian_mirror(), timeout=1200,
    )  # fmt: skip
    if done.returncode:
        pytest.skip(f"debootstrap failed (mirror unreachable?): {done.stdout.strip()[-300:]}")
    for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()  # a third of the size, never used again
    BASE_CACHE.parent.mkdir(parents=True, exist_ok=True)
    partial = BASE_CACHE.with_suffix(".partial")
    packed = run("tar", "-C", rootfs, "-cf", partial, ".")
    assert packed.returncode == 0, packed.stderr
    partial.rename(BASE_CACHE)
    shutil.rmtree(rootfs, ignore_errors=True)
    return BASE_CACHE


@dataclass
class Engine:
    """A dockerd of our own: every path under `home`, stopped by PID."""

    home: Path
    process: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.home}/docker.sock",
            "DOCKER_BUILDKIT": "0",
            "COMPOSE_DOCKER_CLI_BUILD": "0",
        }

    def docker(self, *args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess:
        return run(shutil.which("docker", path="/usr/bin") or "docker", *args,
                   env=self.env, **kwargs)  # fmt: skip

    def start(self) -> None:
        (self.home / "daemon.json").write_text("{}")
        log = (self.home / "dockerd.log").open("wb")
        self.process = subprocess.Popen(
            ["dockerd", "--bridge=none", "--iptables=false", "--ip-masq=false",
             "--ip-forward=false", f"--config-file={self.home}/daemon.json",
             f"--data-root={self.home}/data", f"--exec-root={self.home}/exec",
             f"--pidfile={self.home}/dockerd.pid", "-H", f"unix://{self.home}/docker.sock"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.skip(f"dockerd cannot start here: {self.log()[-500:]}")
            if self.docker("version").returncode == 0:
                return
            time.sleep(0.5)
        pytest.skip(f"dockerd did not answer within 60 s: {self.log()[-500:]}")

    def log(self) -> str:
        return (self.home / "dockerd.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # dockerd leaves its netns bind mount (and, if killed, overlays) behind.
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(f"{self.home}/")), reverse=True):
            run("umount", "-l", mount)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    ensure_tools()
    home = Path(tempfile.mkdtemp(prefix="otpq-docker-"))
    engine = Engine(home)
    try:
        engine.start()
        tarball = base_tarball(home)
        imported = engine.docker("import", tarball, BASE_IMAGE, timeout=600)
        assert imported.returncode == 0, imported.stderr
        yield engine
    finally:
        engine.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def wheelhouse() -> Iterator[Path]:
    """otpq and its pinned dependencies as wheels, in the build context's wheels/."""
    wheels = ROOT / "wheels"
    ours = [p for p in (wheels, ROOT / "build") if not p.exists()]
    lock = ROOT / "requirements.lock"
    done = run(sys.executable, "-m", "pip", "wheel", "-q", "-w", wheels, "-r", lock, ROOT)
    if done.returncode:
        pytest.skip(f"cannot build the wheelhouse (index unreachable?): {done.stderr[-300:]}")
    try:
        yield wheels
    finally:
        for path in ours:
            shutil.rmtree(path, ignore_errors=True)


@dataclass
class Stack:
    engine: Engine
    env: dict[str, str]
    project: str

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return run("docker-compose", "--project-name", self.project,
                   "--project-directory", ROOT, "-f", self.engine.home / "compose.yml",
                   "--profile", "interactive", "--profile", "bulk", *args, env=self.env,
                   timeout=timeout)  # fmt: skip

    def resolve(self) -> None:
        """The shipped files merged as users merge them, minus published ports.

        With host networking there is nothing to publish (Docker refuses port bindings
        there), and compose cannot drop a list entry from an override file.
        """
        files = [arg for path in COMPOSE_FILES for arg in ("-f", str(path))]
        done = run("docker-compose", "--project-directory", ROOT, *files, "config",
                   env=self.env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        config = yaml.safe_load(done.stdout)
        # Prometheus's image cannot be made offline: its profile stays out of the test.
        config["services"].pop("prometheus")
        for service in config["services"].values():
            assert service.get("network_mode") == "host"
            service.pop("ports", None)
        (self.engine.home / "compose.yml").write_text(yaml.safe_dump(config))

    def containers(self) -> list[dict[str, Any]]:
        ids = self.compose("ps", "-q").stdout.split()
        done = self.engine.docker("inspect", *ids)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def stack(engine: Engine, wheelhouse: Path) -> Iterator[Stack]:
    ports = {name: str(free_port()) for name in (
        "OTPQ_REDIS_PORT", "OTPQ_SANDBOX_PORT", "OTPQ_FLOWER_PORT",
        "OTPQ_GENERAL_METRICS_PORT", "OTPQ_INTERACTIVE_METRICS_PORT",
        "OTPQ_BULK_METRICS_PORT")}  # fmt: skip
    env = {
        **engine.env,
        **ports,
        "OTPQ_BASE_IMAGE": BASE_IMAGE,
        "OTPQ_IMAGE_TAG": f"test-{os.getpid()}",
        "FLOWER_BASIC_AUTH": f"ops:{secrets.token_urlsafe(12)}",
        # The deployment's own secrets, as an operator would set them (none is defaulted).
        "OTPQ_OTP_KEYS": generate_key(),
        "OTPQ_HASH_KEY": secrets.token_hex(16),
    }
    stack = Stack(engine, env, f"otpqtest{os.getpid()}")
    stack.resolve()
    try:
        started = time.monotonic()
        # Every otpq service builds the same image: build it once, the others reuse it.
        built = stack.compose("build", "worker")
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        up = stack.compose("up", "-d")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        print(f"\ncompose build + up: {time.monotonic() - started:.0f} s")
        yield stack
    finally:
        down = stack.compose("down", "-v", "--rmi", "all", "--timeout", "30")
        assert down.returncode == 0, down.stderr


def health(container: dict[str, Any]) -> str | None:
    state = container["State"]
    return state.get("Health", {}).get("Status")


def test_every_service_turns_healthy(stack: Stack) -> None:
    def all_healthy() -> dict[str, str] | None:
        states = {c["Name"]: health(c) for c in stack.containers()}
        return states if states and set(states.values()) == {"healthy"} else None

    started = time.monotonic()
    try:
        states = poll(all_healthy, "every container healthy")
        print(f"\nevery container healthy after {time.monotonic() - started:.0f} s")
    except AssertionError:
        print(stack.compose("logs", "--tail", "40").stdout)
        raise
    services = {name.split("_")[1] for name in states}
    assert services == {"redis", "sandbox", "worker", "worker-interactive", "worker-bulk", "flower"}
    for container in stack.containers():
        assert container["HostConfig"]["NetworkMode"] == "host"
        assert container["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        if container["Config"]["Image"].startswith("otpq:"):
            assert container["Config"]["User"] == "otpq"


def test_a_code_goes_through_the_stack(stack: Stack) -> None:
    poll(lambda: all(health(c) == "healthy" for c in stack.containers()), "a healthy stack")
    redis_url = f"redis://127.0.0.1:{stack.env['OTPQ_REDIS_PORT']}/0"
    client = OtpClient(
        Settings.from_env({"REDIS_URL": redis_url, "OTPQ_OTP_KEYS": stack.env["OTPQ_OTP_KEYS"]})
    )
    control = SandboxControl(f"http://127.0.0.1:{stack.env['OTPQ_SANDBOX_PORT']}")
    try:
        sent = client.send(DEST, brand_name="ComposeTest", source="test_compose")
        assert client.wait(sent, timeout=60).state == "succeeded"
        code = control.wait_for_message(DEST, timeout=30)["code"]
        verified = client.verify(DEST, code, brand_name="ComposeTest", source="test_compose")
        outcome = client.wait(verified, timeout=60)
        assert outcome.state == "succeeded" and outcome.result["valid"] is True
    finally:
        client.close()


def test_flower_refuses_without_credentials(stack: Stack) -> None:
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{stack.env['OTPQ_FLOWER_PORT']}"
    poll(lambda: urllib.request.urlopen(f"{url}/healthcheck", timeout=5).status == 200,
         "Flower's /healthcheck")  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}/api/workers", timeout=5)
    assert refused.value.code == 401
