"""``otpq sandbox`` (or ``python -m sandbox``): the sandbox in the foreground.

It always serves both Pinpoint and Notify on one port; there is no backend to choose.
The first stdout line is the banner with the URL (other programs parse it); then one
line per delivery with the destination masked: ``SMS to``, ``Call to`` (the spoken
text) or ``WhatsApp to``. SIGINT and SIGTERM stop it cleanly.
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
from sandbox.notify_config import DEFAULT_NOTIFY_CONFIGURATIONS, NotifyConfiguration
from sandbox.outbox import Message
from sandbox.pinpoint import DEFAULT_APP_IDS
from sandbox.server import PinpointSandbox

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
BANNER = (
    "PINPOINT + NOTIFY SANDBOX - NOT PRODUCTION, no message leaves this machine"
    " - listening on {url}"
)
PROG = "otpq sandbox"


def _configuration(value: str) -> NotifyConfiguration:
    """``ID`` or ``ID=BRAND``."""
    config_id, _, brand = value.partition("=")
    if not config_id:
        raise argparse.ArgumentTypeError("needs an id: ID or ID=BRAND")
    return NotifyConfiguration(config_id, brand_name=brand or NotifyConfiguration.brand_name)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Local stand-in for Amazon Pinpoint's SendOTPMessage/VerifyOTPMessage and AWS End"
            " User Messaging Notify's SendNotifyCodeVerification/ValidateNotifyCodeVerification,"
            " both on one port: point AWS_ENDPOINT_URL_PINPOINT and"
            " AWS_ENDPOINT_URL_ENDUSERMESSAGING at the URL it prints."
        ),
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
    parser.add_argument(
        "--notify-configuration",
        dest="notify_configurations",
        action="append",
        type=_configuration,
        metavar="ID[=BRAND]",
        help=(
            "known Notify code configuration and the brand its templates name, repeatable"
            f" (default {DEFAULT_NOTIFY_CONFIGURATIONS[0]}={NotifyConfiguration.brand_name})"
        ),
    )
    parser.add_argument("--latency-ms", type=float, help="added to every request")
    parser.add_argument(
        "--quota-rps", type=float, help="requests/second over both operations, per backend"
    )
    parser.add_argument("--quota-burst", type=float, help="token bucket size (default: rps)")
    return parser


_print_lock = threading.Lock()


def _print_delivery(message: Message) -> None:
    """One line per delivery; called from handler threads, so lines are serialized."""
    line = f"{message.label} to {mask_destination(message.destination)}: {message.body}"
    with _print_lock, contextlib.suppress(OSError):  # a closed stdout must not fail sends
        print(line, flush=True)


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = _parser(prog).parse_args(argv)
    faults = {"latency_ms": args.latency_ms, "quota_rps": args.quota_rps}
    faults["quota_burst"] = args.quota_burst
    try:
        config = FaultConfig.from_json({k: v for k, v in faults.items() if v is not None})
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2

    sandbox = PinpointSandbox(
        args.host,
        args.port,
        args.app_ids or DEFAULT_APP_IDS,
        on_message=_print_delivery,
        notify_configurations=args.notify_configurations or DEFAULT_NOTIFY_CONFIGURATIONS,
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
