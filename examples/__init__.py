"""Web apps that send and verify through otpq: fastapi_app.py (async), flask_app.py (sync)."""
