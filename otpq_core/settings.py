"""Every setting otpq reads, declared once: its attribute, environment variable(s),
default, parser and meaning, grouped by concern. `Settings` (its fields) and
`Settings.from_env` are built from these declarations, and so is docs/settings.md
(`python -m otpq_core.settings` prints it; a test keeps it current).

Durations are seconds everywhere. Names outside the `OTPQ_` prefix are the ones
their owners define (Redis URL, AWS's own variables); boto3's credential chain and
botocore's `AWS_ENDPOINT_URL_PINPOINT` are read by botocore itself, untouched. One
`Settings` serves both sides: the worker-only settings are grouped under "Worker
process" (and the rates, retries and abuse limits are the worker's to enforce), so a
producer and the workers it feeds read one environment the same way.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import ipaddress
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: The backends a worker can send codes through (OTPQ_BACKEND), the first the default.
BACKENDS = ("pinpoint", "notify")
#: Shortest OTPQ_HASH_KEY accepted: a short secret makes phone-number hashes guessable.
HASH_KEY_MIN = 16
#: How often each live worker sweeps Redis for jobs held by dead workers (kombu's
#: `unacked_restore_interval`, with its throttle set to 1 so this is the whole period).
#: A dead worker's job is back in a queue within visibility timeout + this. Not a setting.
DEFAULT_RESTORE_INTERVAL = 5.0
#: Most rows one `otp.send_batch` message may carry; a bigger batch is refused whole.
BATCH_MAX_ROWS = 200
#: Rows per `otp.send_batch` message a campaign start builds (1 = one `otp.send` per row);
#: the `batch_size` argument's default, not an environment setting.
DEFAULT_CAMPAIGN_BATCH_SIZE = 100
#: Variables the `otpq up` launcher (otpq_local/) reads or sets for what it starts; not
#: `Settings` fields, listed so the settings table is complete.
LAUNCHER_VARIABLES = {
    "OTPQ_UP_FILE": "where a running `otpq up` tells other shells how to reach it",
    "OTPQ_UP_STOP_GRACE": "seconds of warm shutdown `otpq up` gives its worker",
    "OTPQ_SANDBOX_URL": "set by `otpq up`: the sandbox its worker and demo talk to",
}


class ConfigError(ValueError):
    """A setting's value is unusable; the message names the variable."""


#: A parser: (variable name, its non-blank text) -> the value, or ConfigError.
Parser = Callable[[str, str], Any]


@dataclass(frozen=True)
class Setting:
    """One setting: where it is read from (the first variable set wins), its default,
    how its text is parsed, and one line saying what it is for."""

    group: str
    env: tuple[str, ...]
    default: Any
    parse: Parser
    doc: str
    #: How the default reads in the settings table, when not its plain value.
    shown: str | None = None

    def read(self, env: Mapping[str, str]) -> Any:
        """The value from `env`; a blank variable counts as unset."""
        for name in self.env:
            raw = env.get(name)
            if raw is not None and raw.strip():
                return self.parse(name, raw)
        return self.default

    def shown_default(self) -> str:
        if self.shown is not None:
            return self.shown
        value = self.default
        if value is None or value == () or value == frozenset() or value == {}:
            return "—"
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)


def _declare(group: str, env: str | tuple[str, ...], default: Any, parse: Parser, doc: str,
             *, shown: str | None = None) -> Any:  # fmt: skip
    """A `Settings` field carrying its declaration (read back by `declared()`)."""
    names = (env,) if isinstance(env, str) else env
    meta = {"setting": Setting(group, names, default, parse, doc, shown)}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=dict, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# -- parsers ------------------------------------------------------------------------


def _text(name: str, raw: str) -> str:
    return raw


def _number(minimum: float = 0) -> Parser:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw[:20]!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}")
        return value

    return parse


def _count(minimum: float = 1) -> Parser:
    """A number used as a count (written like any number, `5` or `5.0`)."""
    number = _number(minimum)
    return lambda name, raw: int(number(name, raw))


def _port(name: str, raw: str) -> int:
    raw = raw.strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(f"{name} must be a TCP port from 1 to 65535, got {raw[:20]!r}")
    return int(raw)


