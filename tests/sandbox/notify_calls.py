"""Calls through a stock boto3 ``endusermessaging`` client, shared by the Notify tests."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from sandbox.notify_config import CodePolicy, NotifyConfiguration
from tests.sandbox.calls import PHONE

CONFIG_ID = "otpq-test"
BRAND = "ExampleCorp"
#: A configuration whose own policy differs from the service defaults in every member.
STRICT_ID = "strict"
STRICT = NotifyConfiguration(
    STRICT_ID,
    brand_name="Strict",
    policy=CodePolicy(code_type="ALPHA", code_length=8, validity_minutes=2, max_attempts=1),
    whatsapp_template="strict_auth",
    language="en-GB",
)
NOTIFY_CONFIGURATIONS = (NotifyConfiguration(CONFIG_ID, brand_name=BRAND), STRICT)
ORIGIN = "+15550000000"


def make_notify_client(url: str | None, **config: Any) -> Any:
    """A stock client as a worker would build one, minus retries."""
    return boto3.client(
        "endusermessaging",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, **config),
    )


def notify_send(
    client: Any,
    destination: str = PHONE,
    reference_id: str | None = "ref-1",
    channel: str = "TEXT",
    configuration: str | None = CONFIG_ID,
    **params: Any,
) -> dict[str, Any]:
    """SendNotifyCodeVerification; returns the parsed answer."""
    request: dict[str, Any] = {
        "channel": channel,
        "destinationIdentity": destination,
        "originationIdentity": ORIGIN,
        **params,
    }
    if configuration is not None:
        request["notifyCodeConfiguration"] = configuration
    if reference_id is not None:
        request["referenceId"] = reference_id
    return client.send_notify_code_verification(**request)


def notify_validate(
    client: Any, code: str, destination: str = PHONE, reference_id: str | None = "ref-1"
) -> str:
    """ValidateNotifyCodeVerification; returns ``status`` (VALID or INVALID)."""
    request = {"destinationIdentity": destination, "code": code}
    if reference_id is not None:
        request["referenceId"] = reference_id
    return client.validate_notify_code_verification(**request)["status"]


def other(code: str) -> str:
    """A code of the same length and alphabet that is certainly not ``code``."""
    shifted = []
    for c in code:
        if c.isdigit():
            shifted.append(str((int(c) + 1) % 10))
        else:
            shifted.append(chr((ord(c) - ord("A") + 1) % 26 + ord("A")))
    return "".join(shifted)
