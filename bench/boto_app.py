"""A second baseline: raw Celery whose task only calls SendOTPMessage through boto3.

Same broker, backend and pool as bench/noop_app.py; one client per process with
boto3's defaults (but no botocore retries, and a connection pool as large as the
worker's concurrency, BENCH_POOL_CONNECTIONS); no limiter, claim, deadline, redaction
or events. The gap between this and otpq is what otpq's own features cost.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from bench.noop_app import app
from bench.stack import send_otp_parameters

_client = boto3.client(
    "pinpoint",
    region_name="us-east-1",
    config=Config(
        retries={"total_max_attempts": 1},
        max_pool_connections=int(os.environ.get("BENCH_POOL_CONNECTIONS", "64")),
    ),
)


@app.task(name="boto")
def boto(destination: str) -> dict[str, Any]:
    response = _client.send_otp_message(
        ApplicationId=os.environ["PINPOINT_APPLICATION_ID"],
        SendOTPMessageRequestParameters=send_otp_parameters(destination, "bench"),
    )
    entry = response["MessageResponse"]["Result"][destination]
    return {"message_id": entry.get("MessageId"), "delivery_status": entry["DeliveryStatus"]}
