"""`otpq up`: Redis, the sandbox, a worker and Flower on one machine, for development.

Behind the `[local]` extra and imported lazily by the CLI: a web backend that imports
`producer` loads none of it (tests/unit/project/test_architecture.py).
"""
