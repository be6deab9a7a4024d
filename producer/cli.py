"""The `otpq` command: send, verify and poll OTP jobs from a shell.

Human output by default, `--json` for scripts. Exit status: 0 done (or queued),
1 the job failed, 2 bad input, unknown job or no Redis, 3 timed out waiting.

It sends to a running `otpq up` if it finds one, else to REDIS_URL (and says so on
stderr), else nowhere: it never falls back to whatever listens on 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from otpq_core.outcomes import InvalidRequest
from otpq_core.redaction import mask_number
from otpq_core.settings import ConfigError, Settings
from producer.campaign.cli import FileRefused
from producer.campaign.cli import add_commands as add_campaign_commands
from producer.client import BrokerUnavailable, JobStatus, OtpClient
from producer.receipts import deduplicated
from producer.requests import SendRequest, VerifyRequest

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3

EPILOG = """environment:
  REDIS_URL           broker and result store (default: the running `otpq up`)
  see the README for the worker's settings (PINPOINT_APPLICATION_ID, OTPQ_*)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otpq",
        description="SMS one-time passwords on Amazon Pinpoint, as queued jobs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
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
        help="run Redis, the sandbox, a worker and Flower locally",
        description=(
            "Start a complete local otpq: Redis (REDIS_URL if reachable, else a local "
            "redis-server), the sandbox for Pinpoint and Notify (or real AWS: for pinpoint "
            "when PINPOINT_APPLICATION_ID is set and AWS_ENDPOINT_URL_PINPOINT is not, for "
            "notify when OTPQ_NOTIFY_CONFIGURATION is set and "
            "AWS_ENDPOINT_URL_ENDUSERMESSAGING is not), a worker and Flower. Ctrl-C "
            "stops everything. otpq in another shell finds the stack by itself."
        ),
    )
    up.add_argument(
        "--backend",
        choices=("pinpoint", "notify"),
        help="where new sends go (default: OTPQ_BACKEND, else pinpoint)",
    )
    up.add_argument("--no-flower", action="store_true", help="do not start Flower")
    up.add_argument("--demo", action="store_true", help="send and verify one code once ready")
    up.set_defaults(run=_up, needs_client=False)

    # Dispatched in main() before parsing; listed here for `otpq --help`.
    commands.add_parser("sandbox", help="run the Pinpoint sandbox alone (otpq sandbox --help)")
    add_campaign_commands(commands)
    return parser


def version() -> str:
    """The installed distribution's version, else the source tree's (pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("otpq")
    except PackageNotFoundError:
        from pathlib import Path

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        found = re.search(r'^version = "([^"]+)"', _read(pyproject), re.M)
        return found.group(1) if found else "unknown"


def _read(path: Any) -> str:
    try:
        return str(path.read_text())
    except OSError:
        return ""


def _up(args: argparse.Namespace) -> int:
    from otpq_local.up import run

    return run(os.environ, flower=not args.no_flower, demo=args.demo, backend=args.backend)


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
    given = {k: v for k, v in options.items() if v is not None}
    job_id = client.send(args.destination, args.brand_name, args.source, lane=args.lane, **given)
    if not deduplicated(job_id):
        return _report(client, job_id, args)
    request = SendRequest.from_kwargs(_send_fields(args) | given)
    print(f"otpq: {_no_new_sms(client, request, job_id)}", file=sys.stderr)
    return _report(client, job_id, args, extra={"deduplicated": True})


def _send_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {"destination": args.destination, "brand_name": args.brand_name, "source": args.source}


def _no_new_sms(client: OtpClient, request: SendRequest, job_id: str) -> str:
    """Why a send queued nothing: the resend cooldown holds the first job's id."""
    cooldown = client.settings.resend_cooldown
    ago = ""
    try:
        key = client.guards.hasher.key("cooldown", request.destination, request.ref_id)
        left = int(client.guards.redis.pttl(key))
        if left >= 0:
            ago = f" {max(0, round(cooldown - left / 1000))} s ago"
    except Exception:  # the message is advice; the job id below is what matters
        pass
    return (
        f"no new SMS: a code was sent to {mask_number(request.destination)}{ago} "
        f"(cooldown {cooldown:g} s); job {job_id}"
    )


def _check_send(args: argparse.Namespace) -> None:
    """Refuse bad input before anything needs Redis."""
    SendRequest.from_kwargs(
        _send_fields(args)
        | {
            "code_length": args.code_length,
            "validity_period": args.validity,
            "allowed_attempts": args.attempts,
            "language": args.language,
        }
    )


def _check_verify(args: argparse.Namespace) -> None:
    VerifyRequest.from_kwargs(_send_fields(args) | {"otp": args.otp})


def _check_job_id(args: argparse.Namespace) -> None:
    from producer.known_jobs import looks_like_job_id

    if not looks_like_job_id(args.job_id):
        raise UnknownJob(f"{args.job_id[:40]!r} is not a job id (otpq job ids are UUIDs)")


class UnknownJob(LookupError):
    """Redis has nothing about this job id: never queued, or its result expired."""


def _verify(client: OtpClient, args: argparse.Namespace) -> int:
    options = {"reference_id": args.reference_id} if args.reference_id else {}
    job_id = client.verify(
        args.destination, args.otp, args.brand_name, args.source, lane=args.lane, **options
    )
    return _report(client, job_id, args)


