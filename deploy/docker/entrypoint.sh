#!/bin/sh
# A container restarted by `restart: unless-stopped` keeps its filesystem: drop a ready
# file left by a killed worker so the healthcheck waits for the new one.
set -e
if [ -n "${OTPQ_READY_FILE:-}" ]; then rm -f "$OTPQ_READY_FILE"; fi
exec "$@"
