"""Which backend sent the code for a (destination, reference id): a verify goes there.

Switching OTPQ_BACKEND on a running fleet must not turn a right code into
`valid: false`: a code Pinpoint sent can only be checked by Pinpoint, one Notify sent
only by Notify. Each successful send records its backend, in the same round trip as
its outcome, for as long as the code can live; a verify reads it and falls back to the
worker's current backend for a code otpq has no record of.

Key names carry a keyed digest of the number and reference (no number, no md5 of it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otpq_core.settings import BACKENDS

if TYPE_CHECKING:
    import redis

    from otpq_core.keys import KeyHasher
    from producer.requests import SendRequest, VerifyRequest
    from worker.autopipe import AutoPipeline

#: Key purpose inside the keyed digest (and the key name's middle part).
PURPOSE = "code-origin"
#: Kept this much longer than the code's validity: a verify enqueued in the code's last
#: second may run a little later.
MARGIN = 300


class CodeOrigins:
    def __init__(self, hasher: KeyHasher, autopipe: AutoPipeline) -> None:
        self.hasher = hasher
        self.autopipe = autopipe

    def key(self, destination: str, ref_id: str) -> str:
        return self.hasher.key(PURPOSE, destination, ref_id)

    def remember_into(
        self, pipe: redis.client.Pipeline, request: SendRequest, backend: str
    ) -> None:
        """Queue the record of a sent code on the pipeline recording its outcome."""
        ttl = request.validity_period * 60 + MARGIN
        pipe.set(self.key(request.destination, request.ref_id), backend, ex=ttl)

    def backend_for(self, request: VerifyRequest, default: str) -> str:
        """The backend that sent this code, else `default`. Raises redis errors."""
        key = self.key(request.destination, request.ref_id)
        (value,) = self.autopipe.run(lambda pipe: pipe.get(key))
        if isinstance(value, Exception):
            raise value
        name = value.decode() if isinstance(value, bytes) else value
        return name if name in BACKENDS else default
