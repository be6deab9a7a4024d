"""A local, wire-compatible stand-in for Amazon Pinpoint's two OTP operations.

A stock boto3 client pointed at ``PinpointSandbox().start().url`` sends and verifies
codes; the "SMS" lands in an outbox that ``SandboxControl`` (or ``/_sandbox/outbox``)
reads, and faults can be injected to exercise retries and rate limits. Standard library
only. Never production: it binds to 127.0.0.1 and says SANDBOX when it starts.
"""

from sandbox.control import SandboxControl, SandboxControlError
from sandbox.server import PinpointSandbox

__all__ = ["PinpointSandbox", "SandboxControl", "SandboxControlError"]
