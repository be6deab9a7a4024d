"""HTTP for the sandbox: one thread per connection, HTTP/1.1 keep-alive, JSON replies.

Both APIs share one port: their request URIs cannot collide (Pinpoint's are
``/v1/apps/{id}/otp`` and ``/v1/apps/{id}/verify-otp``, Notify's
``/v1/notify-code-verifications/send`` and ``.../validate``), so the path picks the
backend, and for a path neither serves, the signature's credential scope picks whose
"not found" to answer. ``AWS_ENDPOINT_URL_PINPOINT`` and
``AWS_ENDPOINT_URL_ENDUSERMESSAGING`` may both point here.

Keep-alive matters: botocore pools connections, and a server that closes after every
answer would hide pool bugs and make rate tests measure TCP setup. Every reply carries
Content-Length and every request body is read to its end, even ones we refuse, so the
connection stays usable.
"""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox import control_api, notify, pinpoint
from sandbox.control import SandboxControl
from sandbox.errors import PinpointError
from sandbox.notify_config import DEFAULT_NOTIFY_CONFIGURATIONS, NotifyConfiguration, configurations
from sandbox.notify_errors import NotifyError
from sandbox.outbox import Message
from sandbox.pinpoint import DEFAULT_APP_IDS
from sandbox.state import SandboxState
from sandbox.wire import Reply, error, new_request_id, notify_error

#: Larger request bodies are refused: Pinpoint 413 PayloadTooLargeException, Notify
#: ValidationException (its model declares no 413).
MAX_BODY_BYTES = 128 * 1024
#: Bodies up to this size are read and discarded to keep the connection; beyond, we close.
_DRAIN_LIMIT = 16 * 1024 * 1024
#: An idle keep-alive connection is closed after this many seconds.
IDLE_TIMEOUT_SECONDS = 120

_OPERATIONS = {"otp": pinpoint.SEND, "verify-otp": pinpoint.VERIFY}
_PINPOINT_PATH = re.compile(r"/v1/apps/(?P<app>[^/]+)/(?P<op>otp|verify-otp)/?")
_NOTIFY_OPERATIONS = {"send": notify.SEND, "validate": notify.VALIDATE}
_NOTIFY_PATH = re.compile(r"/v1/notify-code-verifications/(?P<op>send|validate)/?")
#: The service in a SigV4 ``Credential=key/date/region/service/aws4_request``.
_SIGNING_SERVICE = re.compile(r"Credential=[^/,]*/[^/,]*/[^/,]*/(?P<service>[^/,]+)/")
_NOTIFY_SIGNING_NAME = "end-user-messaging"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a worker fleet opening a hundred pooled
    # connections at once overflows it, and some requests die as "connection closed".
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        self.state = state
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up (a killed worker) is normal here, not a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def close_open_connections(self) -> None:
        """Hang up on idle keep-alive clients so ``stop`` leaves no thread behind."""
        with self.sockets_lock:
            for sock in self.open_sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "otpq-sandbox"
    timeout = IDLE_TIMEOUT_SECONDS
    # Headers and body go out in two writes; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms a request on Linux).
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)
        self.server.state.stats.connection_opened()

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the CLI prints deliveries, not access logs."""

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _answer(self) -> None:
        body = self._read_body()
        try:
            reply = self._route(body)
        except Exception:  # a sandbox bug must still look like its backend's 500
            traceback.print_exc(file=sys.stderr)
            if self._is_notify(urlsplit(self.path).path):
                failure = NotifyError("InternalServerException", "Sandbox internal error")
                reply = notify_error(failure, new_request_id())
            else:
                fault = PinpointError("InternalServerErrorException", "Sandbox internal error")
                reply = error(fault, new_request_id())
        self._write(reply)

    def _is_notify(self, path: str) -> bool:
        if _NOTIFY_PATH.fullmatch(path):
            return True
        scope = _SIGNING_SERVICE.search(self.headers.get("Authorization", ""))
        return scope is not None and scope["service"] == _NOTIFY_SIGNING_NAME

    def _route(self, body: bytes | None) -> Reply:
        url = urlsplit(self.path)
        state = self.server.state
        if url.path.startswith(control_api.PREFIX):
            query = parse_qs(url.query)
            return control_api.handle(state, self.command, url.path, query, body or b"")
        authorization = self.headers.get("Authorization", "")
        notify_match = _NOTIFY_PATH.fullmatch(url.path)
        if notify_match is not None:
            operation = _NOTIFY_OPERATIONS[notify_match["op"]]
            return notify.handle(state, operation, self.command, authorization, body)
        match = _PINPOINT_PATH.fullmatch(url.path)
        if match is None and self._is_notify(url.path):
            return notify.unknown_route(url.path)
        if match is None:
            failure = PinpointError("NotFoundException", f"No such resource: {url.path}")
            return error(failure, new_request_id())
        return pinpoint.handle(
            state,
            _OPERATIONS[match["op"]],
            unquote(match["app"]),
            self.command,
            authorization,
            body,
        )

    def _read_body(self) -> bytes | None:
        """The request body, or None if it was over ``MAX_BODY_BYTES`` (then discarded)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # chunked bodies: botocore never sends them
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return None
        if length <= MAX_BODY_BYTES:
            return self.rfile.read(length)
        if length > _DRAIN_LIMIT:
            self.close_connection = True
            return None
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)
        return None

    def _write(self, reply: Reply) -> None:
        data = reply.encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class PinpointSandbox:
    """A local, wire-compatible stand-in for Pinpoint's and Notify's OTP operations.

    ``PinpointSandbox().start()`` serves from a background thread; point a boto3
    ``pinpoint`` or ``endusermessaging`` client (or both) at ``.url``. ``.control`` steers
    it over HTTP; ``.state`` is the same data in-process. ``notify_configurations`` are
    ids (defaults, brand ``otpq``) or ``NotifyConfiguration`` objects.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        app_ids: Iterable[str] = DEFAULT_APP_IDS,
        on_message: Callable[[Message], None] | None = None,
        notify_configurations: Iterable[str | NotifyConfiguration] = DEFAULT_NOTIFY_CONFIGURATIONS,
    ) -> None:
        self.state = SandboxState(
            frozenset(app_ids), on_message, configurations(notify_configurations)
        )
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = _Server(self._address, self.state)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="otp-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = self._address[0]
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def control(self) -> SandboxControl:
        return SandboxControl(self.url)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