def _status(client: OtpClient, args: argparse.Namespace) -> int:
    status = client.status(args.job_id)
    if status.state == "queued" and not _known(client, args.job_id):
        ttl = client.settings.result_ttl
        error = (
            f"unknown job {args.job_id}: no result, no worker holds it and no lane has it "
            f"(never queued to this Redis, or its result expired after {ttl:g} s)"
        )
        if args.json:
            _print(args, {"job_id": args.job_id, "state": "unknown", "error": error}, error)
        raise UnknownJob(error)
    return _report(client, args.job_id, args, queued=False)


def _known(client: OtpClient, job_id: str) -> bool:
    """Twice, a moment apart: a message is briefly in no list while a worker takes it."""
    from producer.known_jobs import is_known  # kombu's Redis transport: only for status

    try:
        if is_known(client.guards.redis, job_id):
            return True
        time.sleep(0.2)
        return is_known(client.guards.redis, job_id) or client.status(job_id).state != "queued"
    except Exception as exc:  # redis errors: report like any other unreachable Redis
        raise BrokerUnavailable(f"could not read job {job_id}: {type(exc).__name__}") from None


def _report(
    client: OtpClient,
    job_id: str,
    args: argparse.Namespace,
    queued: bool = True,
    extra: dict[str, Any] | None = None,
) -> int:
    """Print the job (queued, or its outcome with --wait); `extra` goes into the JSON."""
    extra = extra or {}
    if args.wait:
        try:
            status = client.wait(job_id, timeout=args.timeout)
        except TimeoutError as exc:
            data = {"job_id": job_id, "state": "waiting", "error": str(exc), **extra}
            _print(args, data, str(exc))
            return EXIT_TIMEOUT
    elif queued:
        _print(args, {"job_id": job_id, "state": "queued", **extra}, f"queued {job_id}")
        return EXIT_OK
    else:
        status = client.status(job_id)
    _print(args, {**status.to_dict(), **extra}, describe(status))
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


class NoStack(LookupError):
    """No REDIS_URL and no running `otpq up`: there is nowhere to send."""


def environment(say: Callable[[str], None] | None = None) -> dict[str, str]:
    """The process environment, plus a running `otpq up`'s when REDIS_URL is unset.

    Says on stderr (`say`) which Redis it uses when that is REDIS_URL rather than a
    discovered stack; raises `NoStack` when there is neither."""
    env = dict(os.environ)
    if env.get("REDIS_URL"):
        if say:
            say(f"otpq: using REDIS_URL={mask_url(env['REDIS_URL'])}")
        return env
    from otpq_local.up import discover

    found = discover()
    if not found:
        raise NoStack(
            "no running `otpq up` found and REDIS_URL is not set: run `otpq up` in another "
            "shell, or set REDIS_URL (e.g. REDIS_URL=redis://host:6379/0)"
        )
    env.update(found)
    return env


_URL_AUTH = re.compile(r"(://)([^@/;]*)@")
_QUERY_SECRET = re.compile(r"((?:^|[?&;])password=)[^&;]*", re.I)


def mask_url(url: str) -> str:
    """A Redis URL with its password (user:password@, or ?password=) masked."""

    def auth(match: re.Match[str]) -> str:
        user, sep, _ = match.group(2).partition(":")
        return f"{match.group(1)}{user}:***@" if sep else f"{match.group(1)}***@"

    return _QUERY_SECRET.sub(r"\1***", _URL_AUTH.sub(auth, url))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        # Everything after `sandbox` belongs to the sandbox's own parser (--help too).
        from sandbox.cli import main as sandbox_main

        return sandbox_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except BrokenPipeError:
        # `otpq ... | head`: the reader left. Python's recipe: point stdout at devnull
        # so the interpreter's final flush does not fail again, and exit quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


#: What a person typed for each request field (an error names the field).
FLAGS = {
    "destination": "--to",
    "brand_name": "--brand",
    "source": "--source",
    "reference_id": "--reference-id",
    "code_length": "--code-length",
    "validity_period": "--validity",
    "allowed_attempts": "--attempts",
    "language": "--language",
    "origination_identity": "--origination",
    "entity_id": "--entity-id",
    "template_id": "--template-id",
    "channel": "--channel",
    "otp": "the code",
}


def _dispatch(args: argparse.Namespace) -> int:
    if not getattr(args, "needs_client", True):
        return int(args.run(args))
    try:
        preflight = getattr(args, "preflight", None) or PREFLIGHT.get(args.command)
        if preflight:
            preflight(args)
        client = OtpClient(Settings.from_env(environment(say=_stderr)))
        return int(args.run(client, args))
    except InvalidRequest as exc:
        flag = FLAGS.get(exc.field, exc.field)
        print(f"otpq: {exc} (check {flag})", file=sys.stderr)
        return EXIT_USAGE
    except (BrokerUnavailable, ConfigError, FileRefused, NoStack, UnknownJob) as exc:
        print(f"otpq: {exc}", file=sys.stderr)
        return EXIT_USAGE


#: Checks that need no Redis, run before `otpq` decides where to send (bad input is
#: refused even with no stack). Subcommands may set their own `preflight` default.
PREFLIGHT: dict[str, Callable[[argparse.Namespace], None]] = {
    "send": _check_send,
    "verify": _check_verify,
    "status": _check_job_id,
}


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
