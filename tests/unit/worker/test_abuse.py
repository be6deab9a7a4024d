"""The worker's abuse checks on fakeredis: each refusal's reason, and no number in keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import fakeredis
import pytest

from otpq_core.countries import region_of
from otpq_core.keys import HASH_KEY_NAME, KeyHasher
from otpq_core.outcomes import (
    DestinationBlocked,
    DestinationLimited,
    DestinationLocked,
    InvalidRequest,
    OtpqError,
    ResendCooldown,
    reason_of,
)
from otpq_core.settings import ConfigError, Settings
from producer.requests import SendRequest, VerifyRequest
from tests.helpers import RedisClock
from worker.abuse import Abuse, AbuseUnavailable

pytest.importorskip(
    "lupa", reason="fakeredis runs Lua scripts only with lupa", exc_type=ImportError
)

US, CA, FR = "+14255550142", "+16135550123", "+33612345678"
BASE = Settings.from_env({"OTPQ_HASH_KEY": "unit-test-hash-key-0123456789"})


@pytest.fixture
def client() -> Iterator[fakeredis.FakeRedis]:
    conn = fakeredis.FakeRedis()
    yield conn
    conn.close()


def abuse(client: fakeredis.FakeRedis, **changes: object) -> Abuse:
    return Abuse(client, replace(BASE, **changes))  # type: ignore[arg-type]


def send(destination: str = US, ref: str | None = None) -> SendRequest:
    return SendRequest(destination, "ExampleCorp", "Login", reference_id=ref)


def verify(destination: str = US, ref: str | None = None) -> VerifyRequest:
    return VerifyRequest(destination, "123456", "ExampleCorp", "Login", reference_id=ref)


def refusal(call: object) -> OtpqError:
    with pytest.raises(OtpqError) as info:
        call()  # type: ignore[operator]
    assert reason_of(str(info.value)) == info.value.reason  # the text leads with it
    return info.value


def test_send_budget_limits_per_destination_only(client: fakeredis.FakeRedis) -> None:
    guard = abuse(client, destination_sends=((2, 900.0),), resend_cooldown=0)
    guard.admit_send(send(ref="a"), "j1")
    guard.admit_send(send(ref="b"), "j2")
    error = refusal(lambda: guard.admit_send(send(ref="c"), "j3"))
    assert isinstance(error, DestinationLimited)
    assert str(error).startswith("limited: at most 2 sends per 900s to this destination")
    guard.admit_send(send(CA), "j4")  # another destination has its own budget
    guard.admit_send(send(ref="a"), "j1")  # the holder of a slot is admitted again
    guard.refund_send(US, "j2")
    guard.admit_send(send(ref="c"), "j3")


def test_cooldown_names_the_first_job_and_spares_the_budget(client: fakeredis.FakeRedis) -> None:
    guard = abuse(client, destination_sends=((1, 900.0),), resend_cooldown=30.0)
    guard.admit_send(send(), "first")
    guard.admit_send(send(), "first")  # its own retry
    error = refusal(lambda: guard.admit_send(send(), "second"))
    assert isinstance(error, ResendCooldown)
    assert str(error).startswith("cooldown: job first sent a code")
    # Another reference is another code: no cooldown, but the budget (1) is used up.
    assert isinstance(
        refusal(lambda: guard.admit_send(send(ref="other"), "third")), DestinationLimited
    )


def test_cooldown_ends(client: fakeredis.FakeRedis, redis_clock: RedisClock) -> None:
    guard = abuse(client, destination_sends=(), resend_cooldown=30)
    guard.admit_send(send(), "first")
    redis_clock.advance(29)
    assert isinstance(refusal(lambda: guard.admit_send(send(), "second")), ResendCooldown)
    redis_clock.advance(2)
    guard.admit_send(send(), "third")


@pytest.mark.parametrize(
    ("allowed", "denied", "blocked", "passes"),
    [
        ({"US", "CA"}, set(), [FR], [US, CA]),
        (set(), {"FR"}, [FR], [US, CA]),
        ({"US", "FR"}, {"FR"}, [FR, CA], [US]),  # denied wins over allowed
        (set(), set(), [], [US, CA, FR]),
    ],
)
def test_countries(
    client: fakeredis.FakeRedis,
    allowed: set[str],
    denied: set[str],
    blocked: list[str],
    passes: list[str],
) -> None:
    guard = abuse(
        client,
        allowed_countries=frozenset(allowed),
        denied_countries=frozenset(denied),
        destination_sends=(),
        resend_cooldown=0,
    )
    for number in blocked:
        error = refusal(lambda n=number: guard.admit_send(send(n), "j"))
        assert isinstance(error, DestinationBlocked) and isinstance(error, InvalidRequest)
        assert error.field == "destination"
        assert str(error).startswith(f"blocked: destination: country {region_of(number)}")
        assert number not in str(error)
    for number in passes:
        guard.admit_send(send(number), "j")


def test_wrong_codes_lock_the_code_and_a_valid_code_clears(
    client: fakeredis.FakeRedis,
) -> None:
    guard = abuse(client, verify_failures=((3, 3600.0),), verify_backoff=0)
    for i in range(3):
        guard.admit_verify(verify(), f"v{i}")
        guard.verified(verify(), valid=False)
    error = refusal(lambda: guard.admit_verify(verify(), "v3"))
    assert isinstance(error, DestinationLocked)
    assert str(error).startswith(
        "locked: 3 wrong codes in 1 h for this destination and reference; a new code unlocks"
    )
    assert "wait 1 h" in str(error) or "wait 59 min" in str(error)
    guard.admit_verify(verify(CA), "other")  # per destination
    guard.admit_verify(verify(ref="other-reference"), "other")  # and per reference
    # A verify that verified nothing gives its slot back.
    guard.refund_verify(US, verify().ref_id, "v2")
    guard.admit_verify(verify(), "v4")
    guard.verified(verify(), valid=True)
    for i in range(3):
        guard.admit_verify(verify(), f"after{i}")


def test_parallel_guesses_cannot_overshoot(client: fakeredis.FakeRedis) -> None:
    """Slots are taken at admission, before Pinpoint answers."""
    guard = abuse(client, verify_failures=((5, 3600.0),), verify_backoff=0)
    admitted = 0
    for i in range(20):
        try:
            guard.admit_verify(verify(), f"g{i}")
            admitted += 1
        except DestinationLocked:
            pass
    assert admitted == 5


def test_guesses_past_the_second_back_off(client: fakeredis.FakeRedis) -> None:
    guard = abuse(client, verify_failures=((5, 3600.0),), verify_backoff=60.0)
    for i in range(2):
        guard.admit_verify(verify(), f"v{i}")
        guard.verified(verify(), valid=False)
    error = refusal(lambda: guard.admit_verify(verify(), "v2"))
    assert isinstance(error, DestinationLocked)
    assert str(error) in (
        "locked: wrong codes for this destination and reference; try again in 1 min",
        "locked: wrong codes for this destination and reference; try again in 59 s",
    )


def _code_sent(guard: Abuse, request: SendRequest) -> None:
    """What worker/sending.py does when a code went out: clear its wrong guesses."""
    pipe = guard.redis.pipeline()
    guard.code_sent_into(pipe, request)
    pipe.execute()


def test_an_attacker_is_stopped_and_the_user_verifies_with_a_fresh_code(
    client: fakeredis.FakeRedis,
) -> None:
    """The attack side: guesses are bounded per code. The user side: a fresh code can be
    verified right after, however many guesses came before."""
    guard = abuse(client, verify_failures=((5, 3600.0),), verify_backoff=0)
    admitted = 0
    for i in range(100):  # an attacker who knows the number guesses the user's code
        try:
            guard.admit_verify(verify(), f"attack{i}")
            guard.verified(verify(), valid=False)
            admitted += 1
        except DestinationLocked:
            pass
    assert admitted == 5  # bounded guesses per code
    refusal(lambda: guard.admit_verify(verify(), "user-old-code"))  # that code is spent
    _code_sent(guard, send())  # the user asks for a fresh code
    guard.admit_verify(verify(), "user-new-code")  # and verifies with it right away
    guard.verified(verify(), valid=True)


def test_off_switches_cost_no_slot(client: fakeredis.FakeRedis) -> None:
    guard = abuse(client, destination_sends=(), verify_failures=(), resend_cooldown=0)
    for i in range(50):
        guard.admit_send(send(), f"s{i}")
        guard.admit_verify(verify(), f"v{i}")
    assert [k for k in client.scan_iter("*") if k != HASH_KEY_NAME.encode()] == []


def test_no_number_in_any_key(client: fakeredis.FakeRedis) -> None:
    guard = abuse(
        client, destination_sends=((5, 900.0),), verify_failures=((5, 900.0),), resend_cooldown=30
    )
    numbers = [US, CA, "+12065550100"]
    for i, number in enumerate(numbers):
        guard.admit_send(send(number), f"s{i}")
        guard.admit_verify(verify(number), f"v{i}")
        guard.verified(verify(number), valid=False)
    keys = [k.decode() for k in client.scan_iter("*")]
    assert len(keys) == 3 * len(numbers)  # cooldown, sends, fails for each
    for key in keys:
        assert key.startswith(("otpq:cooldown:", "otpq:sends:", "otpq:fails:"))
        for number in numbers:
            assert number[1:] not in key and number[-7:] not in key


def test_keyed_hashing() -> None:
    one, two = KeyHasher(b"secret-one-0123456"), KeyHasher(b"secret-two-0123456")
    assert one.key("sends", US) == one.key("sends", US)
    assert one.key("sends", US) != two.key("sends", US)  # unguessable without the secret
    assert one.key("sends", US)[-32:] != one.key("fails", US)[-32:]  # purposes unlinkable
    assert one.key("cooldown", US, "ab") != one.key("cooldown", US + "a", "b")
    assert len(one.key("sends", US)) == len("otpq:sends:") + 32


def test_fallback_hash_secret_is_created_once_in_redis(client: fakeredis.FakeRedis) -> None:
    first = KeyHasher.resolve(client, None)
    second = KeyHasher.resolve(client, None)
    assert first.key("sends", US) == second.key("sends", US)
    assert client.get(HASH_KEY_NAME) is not None
    configured = KeyHasher.resolve(client, "configured-secret-123")
    assert configured.key("sends", US) != first.key("sends", US)


def test_short_hash_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="OTPQ_HASH_KEY"):
        Settings.from_env({"OTPQ_HASH_KEY": "short"})


def test_unknown_country_code_is_refused() -> None:
    with pytest.raises(ConfigError, match="OTPQ_DENIED_COUNTRIES: unknown region codes XX"):
        Settings.from_env({"OTPQ_DENIED_COUNTRIES": "fr, XX"})
    assert Settings.from_env({"OTPQ_ALLOWED_COUNTRIES": "us,ca"}).allowed_countries == {"US", "CA"}


def test_redis_trouble_is_unavailable_not_a_pass() -> None:
    server = fakeredis.FakeServer()
    server.connected = False  # every call raises ConnectionError
    guard = Abuse(fakeredis.FakeRedis(server=server), BASE)
    with pytest.raises(AbuseUnavailable):
        guard.admit_send(send(), "j")
    with pytest.raises(AbuseUnavailable):
        guard.admit_verify(verify(), "j")
    guard.refund_send(US, "j")  # bookkeeping after the outcome never raises
    guard.verified(verify(), valid=True)
