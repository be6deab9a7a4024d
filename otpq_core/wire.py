"""Task names and queues: the names other codebases enqueue by.

Kept in one place so the worker's routes, the producer's sends and the test that
every declared queue has a consumer all read the same map.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otpq_core.settings import Settings

SEND_TASK = "otp.send"
VERIFY_TASK = "otp.verify"
#: otpq-internal: a chunk of `otp.send` rows in one message, on the bulk lane only
#: (campaigns). Each row keeps its own job id and result; not part of the public contract.
SEND_BATCH_TASK = "otp.send_batch"

#: Logins and sign-ups: a person is waiting for this SMS.
INTERACTIVE = "otp.interactive"
#: Campaigns: nobody is waiting; takes only the capacity interactive work leaves.
BULK = "otp.bulk"

QUEUES = (INTERACTIVE, BULK)
DEFAULT_QUEUE = INTERACTIVE
#: Celery's default queue, where a client that enqueues by name without `queue=`
#: publishes (celery-node's default). A worker that serves the interactive lane consumes
#: it too and runs its jobs as interactive (worker/routing.py): nothing waits there.
UNROUTED = "celery"
#: Every queue an otpq job may wait in: the lanes, then Celery's default queue.
SERVED_QUEUES = (*QUEUES, UNROUTED)

#: Message header carrying the job's deadline (epoch seconds). A header, not a kwarg,
#: because the kwargs are the public contract and refuse unknown names.
DEADLINE_HEADER = "otpq_deadline"
#: Headers the worker carries across its own retries: Pinpoint calls made so far, and
#: how many of them failed transiently (the ones that count against the attempt budget;
#: waiting for capacity and 429s do not).
CALLS_HEADER = "otpq_calls"
FAILURES_HEADER = "otpq_failures"
#: Message header naming the bulk campaign a send belongs to: the worker reports the
#: row's outcome to that campaign and skips the send once the campaign is cancelled.
CAMPAIGN_HEADER = "otpq_campaign"


def default_deadline(queue: str, settings: Settings) -> float:
    """Seconds a job may wait to run when its caller gave no deadline: the bulk lane's
    (OTPQ_BULK_DEADLINE) or else the interactive one's (OTPQ_INTERACTIVE_DEADLINE). The
    producer resolves it when it publishes; the worker, for a job enqueued by name
    without the deadline header, from its first run."""
    return settings.bulk_deadline if queue == BULK else settings.interactive_deadline
