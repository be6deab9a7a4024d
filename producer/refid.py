"""Reference ids, bit-for-bit the scheme of AWS's published Boto3 OTP example.

Pinpoint pairs a code with (destination, reference id); a verify must present the
same reference id as the send. Keeping AWS's scheme means codes sent by existing
code built on that example verify through otpq, and the other way round.
"""

from __future__ import annotations

import hashlib

from otpq_core.redaction import mask_digest, redact_text


def generate_ref_id(destination: str, brand_name: str, source: str) -> str:
    """md5 hex of brand + source + destination, exactly as the AWS example computes it.

    md5 is not used for security here: the value is a correlation key, and changing
    the hash would break interoperability with codes already in flight.
    """
    return hashlib.md5((brand_name + source + destination).encode()).hexdigest()


def shown_ref_id(reference_id: str | None, ref_id: str) -> str:
    """The reference id as results, logs, Flower and exports may show it: a caller's own
    id as given; the default md5 only masked (`46bb…`), because an unkeyed digest of
    brand + source + number is reversed to the number by trying every number. A caller's
    id that is itself a hex digest is masked too: code ported from AWS's example passes
    that same md5 explicitly."""
    if reference_id:
        return redact_text(reference_id)
    return mask_digest(ref_id)
