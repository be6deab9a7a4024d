"""A synchronous web backend that sends and verifies codes through otpq (Flask).

    pip install -e '.[examples]'
    otpq up                                   # another shell: Redis, sandbox, worker
    flask --app examples.flask_app run        # finds that stack; or set REDIS_URL etc.

    curl -H 'content-type: application/json' -d '{"phone": "+14255550142"}' \
         localhost:5000/otp/send
    curl -H 'content-type: application/json' -d '{"phone": "+14255550142", "code": "123456"}' \
         localhost:5000/otp/verify

The same two routes and answers as examples/fastapi_app.py, with the blocking
`OtpClient` (thread-safe: one per process, shared by every request thread). The same
code fits a Django view: build the client once at import, call it from the view.
Answers: bad input 422 naming otpq's field (`destination`, `otp`); `limited` and
`locked` 429; Redis down or `expired` 503; no verify answer in time 504; AWS
refusing 502; a send not done within SEND_WAIT 202 (it stays queued).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from producer import BrokerUnavailable, InvalidRequest, JobStatus, OtpClient, Settings

BRAND = "ExampleCorp"
SOURCE = "Login"
#: How long a send waits for the worker's outcome before answering 202 (still queued).
SEND_WAIT = 5.0
#: How long a verify waits for its answer: the user is looking at a spinner.
VERIFY_WAIT = 10.0
#: Refusals by policy: the caller should slow down, not retry at once.
TOO_MANY = {"limited", "locked"}


def settings_from_env() -> Settings:
    """REDIS_URL, OTPQ_OTP_KEYS, ... from the environment; with REDIS_URL unset, those of
    a running `otpq up` (development), as the `otpq` command does."""
    from producer.cli import environment

    return Settings.from_env(environment())


def answer(status: JobStatus) -> tuple[dict[str, Any], int]:
    """A finished or still-queued job as a JSON body and an HTTP status."""
    if status.state == "succeeded":
        result = status.result or {}
        if "valid" in result:
            return {"valid": bool(result["valid"])}, 200
        return {"job_id": status.job_id, "delivery_status": result.get("delivery_status")}, 200
    if status.state != "failed":
        return {"job_id": status.job_id, "state": status.state}, 202
    # `error` is safe to show: otpq masks numbers and never puts a code in it.
    body = {"error": status.reason, "message": status.error}
    if status.reason in TOO_MANY:
        return body, 429
    return body, (503 if status.reason == "expired" else 502)


def _otp() -> OtpClient:
    client: OtpClient = current_app.extensions["otpq"]
    return client


def _field(name: str) -> str:
    """A JSON string field of the request body, or "" (otpq then names what is missing)."""
    value = (request.get_json(silent=True) or {}).get(name)
    return value if isinstance(value, str) else ""


def create_app(otpq_settings: Settings | None = None) -> Flask:
    """The app factory `flask --app examples.flask_app` finds by itself."""
    app = Flask(__name__)
    app.extensions["otpq"] = OtpClient(otpq_settings or settings_from_env())

    @app.errorhandler(InvalidRequest)
    def invalid(exc: InvalidRequest) -> ResponseReturnValue:
        """422 naming the field as otpq names it (`destination`, `otp`)."""
        return jsonify(error="invalid", field=exc.field, message=str(exc)), 422

    @app.errorhandler(BrokerUnavailable)
    def unavailable(exc: BrokerUnavailable) -> ResponseReturnValue:
        return jsonify(error="unavailable"), 503

    @app.post("/otp/send")
    def send() -> ResponseReturnValue:
        otp = _otp()
        job_id = otp.send(_field("phone"), BRAND, SOURCE)
        try:
            status = otp.wait(job_id, timeout=SEND_WAIT)
        except TimeoutError:
            status = otp.status(job_id)
        return answer(status)

    @app.post("/otp/verify")
    def verify() -> ResponseReturnValue:
        otp = _otp()
        job_id = otp.verify(_field("phone"), _field("code"), BRAND, SOURCE)
        try:
            status = otp.wait(job_id, timeout=VERIFY_WAIT)
        except TimeoutError:
            return jsonify(error="timeout", job_id=job_id), 504
        return answer(status)

    return app
