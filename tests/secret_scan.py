"""A scan for secrets in bytes: full numbers (with and without their plus), OTP codes
and digests of the number (the default md5 reference id), also inside the base64
message bodies of kombu envelopes."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

_BODY = re.compile(rb'"body":\s*"([A-Za-z0-9+/=]{8,})"')


def token(secret: str) -> re.Pattern[bytes]:
    """A secret as it would leak: not part of a longer run of digits (timestamps)."""
    return re.compile(rb"(?<![0-9])" + re.escape(secret.encode()) + rb"(?![0-9])")


@dataclass
class Hit:
    where: str
    in_message_body: bool
    secret: str
    kind: str  # "number" | "otp" | "digest"
    context: bytes


@dataclass
class Scan:
    numbers: list[str]
    codes: list[str]
    #: Digests of a number (md5 reference ids): never anywhere, not even in part.
    digests: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    places: int = 0

    def patterns(self) -> Iterator[tuple[str, str, re.Pattern[bytes]]]:
        for number in self.numbers:
            yield "number", number, token(number)
            yield "number", number, token(number[1:])
        for code in self.codes:
            yield "otp", code, token(code)
        for digest in self.digests:
            yield "digest", digest, re.compile(re.escape(digest[:12].encode()))

    def blob(self, where: str, data: bytes, *, in_body: bool = False, depth: int = 0) -> None:
        self.places += 1
        for kind, secret, pattern in self.patterns():
            for match in pattern.finditer(data):
                start = max(0, match.start() - 60)
                self.hits.append(Hit(where, in_body, secret, kind, data[start : match.end() + 60]))
        if depth < 3:  # kombu envelopes carry the task body base64-encoded
            for match in _BODY.finditer(data):
                try:
                    decoded = base64.b64decode(match.group(1), validate=True)
                except ValueError:
                    continue
                self.blob(f"{where} (message body)", decoded, in_body=True, depth=depth + 1)

    def redis(self, client: redis.Redis, label: str) -> None:
        for key in client.scan_iter(count=1000):
            self.blob(f"{label} key name", key)
            kind = client.type(key)
            name = f"{label} {key.decode(errors='replace')}"
            if kind == b"string":
                values = [client.get(key) or b""]
            elif kind == b"list":
                values = client.lrange(key, 0, -1)
            elif kind == b"hash":
                values = [b"%s=%s" % kv for kv in client.hgetall(key).items()]
            elif kind == b"set":
                values = list(client.smembers(key))
            elif kind == b"zset":
                values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
            else:
                values = [repr(client.dump(key)).encode()]
            for value in values:
                self.blob(name, value)

    def files(self, directory: Path, label: str) -> None:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                self.blob(f"{label} file {path.name}", path.read_bytes())

    def of(self, *, kind: str, in_body: bool) -> list[Hit]:
        return [h for h in self.hits if h.kind == kind and h.in_message_body == in_body]
