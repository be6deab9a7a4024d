"""Calls through a stock boto3 Pinpoint client, shared by the sandbox tests."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

APP_ID = "otpq-sandbox"
OTHER_APP_ID = "other-app"
PHONE = "+15550123442"
OTHER_PHONE = "+447700900123"


def make_client(url: str, **config: Any) -> Any:
    """A stock client exactly as the worker builds one, minus retries."""
    return boto3.client(
        "pinpoint",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


def send(
    client: Any,
    destination: str = PHONE,
    reference_id: str = "ref-1",
    app_id: str = APP_ID,
    **params: Any,
) -> dict[str, Any]:
    """SendOTPMessage; returns this destination's MessageResult."""
    response = client.send_otp_message(
        ApplicationId=app_id,
        SendOTPMessageRequestParameters={
            "BrandName": "ExampleCorp",
            "Channel": "SMS",
            "DestinationIdentity": destination,
            "OriginationIdentity": "+15550000000",
            "ReferenceId": reference_id,
            **params,
        },
    )
    return response["MessageResponse"]["Result"][destination]


def verify(
    client: Any,
    otp: str,
    destination: str = PHONE,
    reference_id: str = "ref-1",
    app_id: str = APP_ID,
) -> bool:
    response = client.verify_otp_message(
        ApplicationId=app_id,
        VerifyOTPMessageRequestParameters={
            "DestinationIdentity": destination,
            "Otp": otp,
            "ReferenceId": reference_id,
        },
    )
    return response["VerificationResponse"]["Valid"]


def wrong(code: str) -> str:
    """A code of the same length that is certainly not ``code``."""
    return "".join(str((int(d) + 1) % 10) for d in code)
