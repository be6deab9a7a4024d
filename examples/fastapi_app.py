"""An asyncio web backend that sends and verifies codes through otpq (FastAPI).

    pip install -e '.[examples]' uvicorn
    otpq up                                   # another shell: Redis, sandbox, worker
    uvicorn examples.fastapi_app:app          # finds that stack; or set REDIS_URL etc.

    curl -H 'content-type: application/json' -d '{"phone": "+14255550142"}' \
         localhost:8000/otp/send
    curl -H 'content-type: application/json' -d '{"phone": "+14255550142", "code": "123456"}' \
         localhost:8000/otp/verify

`AsyncOtpClient` never blocks the event loop: a send is one Redis push, and waiting for
the outcome polls its result with `await`. The worker, not this process, calls AWS.
Answers (`answer()`): bad input 422 naming otpq's field (`destination`, `otp`); too
many codes to one number (`limited`) or too many wrong guesses (`locked`) 429; Redis
down or the queue too slow (`expired`) 503; a verify with no outcome in time 504; AWS
refusing (`rejected`, `gave_up`, ...) 502. A send not done within SEND_WAIT is
answered 202: it stays queued and the code still goes out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from producer import AsyncOtpClient, BrokerUnavailable, InvalidRequest, JobStatus, Settings

BRAND = "ExampleCorp"
SOURCE = "Login"
#: How long a send waits for the worker's outcome before answering 202 (still queued).
SEND_WAIT = 5.0
#: How long a verify waits for its answer: the user is looking at a spinner.
VERIFY_WAIT = 10.0
#: Refusals by policy: the caller should slow down, not retry at once.
TOO_MANY = {"limited", "locked"}


class SendBody(BaseModel):
    phone: str


class VerifyBody(BaseModel):
    phone: str
    code: str


def settings_from_env() -> Settings:
    """REDIS_URL, OTPQ_OTP_KEYS, ... from the environment; with REDIS_URL unset, those of
    a running `otpq up` (development), as the `otpq` command does."""
    from producer.cli import environment

    return Settings.from_env(environment())


def answer(status: JobStatus) -> tuple[int, dict[str, Any]]:
    """A finished or still-queued job as an HTTP status and a JSON body."""
    if status.state == "succeeded":
        result = status.result or {}
        if "valid" in result:
            return 200, {"valid": bool(result["valid"])}
        return 200, {"job_id": status.job_id, "delivery_status": result.get("delivery_status")}
    if status.state != "failed":
        return 202, {"job_id": status.job_id, "state": status.state}
    # `error` is safe to show: otpq masks numbers and never puts a code in it.
    body = {"error": status.reason, "message": status.error}
    if status.reason in TOO_MANY:
        return 429, body
    return (503 if status.reason == "expired" else 502), body


def invalid(exc: InvalidRequest) -> JSONResponse:
    """422 naming the field as otpq names it (`destination`, `otp`)."""
    body = {"error": "invalid", "field": exc.field, "message": str(exc)}
    return JSONResponse(body, status_code=422)


def create_app(otpq_settings: Settings | None = None) -> FastAPI:
    """The app; `otpq_settings` defaults to `settings_from_env()`, read at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One client per event loop: it holds an asyncio Redis connection pool.
        async with AsyncOtpClient(otpq_settings or settings_from_env()) as client:
            app.state.otp = client
            yield

    app = FastAPI(title="otpq example", lifespan=lifespan)

    @app.post("/otp/send")
    async def send(body: SendBody, request: Request) -> JSONResponse:
        otp: AsyncOtpClient = request.app.state.otp
        try:
            job_id = await otp.send(body.phone, BRAND, SOURCE)
            try:
                status = await otp.wait(job_id, timeout=SEND_WAIT)
            except TimeoutError:
                status = await otp.status(job_id)
        except InvalidRequest as exc:  # DestinationBlocked (a country not allowed) too
            return invalid(exc)
        except BrokerUnavailable:
            return JSONResponse({"error": "unavailable"}, status_code=503)
        code, payload = answer(status)
        return JSONResponse(payload, status_code=code)

    @app.post("/otp/verify")
    async def verify(body: VerifyBody, request: Request) -> JSONResponse:
        otp: AsyncOtpClient = request.app.state.otp
        try:
            job_id = await otp.verify(body.phone, body.code, BRAND, SOURCE)
            status = await otp.wait(job_id, timeout=VERIFY_WAIT)
        except InvalidRequest as exc:
            return invalid(exc)
        except BrokerUnavailable:
            return JSONResponse({"error": "unavailable"}, status_code=503)
        except TimeoutError:
            return JSONResponse({"error": "timeout", "job_id": job_id}, status_code=504)
        code, payload = answer(status)
        return JSONResponse(payload, status_code=code)

    return app


app = create_app()
