"""The AWS region, resolved in one place for the gateways and the `otpq up` launcher."""

from __future__ import annotations

from collections.abc import Mapping

#: Region used when neither AWS_REGION nor AWS_DEFAULT_REGION is set.
FALLBACK_REGION = "us-east-1"


def configured_region(env: Mapping[str, str]) -> str | None:
    """AWS_REGION, else AWS_DEFAULT_REGION (boto3's order), else None."""
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None


def aws_region(region: str | None) -> str:
    """The region boto3 is given: the configured one, else the fallback (botocore
    itself would refuse to build a client without one)."""
    return region or FALLBACK_REGION
