"""Every setting otpq reads, its environment variable and its default, in one place.

Durations are seconds everywhere. Names outside the `OTPQ_` prefix are the ones
their owners define (Redis URL, AWS's own variables); boto3's credential chain and
botocore's `AWS_ENDPOINT_URL_PINPOINT` are read by botocore itself, untouched.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

#: Where the broker and the result store live.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: The backends a worker can send codes through (OTPQ_BACKEND), the first the default.
BACKENDS = ("pinpoint", "notify")
DEFAULT_BACKEND = "pinpoint"
#: Fleet-wide SendOTPMessage requests per second (Pinpoint's default account quota is 20).
DEFAULT_SEND_RATE = 20.0
#: Fleet-wide VerifyOTPMessage requests per second.
DEFAULT_VERIFY_RATE = 20.0
#: How long results stay pollable.
DEFAULT_RESULT_TTL = 24 * 3600
#: Attempts at a transient failure before `gave up`, the first included.
DEFAULT_MAX_ATTEMPTS = 5
#: Full-jitter backoff: the n-th retry waits uniform(0, min(cap, base * 2**n)).
DEFAULT_RETRY_BASE = 0.5
DEFAULT_RETRY_CAP = 15.0
#: A job held by a dead worker goes back to the queue after this long. Every retry
#: delay and run time stays well under it, else a live job would be delivered twice.
DEFAULT_VISIBILITY_TIMEOUT = 60
#: botocore socket timeouts: a call without them can hold a worker slot forever.
DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_READ_TIMEOUT = 5.0
#: A job not started by then is not sent: an SMS that arrives after the user gave up
#: is worse than none.
DEFAULT_INTERACTIVE_DEADLINE = 120
DEFAULT_BULK_DEADLINE = 6 * 3600
#: The producer's wait for Redis before it reports it unreachable.
DEFAULT_REDIS_TIMEOUT = 5.0
#: Share of each bucket's burst that bulk work must leave for interactive work.
DEFAULT_BULK_RESERVE = 0.3
#: Longest an interactive job sleeps in its slot for a token before it is rescheduled.
DEFAULT_MAX_CAPACITY_WAIT = 10.0
#: How often each live worker sweeps Redis for jobs held by dead workers (kombu's
#: `unacked_restore_interval`, with its throttle set to 1 so this is the whole period).
#: A dead worker's job is back in a queue within visibility timeout + this.
DEFAULT_RESTORE_INTERVAL = 5.0
#: Port of the worker's own Prometheus endpoint (OTPQ_METRICS_PORT); None = not served.
DEFAULT_METRICS_PORT: int | None = None
#: Address it listens on (OTPQ_METRICS_ADDR): this host only, unless told otherwise. The
#: endpoint has no authentication; "0.0.0.0" or "::" open it to every interface.
DEFAULT_METRICS_ADDR = "127.0.0.1"

# -- abuse limits and secrets (docs/security.md) ----------------------------------
#: Sends per destination: at most 5 in 15 minutes and 10 a day ("LIMIT/SECONDS, ...").
DEFAULT_DESTINATION_SENDS = "5/900,10/86400"
#: Wrong codes per destination and reference before it is `locked`. A fresh code sent
#: to them clears the count, so a stranger's guesses cost the real user one resend, not
#: a day; the window outlives the longest code (60 min).
DEFAULT_VERIFY_FAILURES = "5/3600"
#: After the second wrong code, each verify of that destination and reference waits
#: this many seconds after the previous one, doubling each time (0 = no backoff).
DEFAULT_VERIFY_BACKOFF = 1.0
#: A second send for the same destination and reference within this many seconds
#: returns the first job instead of texting again (0 = off).
DEFAULT_RESEND_COOLDOWN = 30.0
#: How long an idempotency key keeps returning its first job id.
DEFAULT_IDEMPOTENCY_TTL = 24 * 3600
#: Shortest OTPQ_HASH_KEY accepted: a short secret makes phone-number hashes guessable.
HASH_KEY_MIN = 16
#: Fleet-wide sends per UTC day a campaign may bring the day's total to; None = no cap.
DEFAULT_DAILY_SEND_CAP: int | None = None
#: How long a campaign's rows, counts and reference ids stay in Redis after its last
#: start: users' answers arrive over days and still move its verified counts.
DEFAULT_CAMPAIGN_TTL = 7 * 24 * 3600

# -- batched bulk lane (docs/campaigns.md) ----------------------------------------
#: Rows of `otp.send_batch` messages in flight at once per worker process (a thread
#: pool shared by every batch the process runs; boto3 clients are thread-safe).
DEFAULT_BATCH_CONCURRENCY = 32
#: Most rows one `otp.send_batch` message may carry; a bigger batch is refused whole.
BATCH_MAX_ROWS = 200
#: Rows per `otp.send_batch` message a campaign start builds (1 = one `otp.send` per row).
DEFAULT_CAMPAIGN_BATCH_SIZE = 100


class ConfigError(ValueError):
    """A setting's value is unusable; the message names the variable."""


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw[:20]!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _port(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(f"{name} must be a TCP port from 1 to 65535, got {raw[:20]!r}")
    return int(raw)


def _ip_address(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise ConfigError(f"{name} must be an IP address, got {raw[:40]!r}") from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, got {raw[:20]!r}")


def _optional_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw[:20]!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must be at least 0")
    return value


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


def _budgets(env: Mapping[str, str], name: str, default: str) -> tuple[tuple[int, float], ...]:
    raw = env.get(name)
    try:
        return parse_budgets(default if raw is None or not raw.strip() else raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _countries(env: Mapping[str, str], name: str) -> frozenset[str]:
    import phonenumbers

    codes = frozenset(c.strip().upper() for c in (env.get(name) or "").split(",") if c.strip())
    unknown = sorted(codes - phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise ConfigError(f"{name}: unknown region codes {', '.join(unknown)} (use US, GB, ...)")
    return codes


def _fernet_keys(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated Fernet keys (url-safe base64 of 32 bytes); never echoed back."""
    keys = tuple(k.strip() for k in (env.get(name) or "").split(",") if k.strip())
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


def _backend(env: Mapping[str, str]) -> str:
    value = (env.get("OTPQ_BACKEND") or DEFAULT_BACKEND).strip().lower()
    if value not in BACKENDS:
        raise ConfigError(f"OTPQ_BACKEND must be one of {', '.join(BACKENDS)}, not {value!r}")
    return value


def _secret(env: Mapping[str, str], name: str, min_len: int) -> str | None:
    value = (env.get(name) or "").strip()
    if value and len(value) < min_len:
        raise ConfigError(f"{name} must be at least {min_len} characters")
    return value or None


def _rate_map(env: Mapping[str, str], name: str) -> dict[str, float]:
    try:
        return parse_rate_map(env.get(name) or "")
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class Settings:
    redis_url: str = DEFAULT_REDIS_URL
    #: OTPQ_BACKEND: where new sends go ("pinpoint" | "notify"); a verify goes to the
    #: backend that sent its code.
    backend: str = DEFAULT_BACKEND
    application_id: str | None = None
    #: PINPOINT_ORIGINATION_IDENTITY (or its backend-neutral alias
    #: OTPQ_ORIGINATION_IDENTITY): the sending identity on both backends.
    origination_identity: str | None = None
    #: OTPQ_NOTIFY_CONFIGURATION: the Notify code configuration's id or ARN.
    notify_configuration: str | None = None
    region: str | None = None
    send_rate: float = DEFAULT_SEND_RATE
    verify_rate: float = DEFAULT_VERIFY_RATE
    result_ttl: float = DEFAULT_RESULT_TTL
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_base: float = DEFAULT_RETRY_BASE
    retry_cap: float = DEFAULT_RETRY_CAP
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    interactive_deadline: float = DEFAULT_INTERACTIVE_DEADLINE
    bulk_deadline: float = DEFAULT_BULK_DEADLINE
    redis_timeout: float = DEFAULT_REDIS_TIMEOUT
    #: OTPQ_ORIGINATION_RATES, "identity=rate, ...": each sending number's own ceiling.
    origination_rates: Mapping[str, float] = field(default_factory=dict)
    #: OTPQ_COUNTRY_RATES, "US=10, GB=5" (region codes or calling codes like 44).
    country_rates: Mapping[str, float] = field(default_factory=dict)
    bulk_reserve: float = DEFAULT_BULK_RESERVE
    #: OTPQ_READY_FILE: the worker creates it once consuming, removes it on shutdown.
    ready_file: str | None = None
    max_capacity_wait: float = DEFAULT_MAX_CAPACITY_WAIT
    #: TLS to Redis (`rediss://` URLs): CA bundle, client certificate and key. URL query
    #: parameters (`ssl_ca_certs=...`) take precedence.
    redis_ca_certs: str | None = None
    redis_certfile: str | None = None
    redis_keyfile: str | None = None
    #: OTPQ_SENTINEL_MASTER: the master's name when REDIS_URL is `sentinel://` (docs/redis.md).
    sentinel_master: str | None = None
    #: OTPQ_SENTINEL_PASSWORD: the sentinels' own `requirepass` (the master's is in the URL).
    sentinel_password: str | None = None
    #: OTPQ_SENTINEL_TLS: TLS to the sentinels and the nodes they name, verified with
    #: OTPQ_REDIS_CA_CERTS (`sentinel://` has no TLS variant of its own).
    sentinel_tls: bool = False
    #: OTPQ_OTP_KEYS: Fernet keys; the first seals OTPs in messages, all of them open.
    otp_keys: tuple[str, ...] = ()
    #: OTPQ_ALLOW_PLAINTEXT_OTP=1: let `OtpClient.verify` queue codes unsealed when
    #: OTPQ_OTP_KEYS is unset (a local experiment); otherwise it refuses (ConfigError).
    allow_plaintext_otp: bool = False
    #: OTPQ_HASH_KEY: HMAC secret that turns numbers into Redis key names.
    hash_key: str | None = None
    #: OTPQ_DESTINATION_SENDS: ((limit, seconds), ...) per destination.
    destination_sends: tuple[tuple[int, float], ...] = parse_budgets(DEFAULT_DESTINATION_SENDS)
    #: OTPQ_VERIFY_FAILURES: ((limit, seconds), ...) wrong codes per destination and
    #: reference, cleared by a fresh code.
    verify_failures: tuple[tuple[int, float], ...] = parse_budgets(DEFAULT_VERIFY_FAILURES)
    #: OTPQ_VERIFY_BACKOFF: first wait (s) between wrong codes, doubling (0 = off).
    verify_backoff: float = DEFAULT_VERIFY_BACKOFF
    #: OTPQ_ALLOWED_COUNTRIES / OTPQ_DENIED_COUNTRIES: region codes (US, CA, ...).
    allowed_countries: frozenset[str] = frozenset()
    denied_countries: frozenset[str] = frozenset()
    resend_cooldown: float = DEFAULT_RESEND_COOLDOWN
    idempotency_ttl: float = DEFAULT_IDEMPOTENCY_TTL
    #: OTPQ_METRICS_PORT: where each worker serves otpq's Prometheus metrics (unset = off).
    metrics_port: int | None = DEFAULT_METRICS_PORT
    #: OTPQ_METRICS_ADDR: the IP address that endpoint listens on.
    metrics_addr: str = DEFAULT_METRICS_ADDR
    #: OTPQ_DAILY_SEND_CAP: checked (and reserved) when a campaign starts.
    daily_send_cap: int | None = DEFAULT_DAILY_SEND_CAP
    campaign_ttl: float = DEFAULT_CAMPAIGN_TTL
    #: OTPQ_BATCH_CONCURRENCY: rows of bulk batches in flight per worker process.
    batch_concurrency: int = DEFAULT_BATCH_CONCURRENCY

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            redis_url=env.get("REDIS_URL") or DEFAULT_REDIS_URL,
            backend=_backend(env),
            application_id=env.get("PINPOINT_APPLICATION_ID") or None,
            origination_identity=(
                env.get("PINPOINT_ORIGINATION_IDENTITY")
                or env.get("OTPQ_ORIGINATION_IDENTITY")
                or None
            ),
            notify_configuration=env.get("OTPQ_NOTIFY_CONFIGURATION") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            send_rate=_number(env, "OTPQ_SEND_RATE", DEFAULT_SEND_RATE),
            verify_rate=_number(env, "OTPQ_VERIFY_RATE", DEFAULT_VERIFY_RATE),
            result_ttl=_number(env, "OTPQ_RESULT_TTL", DEFAULT_RESULT_TTL, minimum=60),
            max_attempts=int(_number(env, "OTPQ_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, minimum=1)),
            retry_base=_number(env, "OTPQ_RETRY_BASE", DEFAULT_RETRY_BASE),
            retry_cap=_number(env, "OTPQ_RETRY_CAP", DEFAULT_RETRY_CAP),
            visibility_timeout=_number(
                env, "OTPQ_VISIBILITY_TIMEOUT", DEFAULT_VISIBILITY_TIMEOUT, minimum=10
            ),
            connect_timeout=_number(env, "OTPQ_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT),
            read_timeout=_number(env, "OTPQ_READ_TIMEOUT", DEFAULT_READ_TIMEOUT),
            interactive_deadline=_number(
                env, "OTPQ_INTERACTIVE_DEADLINE", DEFAULT_INTERACTIVE_DEADLINE, minimum=1
            ),
            bulk_deadline=_number(env, "OTPQ_BULK_DEADLINE", DEFAULT_BULK_DEADLINE, minimum=1),
            redis_timeout=_number(env, "OTPQ_REDIS_TIMEOUT", DEFAULT_REDIS_TIMEOUT, minimum=0.1),
            origination_rates=_rate_map(env, "OTPQ_ORIGINATION_RATES"),
            country_rates=_rate_map(env, "OTPQ_COUNTRY_RATES"),
            bulk_reserve=_number(env, "OTPQ_BULK_RESERVE", DEFAULT_BULK_RESERVE),
            ready_file=env.get("OTPQ_READY_FILE") or None,
            max_capacity_wait=_number(env, "OTPQ_MAX_CAPACITY_WAIT", DEFAULT_MAX_CAPACITY_WAIT),
            redis_ca_certs=env.get("OTPQ_REDIS_CA_CERTS") or None,
            redis_certfile=env.get("OTPQ_REDIS_CERTFILE") or None,
            redis_keyfile=env.get("OTPQ_REDIS_KEYFILE") or None,
            sentinel_master=env.get("OTPQ_SENTINEL_MASTER") or None,
            sentinel_password=env.get("OTPQ_SENTINEL_PASSWORD") or None,
            sentinel_tls=_flag(env, "OTPQ_SENTINEL_TLS"),
            **_abuse_settings(env),
            metrics_port=_port(env, "OTPQ_METRICS_PORT", DEFAULT_METRICS_PORT),
            metrics_addr=_ip_address(env, "OTPQ_METRICS_ADDR", DEFAULT_METRICS_ADDR),
            daily_send_cap=_optional_int(env, "OTPQ_DAILY_SEND_CAP"),
            campaign_ttl=_number(env, "OTPQ_CAMPAIGN_TTL", DEFAULT_CAMPAIGN_TTL, minimum=3600),
            batch_concurrency=int(
                _number(env, "OTPQ_BATCH_CONCURRENCY", DEFAULT_BATCH_CONCURRENCY, minimum=1)
            ),
        )
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


def _abuse_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The secrets and abuse limits (docs/security.md), kept apart from the rest."""
    return {
        "otp_keys": _fernet_keys(env, "OTPQ_OTP_KEYS"),
        "allow_plaintext_otp": _flag(env, "OTPQ_ALLOW_PLAINTEXT_OTP"),
        "hash_key": _secret(env, "OTPQ_HASH_KEY", HASH_KEY_MIN),
        "destination_sends": _budgets(env, "OTPQ_DESTINATION_SENDS", DEFAULT_DESTINATION_SENDS),
        "verify_failures": _budgets(env, "OTPQ_VERIFY_FAILURES", DEFAULT_VERIFY_FAILURES),
        "verify_backoff": _number(env, "OTPQ_VERIFY_BACKOFF", DEFAULT_VERIFY_BACKOFF),
        "allowed_countries": _countries(env, "OTPQ_ALLOWED_COUNTRIES"),
        "denied_countries": _countries(env, "OTPQ_DENIED_COUNTRIES"),
        "resend_cooldown": _number(env, "OTPQ_RESEND_COOLDOWN", DEFAULT_RESEND_COOLDOWN),
        "idempotency_ttl": _number(env, "OTPQ_IDEMPOTENCY_TTL", DEFAULT_IDEMPOTENCY_TTL, minimum=1),
    }
