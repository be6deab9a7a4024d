"""The sandbox's small public face and helpers."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError

import sandbox
from sandbox import PinpointSandbox
from sandbox.masking import mask_destination
from tests.sandbox.calls import make_client, send


def test_public_names_are_exactly_these() -> None:
    assert sorted(sandbox.__all__) == ["PinpointSandbox", "SandboxControl", "SandboxControlError"]


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+15550123442", "+1********42"),
        ("+447700900123", "+44********23"),
        ("+353861234567", "+353*******67"),
        ("+4915", "+****"),
    ],
)
def test_destinations_are_masked_keeping_country_code_and_last_two(
    number: str, masked: str
) -> None:
    assert mask_destination(number) == masked


def test_sandbox_binds_loopback_by_default_and_stops() -> None:
    with PinpointSandbox(app_ids=["one-off"]) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        client = make_client(server.url)
        assert send(client, app_id="one-off")["DeliveryStatus"] == "SUCCESSFUL"
        assert [m.code for m in server.state.outbox.messages()] != []

    with pytest.raises(RuntimeError):
        _ = server.url
    with pytest.raises(EndpointConnectionError):
        send(client, app_id="one-off")
    client.close()
