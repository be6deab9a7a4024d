"""Redis commands from concurrent threads share round trips (group commit).

A worker process runs dozens of sends at once, and each makes the same few Redis
calls: the limiter's script, the abuse script, the pipeline that records an outcome.
Alone, a call costs about 70 µs of client CPU (socket, pool, parsing) and a round trip;
five calls in one pipeline cost about 20 µs each. So a thread that finds another
already talking to Redis queues its commands and waits; the thread talking sends
everything queued in one pipeline, hands each thread its own replies, and passes
the turn to the next waiting thread. Alone, a call goes out at once as before.

Each thread's commands stay together and in order, but they are not a transaction
(neither were the separate calls). A connection error fails every thread of that
round trip with it; each then retries as it would have alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import redis
from redis.client import Pipeline
from redis.commands.core import Script


class _Turn:
    __slots__ = ("build", "done", "error", "lead", "replies")

    def __init__(self, build: Callable[[Pipeline], None]) -> None:
        self.build = build
        #: Only a thread that waits needs one: a lock taken at once, released when its
        #: replies are in (or its turn to lead has come). Waiting on a plain lock is one
        #: C call; an Event's Condition costs a tenth of a send's own CPU at 128 threads.
        self.done: threading.Lock | None = None
        self.lead = False
        self.replies: list[Any] = []
        self.error: BaseException | None = None


class AutoPipeline:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._queue: list[_Turn] = []
        self._busy = False

    def run(self, build: Callable[[Pipeline], None]) -> list[Any]:
        """Queue the commands `build` adds to a pipeline; return their replies (a failed
        command's reply is its exception, as with ``execute(raise_on_error=False)``)."""
        turn = _Turn(build)
        with self._lock:
            self._queue.append(turn)
            lead = not self._busy
            self._busy = True
            if not lead:
                turn.done = threading.Lock()
                turn.done.acquire()
        if turn.done is not None:
            turn.done.acquire()
        if lead or turn.lead:
            self._take_turn()
        if turn.error is not None:
            raise _copy(turn.error)
        return turn.replies

    def script(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """A registered Lua script by EVALSHA in the shared round trip; loaded on its own
        if Redis does not know it (after a restart). Its error reply is raised."""
        (reply,) = self.run(lambda pipe: pipe.evalsha(script.sha, len(keys), *keys, *args))
        if isinstance(reply, redis.exceptions.NoScriptError):
            return script(keys=keys, args=args)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def _take_turn(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._send(batch)
        finally:
            with self._lock:
                if self._queue:
                    following = self._queue[0]  # a waiting thread: it has its lock
                    following.lead = True
                    assert following.done is not None
                    following.done.release()
                else:
                    self._busy = False
            for turn in batch:
                if turn.done is not None:
                    turn.done.release()

    def _send(self, batch: list[_Turn]) -> None:
        pipe = self.client.pipeline(transaction=False)
        spans = []
        for turn in batch:
            start = len(pipe.command_stack)
            try:
                turn.build(pipe)
            except Exception as exc:  # a caller's bug stays that caller's
                del pipe.command_stack[start:]
                turn.error = exc
            spans.append((start, len(pipe.command_stack)))
        try:
            replies = pipe.execute(raise_on_error=False) if pipe.command_stack else []
        except Exception as exc:
            for turn in batch:
                turn.error = turn.error or exc
            return
        for turn, (start, end) in zip(batch, spans, strict=True):
            turn.replies = replies[start:end]


def _copy(error: BaseException) -> BaseException:
    """Each waiting thread raises its own exception object (tracebacks are per raise)."""
    try:
        return error.__class__(*error.args)
    except Exception:
        return error
