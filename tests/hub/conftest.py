"""A real HTTP file server on 127.0.0.1 that misbehaves on demand, and small checkpoint payloads to serve."""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import numpy as np
import pytest

from picodet_cli.zoo import load_zoo

PIECE = 16 * 1024


@dataclass
class Request:
    """What the server saw and did for one GET."""

    path: str
    range: str | None
    if_range: str | None = None
    status: int = 0
    sent: int = 0  # body bytes written


@dataclass
class FileServer:
    """Serves `files` (URL path -> bytes) with Range support.

    Misbehaviour: `faults[path]` is a queue of one-shot faults consumed per request: "500", "hold" (send half
    the body, then wait for `release`), ("drop", n) (send n body bytes, then close), ("drop", n, new_body)
    (the same, then serve `new_body` from now on: the file changed upstream), or ("trickle", seconds) (one
    byte every `seconds`). `ignore_range` answers 200 with the whole file to Range requests; `extra_length`
    declares a Content-Length larger than the body. `etags` sends an ETag (derived from the bytes) and honours
    If-Range unless `ignore_if_range`; `redirects[path]` answers 302 to another path.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    faults: dict[str, list[object]] = field(default_factory=dict)
    ignore_range: bool = False
    extra_length: int = 0
    etags: bool = False
    ignore_if_range: bool = False
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    got_request: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    base: str = ""

    def url(self, path: str) -> str:
        return self.base + path

    def gets(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            req = Request(self.path, self.headers.get("Range"), self.headers.get("If-Range"))
            queue = state.faults.get(self.path) or []
            fault = queue.pop(0) if queue else None
            state.requests.append(req)
            state.got_request.set()
            if self.path in state.redirects:
                return self._plain(req, 302, b"", {"Location": state.redirects[self.path]})
            body = state.files.get(self.path)
            if body is None:
                return self._plain(req, 404, b"not found")
            if fault == "500":
                return self._plain(req, 500, b"try again")
            etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"' if state.etags else None
            start, status = 0, 200
            match = re.fullmatch(r"bytes=(\d+)-", req.range or "")
            stale = req.if_range is not None and req.if_range != etag and not state.ignore_if_range
            if match and not state.ignore_range and not stale:
                start, status = int(match[1]), 206
                if start >= len(body):
                    return self._plain(req, 416, b"", {"Content-Range": f"bytes */{len(body)}"})
            chunk = body[start:]
            req.status = status
            self.send_response(status)
            self.send_header("Content-Length", str(len(chunk) + state.extra_length))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            if etag:
                self.send_header("ETag", etag)
            self.end_headers()
            kind = fault[0] if isinstance(fault, tuple) else fault
            limit = fault[1] if kind == "drop" else len(chunk)
            hold_at = len(chunk) // 2 if kind == "hold" else None
            self._send_body(req, chunk[:limit], hold_at, fault[1] if kind == "trickle" else None)
            if kind == "drop" and len(fault) > 2:
                state.files[self.path] = fault[2]

        def _send_body(self, req: Request, data: bytes, hold_at: int | None, trickle: float | None) -> None:
            piece = 1 if trickle else PIECE
            try:
                for pos in range(0, len(data), piece):
                    if hold_at is not None and pos >= hold_at:
                        state.release.wait(timeout=60)
                        hold_at = None
                    if trickle and state.release.wait(timeout=trickle):
                        return
                    self.wfile.write(data[pos : pos + piece])
                    self.wfile.flush()
                    req.sent += len(data[pos : pos + piece])
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _plain(self, req: Request, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            req.status = status
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server() -> Iterator[FileServer]:
    state = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()


def state_dict_bytes(seed: int = 0, numel: int = 60_000, protocol: int = 4) -> bytes:
    """A small valid `.pdparams` payload (pickle of name -> float32 array), about 4 * numel bytes."""
    rng = np.random.default_rng(seed)
    state = {
        "backbone.conv.weight": rng.standard_normal((numel // 2,)).astype(np.float32).reshape(-1, 4),
        "head.bias": rng.standard_normal((numel - numel // 2,)).astype(np.float32),
    }
    buffer = io.BytesIO()
    pickle.dump(state, buffer, protocol=protocol)
    return buffer.getvalue()


@pytest.fixture
def make_payload() -> Callable[..., bytes]:
    return state_dict_bytes


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff in milliseconds so retry tests stay fast (also inherited by subprocesses)."""
    monkeypatch.setenv("PICODET_RETRY_DELAY", "0.01")


@pytest.fixture
def s416_path() -> str:
    """The URL path of s-416's weights, i.e. where a mirror must serve them."""
    return urlsplit(load_zoo().get("s-416").weights_url).path
