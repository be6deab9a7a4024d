"""The otpq worker: `celery -A worker worker -Q otp.interactive,otp.bulk`."""

from worker import tasks  # noqa: F401  (registers otp.send and otp.verify)
from worker.app import app

__all__ = ["app"]