def _ip_address(name: str, raw: str) -> str:
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        raise ConfigError(f"{name} must be an IP address, got {raw.strip()[:40]!r}") from None


def _flag(name: str, raw: str) -> bool:
    raw = raw.strip().lower()
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, got {raw[:20]!r}")


def _whole(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw[:20]!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must be at least 0")
    return value


def _budgets(name: str, raw: str) -> tuple[tuple[int, float], ...]:
    try:
        return parse_budgets(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _rate_map(name: str, raw: str) -> dict[str, float]:
    try:
        return parse_rate_map(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _countries(name: str, raw: str) -> frozenset[str]:
    import phonenumbers

    codes = frozenset(c.strip().upper() for c in raw.split(",") if c.strip())
    unknown = sorted(codes - phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise ConfigError(f"{name}: unknown region codes {', '.join(unknown)} (use US, GB, ...)")
    return codes


def _fernet_keys(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated Fernet keys (url-safe base64 of 32 bytes); never echoed back."""
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for i, key in enumerate(keys, 1):
        try:
            ok = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
        except (binascii.Error, ValueError, UnicodeEncodeError):
            ok = False
        if not ok:
            raise ConfigError(
                f"{name}: key #{i} is not a Fernet key (generate one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            )
    return keys


def _backend(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in BACKENDS:
        raise ConfigError(f"{name} must be one of {', '.join(BACKENDS)}, not {value!r}")
    return value


def _secret(min_len: int) -> Parser:
    def parse(name: str, raw: str) -> str:
        value = raw.strip()
        if len(value) < min_len:
            raise ConfigError(f"{name} must be at least {min_len} characters")
        return value

    return parse


def parse_rate_map(text: str) -> dict[str, float]:
    """Parse a setting like ``"+18005550100=3, 12345=100"`` into ``{identity: rate}``.

    Empty entries are ignored; 0 means unlimited. Raises ValueError naming the bad
    entry (these are the operator's own sender identities, not users' numbers).
    """
    rates: dict[str, float] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        key = key.strip()
        try:
            rate = float(value) if sep else math.nan
        except ValueError:
            rate = math.nan
        if not key or not math.isfinite(rate) or rate < 0:
            raise ValueError(
                f"bad rate entry {entry!r}: expected IDENTITY=RATE with RATE a number >= 0"
            )
        if key in rates:
            raise ValueError(f"bad rate entry {entry!r}: {key!r} is given twice")
        rates[key] = rate
    return rates


def parse_budgets(text: str) -> tuple[tuple[int, float], ...]:
    """Parse ``"5/900, 10/86400"`` into ``((5, 900.0), (10, 86400.0))``: at most LIMIT
    per SECONDS, every window at once. ``"0"`` or ``"off"`` means no limit."""
    if text.strip().lower() in ("0", "off"):
        return ()
    budgets: list[tuple[int, float]] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        limit, sep, window = entry.partition("/")
        try:
            parsed = (int(limit), float(window)) if sep else None
        except ValueError:
            parsed = None
        if parsed is None or parsed[0] < 1 or not math.isfinite(parsed[1]) or parsed[1] <= 0:
            raise ValueError(f"bad budget {entry!r}: expected LIMIT/SECONDS like 5/900")
        budgets.append(parsed)
    return tuple(sorted(budgets, key=lambda b: b[1]))


# -- the declarations, by concern ------------------------------------------------------

_redis = functools.partial(_declare, "Redis (docs/redis.md)")
_backend_aws = functools.partial(_declare, "Backends and AWS")
_rates = functools.partial(_declare, "Rates and lanes")
_retries = functools.partial(_declare, "Retries, deadlines and results")
_abuse = functools.partial(_declare, "Abuse limits (docs/security.md)")
_secrets = functools.partial(_declare, "Secrets (docs/security.md)")
_campaigns = functools.partial(_declare, "Campaigns (docs/campaigns.md)")
_worker = functools.partial(_declare, "Worker process (read by workers only)")


@dataclass(frozen=True)
class Settings:
    """The whole configuration; `Settings()` is every default. Build it with `from_env`."""

    # One declaration per setting, laid out as a table: (variable(s), default, parser, doc).
    # fmt: off
    # -- Redis
    redis_url: str = _redis("REDIS_URL", "redis://127.0.0.1:6379/0", _text,
                            "broker and result store (`rediss://`, `sentinel://` too)")
    redis_timeout: float = _redis("OTPQ_REDIS_TIMEOUT", 5.0, _number(0.1),
                                  "the producer's wait for Redis before it reports it unreachable")
    #: TLS to Redis (`rediss://` URLs). URL query parameters (`ssl_ca_certs=...`) win.
    redis_ca_certs: str | None = _redis("OTPQ_REDIS_CA_CERTS", None, _text,
                                        "CA bundle that verifies Redis's certificate")
    redis_certfile: str | None = _redis("OTPQ_REDIS_CERTFILE", None, _text,
                                        "client certificate for TLS to Redis")
    redis_keyfile: str | None = _redis("OTPQ_REDIS_KEYFILE", None, _text,
                                       "its private key")
    sentinel_master: str | None = _redis("OTPQ_SENTINEL_MASTER", None, _text,
                                         "the master's name when REDIS_URL is `sentinel://`")
    sentinel_password: str | None = _redis("OTPQ_SENTINEL_PASSWORD", None, _text,
                                           "the sentinels' own `requirepass` (the master's is "
                                           "in the URL)")
    sentinel_tls: bool = _redis("OTPQ_SENTINEL_TLS", False, _flag,
                                "`1`: TLS to the sentinels and the nodes they name, verified "
                                "with OTPQ_REDIS_CA_CERTS")

    # -- Backends and AWS
    backend: str = _backend_aws("OTPQ_BACKEND", BACKENDS[0], _backend,
                                "where new sends go (`pinpoint` or `notify`); a verify goes to "
                                "the backend that sent its code")
    application_id: str | None = _backend_aws("PINPOINT_APPLICATION_ID", None, _text,
                                              "the Pinpoint project")
    origination_identity: str | None = _backend_aws(
        ("PINPOINT_ORIGINATION_IDENTITY", "OTPQ_ORIGINATION_IDENTITY"), None, _text,
        "default sending identity on both backends (OTPQ_ name: the backend-neutral alias)")
    notify_configuration: str | None = _backend_aws("OTPQ_NOTIFY_CONFIGURATION", None, _text,
                                                    "the Notify code configuration's id or ARN")
    region: str | None = _backend_aws(("AWS_REGION", "AWS_DEFAULT_REGION"), None, _text,
                                      "AWS region (unset: the backend's default, us-east-1)")
    #: botocore socket timeouts: a call without them can hold a worker slot forever.
    connect_timeout: float = _backend_aws("OTPQ_CONNECT_TIMEOUT", 2.0, _number(),
                                          "botocore connect timeout")
    read_timeout: float = _backend_aws("OTPQ_READ_TIMEOUT", 5.0, _number(),
                                       "botocore read timeout")

    # -- Rates and lanes
    send_rate: float = _rates("OTPQ_SEND_RATE", 20.0, _number(),
                              "fleet-wide send requests per second (Pinpoint's default quota "
                              "is 20; 0 = unlimited)")
    verify_rate: float = _rates("OTPQ_VERIFY_RATE", 20.0, _number(),
                                "fleet-wide verify requests per second (0 = unlimited)")
    origination_rates: Mapping[str, float] = _rates(
        "OTPQ_ORIGINATION_RATES", {}, _rate_map,
        "`+18005550100=3, 12345=100`: each sending identity's own ceiling")
    country_rates: Mapping[str, float] = _rates(
        "OTPQ_COUNTRY_RATES", {}, _rate_map,
        "`US=10, 44=5`: per destination country (region or calling codes)")
    bulk_reserve: float = _rates("OTPQ_BULK_RESERVE", 0.3, _number(),
                                 "share of each bucket's burst bulk work leaves to interactive")
    max_capacity_wait: float = _rates("OTPQ_MAX_CAPACITY_WAIT", 10.0, _number(),
                                      "longest an interactive job sleeps in its slot for a "
                                      "token before it is rescheduled")

    # -- Retries, deadlines and results
    max_attempts: int = _retries("OTPQ_MAX_ATTEMPTS", 5, _count(1),
                                 "attempts at a transient failure before `gave up`, the first "
                                 "included")
    #: Full-jitter backoff: the n-th retry waits uniform(0, min(cap, base * 2**n)).
    retry_base: float = _retries("OTPQ_RETRY_BASE", 0.5, _number(), "backoff base, seconds")
    retry_cap: float = _retries("OTPQ_RETRY_CAP", 15.0, _number(), "backoff cap, seconds")
    #: Every retry delay and run time stays well under it (`check`), else a live job would
    #: be delivered twice.
    visibility_timeout: float = _retries("OTPQ_VISIBILITY_TIMEOUT", 60, _number(10),
                                         "a job held by a dead worker returns to the queue "
                                         "after this")
    #: A job not started by then is not sent: an SMS that arrives after the user gave up
    #: is worse than none.
    interactive_deadline: float = _retries("OTPQ_INTERACTIVE_DEADLINE", 120, _number(1),
                                           "seconds after enqueue an interactive job may "
                                           "still be sent")
    bulk_deadline: float = _retries("OTPQ_BULK_DEADLINE", 6 * 3600, _number(1),
                                    "seconds after enqueue a bulk job may still be sent")
    result_ttl: float = _retries("OTPQ_RESULT_TTL", 24 * 3600, _number(60),
                                 "how long results stay pollable")

    # -- Abuse limits
    destination_sends: tuple[tuple[int, float], ...] = _abuse(
        "OTPQ_DESTINATION_SENDS", parse_budgets("5/900,10/86400"), _budgets,
        "sends per destination per window, LIMIT/SECONDS,... (`0` or `off`: none)",
        shown="5/900,10/86400")
    #: A fresh code sent to them clears the count, so a stranger's guesses cost the real
    #: user one resend, not a day; the window outlives the longest code (60 min).
    verify_failures: tuple[tuple[int, float], ...] = _abuse(
        "OTPQ_VERIFY_FAILURES", parse_budgets("5/3600"), _budgets,
        "wrong codes per destination and reference before `locked`", shown="5/3600")
    verify_backoff: float = _abuse("OTPQ_VERIFY_BACKOFF", 1.0, _number(),
                                   "after the second wrong code, seconds between verifies, "
                                   "doubling (0 = off)")
    allowed_countries: frozenset[str] = _abuse("OTPQ_ALLOWED_COUNTRIES", frozenset(), _countries,
                                               "region codes (`US,CA`) sends may go to")
    denied_countries: frozenset[str] = _abuse("OTPQ_DENIED_COUNTRIES", frozenset(), _countries,
                                              "region codes sends may not go to")
    resend_cooldown: float = _abuse("OTPQ_RESEND_COOLDOWN", 30.0, _number(),
                                    "a repeat send for a destination and reference within "
                                    "this returns the first job (0 = off)")
    idempotency_ttl: float = _abuse("OTPQ_IDEMPOTENCY_TTL", 24 * 3600, _number(1),
                                    "how long an idempotency key returns its first job id")

    # -- Secrets
    otp_keys: tuple[str, ...] = _secrets("OTPQ_OTP_KEYS", (), _fernet_keys,
                                         "Fernet keys: the first seals OTPs in messages, all "
                                         "of them open (rotation)")
    allow_plaintext_otp: bool = _secrets("OTPQ_ALLOW_PLAINTEXT_OTP", False, _flag,
                                         "`1`: let `OtpClient.verify` queue codes unsealed when "
                                         "OTPQ_OTP_KEYS is unset (else it raises ConfigError)")
    hash_key: str | None = _secrets("OTPQ_HASH_KEY", None, _secret(HASH_KEY_MIN),
                                    f"HMAC secret (at least {HASH_KEY_MIN} characters) that "
                                    "turns numbers into Redis key names",
                                    shown="a secret created in Redis")

    # -- Campaigns
    daily_send_cap: int | None = _campaigns("OTPQ_DAILY_SEND_CAP", None, _whole,
                                            "fleet-wide sends per UTC day campaigns may bring "
                                            "the day's total to (checked when one starts)")
    campaign_ttl: float = _campaigns("OTPQ_CAMPAIGN_TTL", 7 * 24 * 3600, _number(3600),
                                     "how long a campaign's rows, counts and reference ids "
                                     "stay after its last start (answers arrive over days)")

    # -- Worker process
    ready_file: str | None = _worker("OTPQ_READY_FILE", None, _text,
                                     "created once the worker consumes, removed on shutdown "
                                     "(readiness probe)")
    metrics_port: int | None = _worker("OTPQ_METRICS_PORT", None, _port,
                                       "port of the worker's Prometheus endpoint (unset: off)",
                                       shown="off")
    metrics_addr: str = _worker("OTPQ_METRICS_ADDR", "127.0.0.1", _ip_address,
                                "the IP address it listens on (no authentication: `0.0.0.0` "
                                "opens it to every interface)")
    interactive_slots: int | None = _worker("OTPQ_INTERACTIVE_SLOTS", None, _whole,
                                            "slots a worker serving both lanes never gives "
                                            "to bulk jobs (0: none)",
                                            shown="a quarter of `-c`, at least 1")
    batch_concurrency: int = _worker("OTPQ_BATCH_CONCURRENCY", 32, _count(1),
                                     "rows of `otp.send_batch` messages in flight per worker "
                                     "process (one thread pool)")
    # fmt: on

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = cls(**{f.name: f.metadata["setting"].read(env) for f in _fields()})
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that would make Redis deliver a live job twice."""
        if self.redis_url.lower().startswith("sentinel://") and not self.sentinel_master:
            raise ConfigError(
                "OTPQ_SENTINEL_MASTER must name the master when REDIS_URL is sentinel://"
            )
        if not 0 <= self.bulk_reserve < 1:
            raise ConfigError("OTPQ_BULK_RESERVE must be from 0 up to (not including) 1")
        longest_hold = (
            max(self.retry_cap, self.max_capacity_wait) + self.connect_timeout + self.read_timeout
        )
        if longest_hold * 2 > self.visibility_timeout:
            raise ConfigError(
                "OTPQ_VISIBILITY_TIMEOUT must be at least twice the longest a job is held "
                "(OTPQ_RETRY_CAP or OTPQ_MAX_CAPACITY_WAIT, plus OTPQ_CONNECT_TIMEOUT and "
                "OTPQ_READ_TIMEOUT), or a job held by a live worker is delivered again"
            )


def _fields() -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(Settings)


def declared() -> dict[str, Setting]:
    """Every `Settings` attribute's declaration, in declaration order (grouped)."""
    return {f.name: f.metadata["setting"] for f in _fields()}


def variables() -> set[str]:
    """Every environment variable otpq reads: the settings' and the launcher's."""
    return {name for s in declared().values() for name in s.env} | set(LAUNCHER_VARIABLES)


def table() -> str:
    """docs/settings.md's tables, one per concern, built from the declarations."""
    groups: dict[str, list[Setting]] = {}
    for setting in declared().values():
        groups.setdefault(setting.group, []).append(setting)
    lines: list[str] = []
    for group, settings in groups.items():
        lines += [f"## {group}", "", "| variable | default | meaning |", "|---|---|---|"]
        for s in settings:
            names = " / ".join(f"`{n}`" for n in s.env)
            lines.append(f"| {names} | {_cell(s.shown_default())} | {s.doc} |")
        lines.append("")
    lines += ["## Local stack (`otpq up`, not `Settings`)", "", "| variable | meaning |",
              "|---|---|"]  # fmt: skip
    lines += [f"| `{name}` | {doc} |" for name, doc in LAUNCHER_VARIABLES.items()]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text if text in ("—", "off") or " " in text else f"`{text}`"


if __name__ == "__main__":
    print(table(), end="")
