"""``python -m sandbox``: the sandbox in the foreground, for demos and other services.

The first stdout line is the banner with the URL (other programs parse it); then one
line per delivered SMS with the destination masked. SIGINT and SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from types import FrameType

from sandbox.faults import FaultConfig
from sandbox.masking import mask_destination
from sandbox.outbox import OutboxMessage
from sandbox.pinpoint import DEFAULT_APP_IDS
from sandbox.server import PinpointSandbox

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
BANNER = "PINPOINT SANDBOX - NOT PRODUCTION, no SMS leaves this machine - listening on {url}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Local stand-in for Amazon Pinpoint's SendOTPMessage/VerifyOTPMessage.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument(
        "--app-id",
        dest="app_ids",
        action="append",
        metavar="ID",
        help=f"known application id, repeatable (default {DEFAULT_APP_IDS[0]})",
    )
    parser.add_argument("--latency-ms", type=float, help="added to every Pinpoint request")
    parser.add_argument("--quota-rps", type=float, help="requests/second over both operations")
    parser.add_argument("--quota-burst", type=float, help="token bucket size (default: rps)")
    return parser


_print_lock = threading.Lock()


def _print_delivery(message: OutboxMessage) -> None:
    """One line per SMS; called from handler threads, so lines are serialized."""
    line = f"SMS to {mask_destination(message.destination)}: {message.body}"
    with _print_lock, contextlib.suppress(OSError):  # a closed stdout must not fail sends
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    faults = {"latency_ms": args.latency_ms, "quota_rps": args.quota_rps}
    faults["quota_burst"] = args.quota_burst
    try:
        config = FaultConfig.from_json({k: v for k, v in faults.items() if v is not None})
    except ValueError as exc:
        print(f"python -m sandbox: {exc}", file=sys.stderr)
        return 2

    sandbox = PinpointSandbox(
        args.host, args.port, args.app_ids or DEFAULT_APP_IDS, on_message=_print_delivery
    )
    sandbox.state.faults.configure(config)
    stop = threading.Event()
    previous = _install_signal_handlers(stop)
    try:
        with sandbox:
            print(BANNER.format(url=sandbox.url), flush=True)
            if args.host not in _LOOPBACK:
                print(f"warning: listening on {args.host}, not loopback", file=sys.stderr)
            while not stop.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("sandbox stopped", flush=True)
    return 0


def _install_signal_handlers(stop: threading.Event) -> dict[int, object]:
    """Stop on SIGINT/SIGTERM; skipped when not on the main thread (embedded use)."""

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, object] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, _handler)
    return previous
