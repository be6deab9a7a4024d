"""Deterministic ids: the same campaign started twice is the same campaign, and the same
number in it is the same job.

A double click, a crash half way or a duplicate line all produce the same job id for a
number, so the campaign's row record skips it and the worker's send claim (keyed by job
id) would refuse a second text even if a message slipped through twice.

A row's id is shown everywhere (results, Flower, logs, exports), so it must not be a
digest anyone can recompute from a candidate number (a uuid5 of the campaign id and the
number is reversed by trying every number): it comes from the keyed digest under
OTPQ_HASH_KEY (otpq_core/keys.py), the same on every producer and worker.
"""

from __future__ import annotations

import json
import uuid

from otpq_core.keys import KeyHasher

#: Fixed namespace for campaign ids (uuid5 of the brand, source and name).
CAMPAIGN_NAMESPACE = uuid.UUID("6f1d3c1e-8a53-5b0e-9a3c-0a7f0f0e2b51")


def campaign_id(brand_name: str, source: str, name: str = "") -> str:
    """The campaign's id: the same brand, source and name always give the same id."""
    return str(uuid.uuid5(CAMPAIGN_NAMESPACE, json.dumps([brand_name, source, name])))


def row_job_id(campaign: str, destination: str, hasher: KeyHasher) -> str:
    """The send job id of one number in one campaign: a UUID made of the HMAC of both."""
    digest = hasher.digest("campaign-row", campaign, destination)
    return str(uuid.UUID(hex=digest[:32], version=5))


def is_campaign_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
