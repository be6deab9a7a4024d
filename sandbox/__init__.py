"""A local, wire-compatible stand-in for the OTP operations of Amazon Pinpoint and of
AWS End User Messaging Notify, both served on one port.

A stock boto3 ``pinpoint`` or ``endusermessaging`` client pointed at
``PinpointSandbox().start().url`` sends and verifies codes; the SMS, call or WhatsApp
message lands in an outbox that ``SandboxControl`` (or ``/_sandbox/outbox``) reads, and
faults can be injected to exercise retries and rate limits. Standard library only.
Never production: it binds to 127.0.0.1 and says SANDBOX when it starts.
"""

from sandbox.control import SandboxControl, SandboxControlError
from sandbox.server import PinpointSandbox

__all__ = ["PinpointSandbox", "SandboxControl", "SandboxControlError"]
