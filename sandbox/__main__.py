"""``python -m sandbox``; see ``sandbox.cli`` (``otpq sandbox`` runs the same)."""

from sandbox.cli import main

raise SystemExit(main(prog="python -m sandbox"))
