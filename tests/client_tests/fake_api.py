"""A tiny HTTP server that answers as Quorum's API would, for the client's unit tests: each route's answer is
set by the test, and every request is recorded (method, path, query, headers, body)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeApi:
    def __init__(self):
        self.routes: dict[tuple[str, str], list[tuple[int, object, dict]]] = {}
        self.requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def on(self, method: str, path: str, status: int = 200, body: object = None, headers: dict | None = None):
        """Answer ``method path`` (query left out) with this; several answers for one route are given in turn,
        the last one for every later request."""
        self.routes.setdefault((method, path), []).append((status, body, headers or {}))
        return self

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, method: str, path: str) -> tuple[int, object, dict]:
        answers = self.routes.get((method, path))
        if not answers:
            return 404, {"detail": "Not found."}, {}
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _read_body(self) -> tuple[bytes, list[int]]:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data, sizes = b"", []
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return data, sizes
                        data += self.rfile.read(size)
                        sizes.append(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length), []

            def _serve(self):
                parts = urlsplit(self.path)
                body, chunk_sizes = self._read_body()
                api.requests.append(
                    {
                        "method": self.command,
                        "path": parts.path,
                        "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                        "headers": dict(self.headers),
                        "body": body,
                        "chunks": chunk_sizes,
                    }
                )
                status, payload, headers = api._answer(self.command, parts.path)
                if callable(payload):
                    payload = payload(api.requests[-1])
                raw = (
                    b"" if payload is None else payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                )
                self.send_response(status)
                content_type = "text/csv" if isinstance(payload, bytes) else "application/json"
                self.send_header("Content-Type", headers.pop("Content-Type", content_type))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        return Handler
