"""otpq's shared core: what the producer and the worker must agree on.

Settings, the wire contract (task names, lanes, headers), Redis key names and the keyed
hasher, a campaign's record layout (campaign_keys), canonical phone numbers, outcomes,
redaction, sealing, the Celery config and the status read. Imports celery, kombu, redis,
phonenumbers and cryptography; never `producer`, `worker` or boto3
(tests/unit/project/test_architecture.py).
"""
