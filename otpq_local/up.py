"""`otpq up`: Redis, the sandbox (or real AWS), a worker and Flower, in one command.

`--backend pinpoint|notify` (default OTPQ_BACKEND, else pinpoint) picks where new sends
go. The sandbox serves both backends on one port, so a sandbox stack points both
botocore endpoints at it whichever is chosen; real AWS is used only when the chosen
backend is configured and its endpoint is not overridden (`uses_real_aws`).

Every part is a child process. Ctrl-C (or SIGTERM) stops them all, newest first, and
removes the temporary directory and the discovery file; nothing is left behind. The
discovery file lets `otpq` in another shell find this stack without any exports.

One stack per discovery file: a second `otpq up` over a live one refuses (naming its
pid), and one started after a SIGKILLed predecessor first stops the orphans it left
(their pids and start times are in the discovery file; otpq_local/orphans.py). The
worker gets `STOP_GRACE` seconds of warm shutdown, then a cold one that puts its
unfinished jobs back in their queue (orphans.stop_worker).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlencode, urlparse
from urllib.request import urlopen

from otpq_core.aws import aws_region, configured_region
from otpq_local.orphans import StackRunning, child_record, live_stack, reap_orphans, stop_worker
from otpq_local.redis_server import RedisServer, free_port
from otpq_local.worker_process import WorkerProcess

#: Where a running `otpq up` tells other shells how to reach it (OTPQ_UP_FILE overrides).
DISCOVERY_FILE = Path(
    os.environ.get("OTPQ_UP_FILE") or Path(tempfile.gettempdir()) / "otpq-up.json"
)
SANDBOX_APP_ID = "otpq-sandbox"
SANDBOX_ORIGINATION = "+18005550100"
#: The code configuration the sandbox knows by default (sandbox/notify_config.py).
SANDBOX_NOTIFY_CONFIGURATION = "otpq-sandbox"
BACKENDS = ("pinpoint", "notify")
#: A number the demo texts; the sandbox delivers nothing, real AWS would.
DEMO_NUMBER = "+14255550142"

_SANDBOX_URL = re.compile(r"listening on (\S+)")
#: Sandbox output lines that are deliveries, and how `otpq up` labels them.
_DELIVERIES = {"SMS to ": "sms", "Call to ": "call", "WhatsApp to ": "whatsapp"}

Say = Callable[[str], None]


def discover(path: Path = DISCOVERY_FILE) -> dict[str, str] | None:
    """The environment of a live `otpq up` on this machine, if there is one.

    Only a file this user owns, that no one else may write, in a directory no one else
    may replace it in: anyone can create /tmp/otpq-up.json, and whoever wrote it
    chooses the Redis (and AWS endpoint) the codes go to."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        with os.fdopen(fd) as file:
            problem = untrusted(os.fstat(file.fileno()), os.stat(path.parent))
            if problem:
                print(f"otpq: ignoring {path}: {problem}", file=sys.stderr)
                return None
            data = json.loads(file.read())
        os.kill(int(data["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    env = data.get("env")
    return dict(env) if isinstance(env, dict) else None


def untrusted(file: os.stat_result, directory: os.stat_result) -> str | None:
    """Why a discovery file (and its directory) cannot be trusted, or None."""
    me = os.getuid()
    if file.st_uid != me:
        return "it belongs to another user"
    if file.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "others may write to it"
    if directory.st_uid not in (me, 0):
        return "its directory belongs to another user"
    shared = directory.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if shared and not directory.st_mode & stat.S_ISVTX:
        return "others may replace it (its directory is writable by others, not sticky)"
    return None


def redis_reachable(url: str, timeout: float = 0.5) -> bool:
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss"):
        return False
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout
        ):
            return True
    except OSError:
        return False


def default_backend(env: Mapping[str, str]) -> str:
    """OTPQ_BACKEND if it names a backend, else pinpoint (as the worker's default)."""
    value = (env.get("OTPQ_BACKEND") or "").strip().lower()
    return value if value in BACKENDS else BACKENDS[0]


def uses_real_aws(env: Mapping[str, str], backend: str = "pinpoint") -> bool:
    """Real AWS when the backend is configured (a Pinpoint application id, a Notify code
    configuration) and no endpoint override points elsewhere."""
    if backend == "notify":
        return bool(env.get("OTPQ_NOTIFY_CONFIGURATION")) and not env.get(
            "AWS_ENDPOINT_URL_ENDUSERMESSAGING"
        )
    return bool(env.get("PINPOINT_APPLICATION_ID")) and not env.get("AWS_ENDPOINT_URL_PINPOINT")


@dataclass
class Stack:
    """The running parts, in start order."""

    env: dict[str, str] = field(default_factory=dict)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="otpq-up-")))
    redis: RedisServer | None = None
    sandbox: subprocess.Popen[str] | None = None
    worker: WorkerProcess | None = None
    flower: subprocess.Popen[bytes] | None = None
    urls: dict[str, str] = field(default_factory=dict)

    def stop(self, say: Say = print) -> None:
        if self.flower and self.flower.poll() is None:
            say("stopping flower…")
            self.flower.terminate()
            _wait(self.flower)
        if self.worker:
            stop_worker(self.worker, self.env.get("REDIS_URL"), say)
        if self.sandbox and self.sandbox.poll() is None:
            self.sandbox.terminate()
            _wait(self.sandbox)
        if self.redis:
            say("stopping redis-server…")
            self.redis.stop()
        if _owned_by_us(DISCOVERY_FILE):
            DISCOVERY_FILE.unlink(missing_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _owned_by_us(path: Path) -> bool:
    try:
        return int(json.loads(path.read_text())["pid"]) == os.getpid()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _wait(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start(
    base_env: Mapping[str, str],
    *,
    say: Say = print,
    flower: bool = True,
    concurrency: int = 8,
    backend: str | None = None,
) -> Stack:
    stack = Stack()
    try:
        _secrets(stack, base_env)
        _start_redis(stack, base_env, say)
        _start_backend(stack, base_env, backend or default_backend(base_env), say)
        # Recorded before the (slow) worker start too: a SIGKILL now leaves orphans a
        # successor can find. No env yet, so other shells do not use a half-ready stack.
        _write_private(DISCOVERY_FILE, json.dumps(discovery_record(stack, ready=False)))
        stack.worker = WorkerProcess(
            {**base_env, **stack.env},
            # Not `general`: a documented general worker on the same host would share
            # its node name (Celery warns DuplicateNodenameWarning, inspect sees one).
            name="otpq-up",
            concurrency=concurrency,
            log_path=stack.workdir / "worker.log",
        ).start()
        say(f"worker     {stack.worker.name}@{socket.gethostname()}  (log {stack.worker.log_path})")
        if flower:
            _start_flower(stack, base_env, say)
        _write_private(DISCOVERY_FILE, json.dumps(discovery_record(stack)))
    except BaseException:
        stack.stop(say)
        raise
    return stack


def discovery_record(stack: Stack, *, ready: bool = True) -> dict[str, object]:
    """What other shells need (pid, env; only once `ready`), and what a successor needs
    to clean up after a SIGKILL: every child's pid and start time, the temporary dir."""
    parts = {
        "redis-server": stack.redis.process if stack.redis else None,
        "sandbox": stack.sandbox,
        "worker": stack.worker.process if stack.worker else None,
        "flower": stack.flower,
    }
    children = [child_record(name, p.pid) for name, p in parts.items() if p is not None]
    record: dict[str, object] = {
        "pid": os.getpid(),
        "children": [c for c in children if c],
        "workdir": str(stack.workdir),
    }
    if ready:
        record["env"] = stack.env
    return record


def _secrets(stack: Stack, base_env: Mapping[str, str]) -> None:
    """The stack's OTP sealing key and hashing secret: the caller's if set, else new
    ones, so the producer, the worker and `otpq` in another shell all share them."""
    from otpq_core.sealing import generate_key

    stack.env["OTPQ_OTP_KEYS"] = base_env.get("OTPQ_OTP_KEYS") or generate_key()
    stack.env["OTPQ_HASH_KEY"] = base_env.get("OTPQ_HASH_KEY") or secrets.token_urlsafe(32)


def _write_private(path: Path, text: str) -> None:
    """The discovery file holds the stack's keys: readable by this user only."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def _start_redis(stack: Stack, base_env: Mapping[str, str], say: Say) -> None:
    url = base_env.get("REDIS_URL")
    if url and redis_reachable(url):
        stack.env["REDIS_URL"] = url
        say(f"redis      {url}  (from REDIS_URL)")
        return
    if url:
        say(f"redis      REDIS_URL={url} is not reachable; starting a local redis-server")
    stack.redis = RedisServer(directory=stack.workdir / "redis", detach=True).start()
    stack.env["REDIS_URL"] = stack.redis.url
    say(f"redis      {stack.redis.url}  (local redis-server, data in a temp dir)")


def _start_backend(stack: Stack, base_env: Mapping[str, str], backend: str, say: Say) -> None:
    stack.env["OTPQ_BACKEND"] = backend
    if uses_real_aws(base_env, backend):
        region = aws_region(configured_region(base_env))
        if backend == "notify":
            what = f"code configuration {base_env['OTPQ_NOTIFY_CONFIGURATION']}"
        else:
            what = f"application {base_env['PINPOINT_APPLICATION_ID']}"
        say(f"{backend:<10} REAL AWS ({region}), {what}")
        return
    _start_sandbox(stack, base_env, backend, say)


def _start_sandbox(stack: Stack, base_env: Mapping[str, str], backend: str, say: Say) -> None:
    """The sandbox for both backends: the chosen one sends, the other still verifies."""
    command = [
        sys.executable, "-m", "sandbox", "--port", str(free_port()),
        "--app-id", SANDBOX_APP_ID, "--notify-configuration", SANDBOX_NOTIFY_CONFIGURATION,
    ]  # fmt: skip
    stack.sandbox = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    assert stack.sandbox.stdout is not None
    banner = stack.sandbox.stdout.readline()
    match = _SANDBOX_URL.search(banner)
    if not match:
        raise RuntimeError(f"the sandbox did not start: {banner.strip()}")
    url = match.group(1)
    stack.urls["sandbox"] = url
    stack.env.update(
        {
            "PINPOINT_APPLICATION_ID": SANDBOX_APP_ID,
            "PINPOINT_ORIGINATION_IDENTITY": (
                base_env.get("PINPOINT_ORIGINATION_IDENTITY")
                or base_env.get("OTPQ_ORIGINATION_IDENTITY")
                or SANDBOX_ORIGINATION
            ),
            "AWS_ENDPOINT_URL_PINPOINT": url,
            "AWS_ENDPOINT_URL_ENDUSERMESSAGING": url,
            "OTPQ_NOTIFY_CONFIGURATION": SANDBOX_NOTIFY_CONFIGURATION,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_REGION": "us-east-1",
            "OTPQ_SANDBOX_URL": url,
        }
    )
    say(
        f"{backend:<10} SANDBOX {url}  (nothing leaves this machine; outbox at"
        f" {url}/_sandbox/outbox)"
    )
    threading.Thread(target=_relay, args=(stack.sandbox, say), daemon=True).start()


def _relay(process: subprocess.Popen[str], say: Say) -> None:
    """Show each SMS, call and WhatsApp message the sandbox delivers (masked number)."""
    assert process.stdout is not None
    for line in process.stdout:
        for prefix, kind in _DELIVERIES.items():
            if line.startswith(prefix):
                say(f"  {kind}  {line.strip()[len(prefix) :]}")


def _start_flower(stack: Stack, base_env: Mapping[str, str], say: Say) -> None:
    try:
        import flower  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        say("flower     not installed (pip install 'otpq[flower]')")
        return
    port = free_port()
    log = (stack.workdir / "flower.log").open("ab")
    stack.flower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            "flower",
            f"--port={port}",
            "--address=127.0.0.1",
        ],
        env={**os.environ, **base_env, **stack.env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and stack.flower.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    stack.urls["flower"] = url
    say(flower_line(url, {**os.environ, **base_env, **stack.env}))


def flower_line(url: str, env: Mapping[str, str]) -> str:
    """Flower's pages are open on loopback, its REST API only with credentials: say so
    before someone's first `curl …/api/workers` answers 401."""
    if env.get("FLOWER_BASIC_AUTH"):
        return f"flower     {url}  (API with FLOWER_BASIC_AUTH's user)"
    return f"flower     {url}  (its /api/ answers 401 unless FLOWER_BASIC_AUTH=user:pass is set)"


def run(
    base_env: Mapping[str, str],
    *,
    say: Say = print,
    flower: bool = True,
    demo: bool = False,
    until: threading.Event | None = None,
    backend: str | None = None,
) -> int:
    """Start the stack, print how to use it, and block until Ctrl-C or SIGTERM."""
    stop = until or threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        live_stack(DISCOVERY_FILE)
    except StackRunning as exc:
        say(f"otpq up: {exc}")
        return 2
    reap_orphans(DISCOVERY_FILE, say)
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        stack = start(base_env, say=say, flower=flower, backend=backend)
    except RuntimeError as exc:  # a part did not start; start() has stopped the rest
        say(f"otpq up: {exc}")
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        return 1
    try:
        notify = stack.env.get("OTPQ_BACKEND") == "notify"
        shown = ("REDIS_URL", "OTPQ_BACKEND") if notify else ("REDIS_URL",)
        exports = " ".join(f"{k}={v}" for k, v in sorted(stack.env.items()) if k in shown)
        say("")
        say("ready. In another shell (otpq finds this stack by itself):")
        say(f"  otpq send --to {DEMO_NUMBER} --brand ExampleCorp --source Login --wait")
        say(f"  otpq verify CODE --to {DEMO_NUMBER} --brand ExampleCorp --source Login --wait")
        if notify:
            say(f"  otpq send --to {DEMO_NUMBER} --brand ExampleCorp --source Call --channel VOICE")
        say(f"From other programs: export {exports}")
        say("Ctrl-C stops everything.")
        if demo:
            _demo(stack, say)
        while not stop.wait(0.5):
            if stack.worker and not stack.worker.running():
                say("the worker exited; stopping")
                return 1
        return 0
    finally:
        say("stopping…")
        stack.stop(say)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        say("stopped.")


def _demo(stack: Stack, say: Say) -> None:
    """One round trip through the real path: enqueue, worker, the chosen backend, poll."""
    from otpq_core.settings import Settings
    from producer.client import OtpClient

    client = OtpClient(Settings.from_env({**os.environ, **stack.env}))
    try:
        job = client.send(DEMO_NUMBER, brand_name="ExampleCorp", source="Demo")
        sent = client.wait(job, timeout=30)
        backend = stack.env.get("OTPQ_BACKEND", "pinpoint")
        say(f"demo: send {job} via {backend} -> {sent.state} {sent.result or sent.error}")
        code = _sandbox_code(stack, DEMO_NUMBER)
        if code is None:
            return
        checked = client.wait(client.verify(DEMO_NUMBER, code, "ExampleCorp", "Demo"), timeout=30)
        valid = (checked.result or {}).get("valid")
        say(f"demo: verify with the code from the sandbox -> {checked.state}, valid={valid}")
    finally:
        client.close()


def _sandbox_code(stack: Stack, destination: str) -> str | None:
    """The code the sandbox "delivered", read from its outbox over HTTP."""
    url = stack.urls.get("sandbox")
    if not url:
        return None
    query = urlencode({"destination": destination})
    with urlopen(f"{url}/_sandbox/outbox?{query}", timeout=10) as response:
        messages = json.load(response)
    return str(messages[-1]["code"]) if messages else None
