"""A callback receiver for the crash and fault suites: HTTPS on 127.0.0.1 port 0 (a certificate of
the test CA of tests/fixtures/make-test-ca.sh), threaded, recording every request before it answers.

How a request is answered is chosen per path by `behave(path, n)` (n: how many requests that path
had before this one), which returns one of:

    200 (or any int)        that status at once, Content-Length set, connection closed
    ("slow", s, status)     reads the request, waits s seconds, then answers the status
    ("trickle", s)          sends the status line and headers one byte every s seconds, forever
                            (until the sender hangs up): the answer never completes in time
    ("silent", s)           reads the request, answers nothing and holds the connection s seconds

Standard library only. `standard_webhooks_verify` is an independent implementation of the check
a receiver makes (docs/callbacks.md), used by the suites on the recorded requests.
"""
import base64
import hashlib
import hmac
import http.server
import json
import ssl
import threading
import time
import urllib.parse


def standard_webhooks_verify(secret, headers, body, now=None, tolerance=300):
    """Standard Webhooks v1: HMAC-SHA256 over "id.timestamp.body" with the base64-decoded key of
    the whsec_ secret; the header holds space-separated "v1,<base64>" entries."""
    msg_id = headers.get("webhook-id", "")
    ts = headers.get("webhook-timestamp", "")
    sigs = headers.get("webhook-signature", "")
    now = time.time() if now is None else now
    if not msg_id or not ts.isdigit() or abs(now - int(ts)) > tolerance:
        return False
    key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
    signed = msg_id.encode() + b"." + ts.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in sigs.split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


def task_id_of_body(body):
    """The task id a callback body names, in any of the four asynchronous dialects' shapes
    (jobs and tasks: data.taskId; generations and unified: id); None if it names none."""
    try:
        j = json.loads(body)
    except ValueError:
        return None
    if isinstance(j, dict):
        data = j.get("data")
        if isinstance(data, dict) and isinstance(data.get("taskId"), str):
            return data["taskId"]
        if isinstance(j.get("id"), str):
            return j["id"]
    return None


class Receiver:
    def __init__(self, cert, key, behave=None):
        self.cond = threading.Condition()
        self.requests = []  # dicts: mono, wall, path, headers (lower-case names), body, task_id
        self.behave = behave or (lambda path, n: 200)
        self.counts = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                step = receiver._record(self.path, self.headers, body)
                self.close_connection = True
                try:
                    if isinstance(step, tuple) and step[0] == "slow":
                        time.sleep(step[1])
                        self._answer(step[2] if len(step) > 2 else 200)
                    elif isinstance(step, tuple) and step[0] == "trickle":
                        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        while True:  # ends when the sender hangs up (a write fails)
                            for i in range(len(head)):
                                self.wfile.write(head[i:i + 1])
                                self.wfile.flush()
                                time.sleep(step[1])
                    elif isinstance(step, tuple) and step[0] == "silent":
                        time.sleep(step[1])
                    else:
                        self._answer(step)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    pass  # the sender gave up

            def _answer(self, status):
                payload = b'{"received":true}' if 200 <= status < 300 else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()

        class TlsServer(http.server.ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            request_queue_size = 128

            def get_request(self):
                sock, addr = super().get_request()
                return context.wrap_socket(sock, server_side=True,
                                           do_handshake_on_connect=False), addr

            def handle_error(self, request, client_address):
                pass  # handshakes cut by the sender, resets: not the receiver's business

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd = TlsServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def _record(self, raw_path, headers, body):
        path = urllib.parse.urlsplit(raw_path).path
        entry = {"mono": time.monotonic(), "wall": time.time(), "path": path,
                 "headers": {k.lower(): v for k, v in headers.items()}, "body": body,
                 "task_id": task_id_of_body(body)}
        with self.cond:
            n = self.counts.get(path, 0)
            self.counts[path] = n + 1
            self.requests.append(entry)
            self.cond.notify_all()
        return self.behave(path, n)

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def snapshot(self):
        with self.cond:
            return list(self.requests)

    def by_task(self):
        """{task id: [requests naming it, oldest first]}."""
        out = {}
        for r in self.snapshot():
            out.setdefault(r["task_id"], []).append(r)
        return out

    def wait(self, pred, timeout=15.0, what="callbacks"):
        """Waits until pred(list of requests) holds; returns the list."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if pred(self.requests):
                    return list(self.requests)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("receiver: %s not seen within %.0f s (%d requests)"
                                         % (what, timeout, len(self.requests)))
                self.cond.wait(left)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
