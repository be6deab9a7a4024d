"""The producer's public face: a fixed export list, and no boto3 or worker behind it."""

import subprocess
import sys

import producer

EXPECTED = {
    "AsyncOtpClient",
    "BrokerUnavailable",
    "ConfigError",
    "Cancelled",
    "DestinationBlocked",
    "DestinationLimited",
    "DestinationLocked",
    "GaveUp",
    "InvalidRequest",
    "JobExpired",
    "JobStatus",
    "OtpClient",
    "OtpqError",
    "PinpointRejected",
    "ResendCooldown",
    "SendRequest",
    "Settings",
    "Uncertain",
    "VerifyRequest",
    "generate_ref_id",
}


def test_exports_are_exactly_the_public_api() -> None:
    assert set(producer.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(producer, name)


def test_producer_and_cli_never_import_boto3_or_the_worker() -> None:
    code = (
        "import sys, producer, producer.cli, otpq_local.up; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'worker')]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
