"""The otpq worker: `celery -A worker worker -Q otp.interactive,otp.bulk`."""

from worker import batch, campaign_hooks, tasks  # noqa: F401  (registers the tasks and hooks)
from worker.app import app

__all__ = ["app"]
