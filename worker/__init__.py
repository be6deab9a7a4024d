"""The otpq worker: `celery -A worker worker -Q otp.interactive,otp.bulk`."""

from worker import batch, tasks  # noqa: F401  (registers the tasks)
from worker.app import app

__all__ = ["app"]
