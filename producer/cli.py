"""The `otpq` command: send, verify and poll OTP jobs from a shell.

Human output by default, `--json` for scripts. Exit status: 0 done (or queued),
1 the job failed, 2 bad input or no Redis, 3 timed out waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from producer.campaign.cli import add_commands as add_campaign_commands
from producer.client import BrokerUnavailable, JobStatus, OtpClient
from producer.outcomes import InvalidRequest
from producer.settings import ConfigError, Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3

EPILOG = """environment:
  REDIS_URL           broker and result store (default redis://127.0.0.1:6379/0)
  see the README for the worker's settings (PINPOINT_APPLICATION_ID, OTPQ_*)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otpq",
        description="SMS one-time passwords on Amazon Pinpoint, as queued jobs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    send = commands.add_parser(
        "send",
        help="queue an OTP SMS to a number",
        description="Queue one SendOTPMessage and print its job id (or its outcome, with --wait).",
    )
    _common(send)
    send.add_argument("--code-length", type=int, default=6, help="digits in the code, 5-8")
    send.add_argument("--validity", type=int, default=15, help="minutes the code lives, 5-60")
    send.add_argument("--attempts", type=int, default=3, help="wrong tries allowed, 1-5")
    send.add_argument("--language", default="en-US", help="message language (default en-US)")
    send.add_argument("--origination", help="sending number or sender id (default: worker's)")
    send.add_argument("--entity-id", help="DLT entity id (India)")
    send.add_argument("--template-id", help="DLT template id (India)")
    send.add_argument(
        "--channel",
        choices=("SMS", "VOICE", "WHATSAPP"),
        default="SMS",
        help="SMS (default); VOICE and WHATSAPP need OTPQ_BACKEND=notify",
    )
    send.set_defaults(run=_send)

    verify = commands.add_parser(
        "verify",
        help="check a code a user typed",
        description="Queue one VerifyOTPMessage; with --wait, print whether the code is valid.",
    )
    verify.add_argument("otp", help="the code the user typed (5-8 digits)")
    _common(verify)
    verify.set_defaults(run=_verify)

    status = commands.add_parser(
        "status", help="show a job's state and outcome", description="Show where a job is."
    )
    status.add_argument("job_id")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument("--wait", action="store_true", help="block until the job is done")
    status.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (60)")
    status.set_defaults(run=_status)

    up = commands.add_parser(
        "up",
        help="run Redis, the Pinpoint sandbox, a worker and Flower locally",
        description=(
            "Start a complete local otpq: Redis (REDIS_URL if reachable, else a local "
            "redis-server), the Pinpoint sandbox (or real AWS when PINPOINT_APPLICATION_ID "
            "is set and AWS_ENDPOINT_URL_PINPOINT is not), a worker and Flower. Ctrl-C "
            "stops everything. otpq in another shell finds the stack by itself."
        ),
    )
    up.add_argument("--no-flower", action="store_true", help="do not start Flower")
    up.add_argument("--demo", action="store_true", help="send and verify one code once ready")
    up.set_defaults(run=_up, needs_client=False)

    # Dispatched in main() before parsing; listed here for `otpq --help`.
    commands.add_parser("sandbox", help="run the Pinpoint sandbox alone (otpq sandbox --help)")
    add_campaign_commands(commands)
    return parser


def _up(args: argparse.Namespace) -> int:
    from producer.stack.up import run

    return run(os.environ, flower=not args.no_flower, demo=args.demo)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", dest="destination", required=True, help="E.164, e.g. +14255550142")
    parser.add_argument("--brand", dest="brand_name", required=True, help="brand, max 20 chars")
    parser.add_argument("--source", required=True, help="why the code is sent, e.g. Login")
    parser.add_argument("--reference-id", help="default: md5(brand + source + destination)")
    parser.add_argument("--lane", choices=("interactive", "bulk"), default="interactive")
    parser.add_argument("--wait", action="store_true", help="block until the job is done")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (60)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _send(client: OtpClient, args: argparse.Namespace) -> int:
    options: dict[str, Any] = {
        "code_length": args.code_length,
        "validity_period": args.validity,
        "allowed_attempts": args.attempts,
        "language": args.language,
        "reference_id": args.reference_id,
        "origination_identity": args.origination,
        "entity_id": args.entity_id,
        "template_id": args.template_id,
        "channel": None if args.channel == "SMS" else args.channel,
    }
    job_id = client.send(
        args.destination,
        args.brand_name,
        args.source,
        lane=args.lane,
        **{k: v for k, v in options.items() if v is not None},
    )
    return _report(client, job_id, args)


def _verify(client: OtpClient, args: argparse.Namespace) -> int:
    options = {"reference_id": args.reference_id} if args.reference_id else {}
    job_id = client.verify(
        args.destination, args.otp, args.brand_name, args.source, lane=args.lane, **options
    )
    return _report(client, job_id, args)


def _status(client: OtpClient, args: argparse.Namespace) -> int:
    return _report(client, args.job_id, args, queued=False)


def _report(client: OtpClient, job_id: str, args: argparse.Namespace, queued: bool = True) -> int:
    if args.wait:
        try:
            status = client.wait(job_id, timeout=args.timeout)
        except TimeoutError as exc:
            _print(args, {"job_id": job_id, "state": "waiting", "error": str(exc)}, str(exc))
            return EXIT_TIMEOUT
    elif queued:
        _print(args, {"job_id": job_id, "state": "queued"}, f"queued {job_id}")
        return EXIT_OK
    else:
        status = client.status(job_id)
    _print(args, status.to_dict(), describe(status))
    return EXIT_FAILED if status.state == "failed" else EXIT_OK


def describe(status: JobStatus) -> str:
    """One human line per job."""
    head = f"{status.job_id}  {status.state}"
    if status.error:
        return f"{head}  {status.error}"
    result = status.result or {}
    if "valid" in result:
        verdict = "VALID" if result["valid"] else "NOT valid"
        return f"{head}  code {verdict} for {result.get('destination')}"
    if "message_id" in result:
        return (
            f"{head}  {result.get('delivery_status')} to {result.get('destination')}  "
            f"message {result.get('message_id')}  reference {result.get('reference_id')}"
        )
    return head


def _print(args: argparse.Namespace, data: dict[str, Any], human: str) -> None:
    print(json.dumps(data, sort_keys=True) if args.json else human, flush=True)


def environment() -> dict[str, str]:
    """The process environment, plus a running `otpq up`'s when REDIS_URL is unset."""
    env = dict(os.environ)
    if "REDIS_URL" not in env:
        from producer.stack.up import discover

        env.update(discover() or {})
    return env


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        # Everything after `sandbox` belongs to the sandbox's own parser (--help too).
        from sandbox.cli import main as sandbox_main

        return sandbox_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "needs_client", True):
        return int(args.run(args))
    try:
        client = OtpClient(Settings.from_env(environment()))
        return int(args.run(client, args))
    except InvalidRequest as exc:
        flag = {"destination": "--to", "brand_name": "--brand"}.get(exc.field, exc.field)
        print(f"otpq: {exc} (check {flag})", file=sys.stderr)
        return EXIT_USAGE
    except (BrokerUnavailable, ConfigError) as exc:
        print(f"otpq: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
