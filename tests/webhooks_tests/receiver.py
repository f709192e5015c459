"""A local HTTP receiver for webhook tests: records every request; answers as told (fail the first n, a status,
a redirect, slowly)."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict
    body: bytes

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Behaviour:
    fail_first: int = 0
    status: int = 200
    redirect_to: str = ""
    delay: float = 0.0
    seen: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Receiver:
    def __init__(self, **behaviour):
        self.behaviour = Behaviour(**behaviour)
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                b = receiver.behaviour
                with b.lock:
                    b.seen += 1
                    n = b.seen
                    receiver.received.append(Received(dict(self.headers), body))
                if b.delay:
                    time.sleep(b.delay)
                if n <= b.fail_first:
                    code = 500
                elif b.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", b.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                else:
                    code = b.status
                text = b"ok" if code < 400 else b"broken on purpose"
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def successes(self) -> list[Received]:
        """Requests answered 2xx (those after the first ``fail_first``), when no redirect is set."""
        return self.received[self.behaviour.fail_first :]
