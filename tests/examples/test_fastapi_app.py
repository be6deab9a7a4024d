"""examples/fastapi_app.py against a real worker and the sandbox, in one event loop:
httpx's ASGI transport calls the app in process (no server, no port), and the app's
own lifespan builds and closes its `AsyncOtpClient`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from examples.fastapi_app import create_app
from otpq_core.settings import Settings
from sandbox import SandboxControl

pytestmark = pytest.mark.integration

PHONE = "+12065550171"

Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]


@pytest.fixture
def run(otpq_settings: Settings) -> Callable[[Scenario], None]:
    """Run a scenario against the app, started and stopped as a server would."""

    def runner(scenario: Scenario) -> None:
        async def main() -> None:
            app = create_app(otpq_settings)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                    await scenario(http)

        asyncio.run(main())

    return runner


async def newest_code(pinpoint: SandboxControl) -> str:
    message = await asyncio.to_thread(pinpoint.wait_for_message, PHONE)
    return str(message["code"])


def wrong(code: str) -> str:
    return "1" * len(code) if code == "0" * len(code) else "0" * len(code)


def test_send_then_verify_with_the_code_from_the_outbox(
    run: Callable[[Scenario], None], pinpoint: SandboxControl
) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        sent = await http.post("/otp/send", json={"phone": PHONE})
        assert sent.status_code == 200, sent.text
        assert sent.json()["delivery_status"] == "SUCCESSFUL"
        code = await newest_code(pinpoint)
        bad = await http.post("/otp/verify", json={"phone": PHONE, "code": wrong(code)})
        assert (bad.status_code, bad.json()) == (200, {"valid": False})
        good = await http.post("/otp/verify", json={"phone": PHONE, "code": code})
        assert (good.status_code, good.json()) == (200, {"valid": True})

    run(scenario)


def test_a_formatted_number_is_422_naming_destination(
    run: Callable[[Scenario], None], pinpoint: SandboxControl
) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        answer = await http.post("/otp/send", json={"phone": "+1 (206) 555-0171"})
        assert answer.status_code == 422
        assert answer.json()["field"] == "destination"
        assert "drop the formatting" in answer.json()["message"]
        assert "2065550171" not in answer.text  # the number is shown masked only

    run(scenario)
    assert pinpoint.outbox() == []


def test_a_code_that_is_not_digits_is_422_naming_otp(run: Callable[[Scenario], None]) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        answer = await http.post("/otp/verify", json={"phone": PHONE, "code": "12ab56"})
        assert (answer.status_code, answer.json()["field"]) == (422, "otp")

    run(scenario)


def test_a_second_code_inside_the_budget_is_429_limited(
    run: Callable[[Scenario], None], pinpoint: SandboxControl
) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        assert (await http.post("/otp/send", json={"phone": PHONE})).status_code == 200
        again = await http.post("/otp/send", json={"phone": PHONE})
        assert (again.status_code, again.json()["error"]) == (429, "limited")

    run(scenario)
    assert len(pinpoint.outbox(destination=PHONE)) == 1


def test_guessing_is_429_locked(run: Callable[[Scenario], None], pinpoint: SandboxControl) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        assert (await http.post("/otp/send", json={"phone": PHONE})).status_code == 200
        code = await newest_code(pinpoint)
        for _ in range(2):
            guess = await http.post("/otp/verify", json={"phone": PHONE, "code": wrong(code)})
            assert guess.json() == {"valid": False}
        locked = await http.post("/otp/verify", json={"phone": PHONE, "code": code})
        assert (locked.status_code, locked.json()["error"]) == (429, "locked")

    run(scenario)
