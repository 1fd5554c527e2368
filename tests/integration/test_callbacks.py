"""Callbacks (issue #8): the outbox, the sender and the admin routes, against a real receiver.

A callback receiver runs in this process: HTTPS on port 0 with a certificate of a throwaway test
CA (tests/fixtures/make-test-ca.sh), threaded, recording every request (arrival time, path,
headers, body) and answering per a script of each path (a status, a hang, a redirect, in order;
the last step repeats). imagegate trusts the CA through `media.extra_ca_file` and may connect to
127.0.0.1 through `media.unsafe_allow_cidrs` (test-only), except in the test that checks the
default refusal of private addresses.

Covered: delivery in each of the four asynchronous dialects with the body byte-equal to the
dialect's own query of the task (succeeded, failed and cancelled tasks); the Standard Webhooks
signature (and HiAPI's pair for the `tasks` dialect) checked by an independent implementation
here (hmac, base64) with the secret from `keys create`'s stderr and from the admin API, and its
rotation; 500 then 200; four attempts at 0/+1/+2/+4 s, then failed, then a redelivery with the
same webhook-id (and `tasks show`); every 2xx delivers, 4xx/5xx other than 410 retry; a receiver
that hangs (cut at callbacks.timeout_ms, others not delayed); 301/302/307/308 not followed; a 410
that stops; the receiver's certificate verified; private addresses refused when connecting and
literal ones at create in each dialect's envelope; kill -9 with undelivered rows, then a restart
that delivers them with the same webhook-id.

test_large_2xx_answer_is_delivered fails against the server as built with #8: a 200 whose body
is over 64 KiB is recorded as a failure ("the response ... is larger than the limit of 65536
bytes", http_status 0) and retried, though the receiver accepted the callback.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import sqlite3
import ssl
import subprocess
import threading
import time
import unittest
import urllib.parse

from harness import BIN, HttpsFixture, Server

ADMIN_TOKEN = "test-admin-token-callbacks-0123456789"
T2I = "gpt-image-2-text-to-image"
TIMEOUT_MS = 1500  # callbacks.timeout_ms of the servers here (the default is 10 s)
SCHEDULE = (1.0, 2.0, 4.0)  # the default waits before the 2nd, 3rd and 4th attempt
DIALECTS = ("jobs", "tasks", "generations", "unified")
CA = None  # the module's HttpsFixture: only its test CA and server certificate are used


def setUpModule():
    global CA
    CA = HttpsFixture()  # makes the CA; its file server is never started


def tearDownModule():
    if CA:
        CA.stop()


# --- the receiver

class Receiver:
    """An HTTPS callback receiver. `script(path, *steps)` sets how a path answers, one step per
    request, the last one repeating: an int status, ("hang", seconds) (reads the request, then
    sends nothing for that long), ("redirect", location[, status]) (a 302 or the status given)
    or ("big", n) (a 200 with n bytes of body). Unscripted paths answer 200. Every request is
    recorded before it is answered."""

    def __init__(self, cert, key):
        self.lock = threading.Condition()
        self.requests = []  # dicts: t (monotonic), wall, path, headers (lower-case names), body
        self.scripts = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                entry = {"t": time.monotonic(), "wall": time.time(), "path": self.path,
                         "method": self.command,
                         "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": body}
                step = receiver._record(entry)
                self.close_connection = True
                try:
                    if isinstance(step, tuple) and step[0] == "hang":
                        time.sleep(step[1])
                        self._answer(200)
                    elif isinstance(step, tuple) and step[0] == "redirect":
                        self._answer(step[2] if len(step) > 2 else 302, {"Location": step[1]})
                    elif isinstance(step, tuple) and step[0] == "big":
                        self._answer(200, payload=b"x" * step[1])
                    else:
                        self._answer(step)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    pass  # the sender gave up (a cut attempt)

            do_GET = do_POST  # a followed redirect would arrive as a GET: recorded too

            def _answer(self, status, headers=None, payload=None):
                if payload is None:
                    payload = b'{"received":true}' if 200 <= status < 300 else b""
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)

        class TlsServer(http.server.ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

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

    def _record(self, entry):
        with self.lock:
            path = urllib.parse.urlsplit(entry["path"]).path
            steps = self.scripts.get(path) or [200]
            seen = sum(1 for r in self.requests if urllib.parse.urlsplit(r["path"]).path == path)
            self.requests.append(entry)
            self.lock.notify_all()
            return steps[min(seen, len(steps) - 1)]

    def script(self, path, *steps):
        """Sets the steps of `path`, counted from the requests it has had so far."""
        with self.lock:
            seen = sum(1 for r in self.requests if urllib.parse.urlsplit(r["path"]).path == path)
            self.scripts[path] = [200] * seen + list(steps)

    def url(self, path, host="127.0.0.1"):
        return "https://%s:%d%s" % (host, self.port, path)

    def of(self, path):
        with self.lock:
            return [r for r in self.requests if urllib.parse.urlsplit(r["path"]).path == path]

    def wait(self, path, n=1, timeout=15.0):
        """The requests of `path` once there are at least `n`."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                got = [r for r in self.requests if urllib.parse.urlsplit(r["path"]).path == path]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: %d request(s) within %.0f s, wanted %d"
                                         % (path, len(got), timeout, n))
                self.lock.wait(left)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --- an independent implementation of the receiver's checks

def standard_webhooks_verify(secret, headers, body, now=None, tolerance=300):
    """Standard Webhooks v1: HMAC-SHA256 over "id.timestamp.body" with the base64-decoded
    key of the whsec_ secret; the header holds space-separated "v1,<base64>" entries."""
    msg_id = headers["webhook-id"]
    ts = headers["webhook-timestamp"]
    now = time.time() if now is None else now
    if not ts.isdigit() or abs(now - int(ts)) > tolerance:
        return False
    key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
    signed = msg_id.encode() + b"." + ts.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in headers["webhook-signature"].split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


def hiapi_verify(secret, headers, body):
    """HiAPI's pair: X-HiAPI-Signature = lower-case hex HMAC-SHA256 over timestamp + "." +
    body, the same key bytes."""
    key = base64.b64decode(secret[len("whsec_"):])
    ts = headers["x-hiapi-timestamp"]
    expected = hmac.new(key, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["x-hiapi-signature"], expected)


# --- imagegate helpers

def create_key(server, name):
    """`keys create`: (key, account id, webhook secret) from its stdout and stderr."""
    out = subprocess.run([BIN, "keys", "create", "--name", name, "--data-dir", server.data_dir],
                         check=True, capture_output=True, text=True, timeout=30)
    key = out.stdout.strip()
    assert re.fullmatch(r"sk-\S+", key), out  # stdout holds the key alone
    account = re.search(r"^key \d+ in account (\d+)", out.stderr, re.M)
    secret = re.search(r"^webhook secret \(signs this account's callbacks\): (whsec_\S+)$",
                       out.stderr, re.M)
    assert account and secret, out.stderr
    return key, int(account.group(1)), secret.group(1)


def admin(server, method, path, body=None):
    return server.request(method, path, body=body,
                          headers={"Authorization": "Bearer " + ADMIN_TOKEN})


def create_body(dialect, callback_url, prompt="a lighthouse at dusk"):
    """(path, body) of a create with a callback in `dialect`'s field."""
    if dialect == "jobs":
        return "/api/v1/jobs/createTask", {"model": T2I, "input": {"prompt": prompt},
                                           "callBackUrl": callback_url}
    if dialect == "tasks":
        return "/v1/tasks", {"model": T2I, "input": {"prompt": prompt},
                             "callback": {"url": callback_url, "when": "final"}}
    if dialect == "generations":
        return "/v1/images/generations", {"model": "gpt-image-2", "input": {"prompt": prompt},
                                          "callback_url": callback_url}
    assert dialect == "unified", dialect
    return "/v1/images/generations", {"model": "gpt-image-2", "prompt": prompt,
                                      "callback_url": callback_url}


def create(server, key, dialect, callback_url, prompt="a lighthouse at dusk"):
    path, body = create_body(dialect, callback_url, prompt)
    r = server.request("POST", path, body, key=key)
    assert r.status == 200, (dialect, r.status, r.body)
    j = r.json()
    return j["id"] if dialect == "unified" else j["data"]["taskId"]


def query(server, key, dialect, task_id):
    """The dialect's own GET of the task (the response)."""
    if dialect == "jobs":
        return server.request(
            "GET", "/api/v1/jobs/recordInfo?taskId=" + urllib.parse.quote(task_id), key=key)
    return server.request("GET", "/v1/tasks/" + urllib.parse.quote(task_id), key=key)


def callback_of(server, task_id):
    r = admin(server, "GET", "/admin/v1/tasks/%s/callback" % urllib.parse.quote(task_id))
    assert r.status == 200, (r.status, r.body)
    return r.json()


def wait_callback(server, task_id, pred, timeout=15.0):
    """The admin view of the task's callback once pred(view) holds."""
    deadline = time.monotonic() + timeout
    while True:
        r = admin(server, "GET", "/admin/v1/tasks/%s/callback" % urllib.parse.quote(task_id))
        if r.status == 200 and pred(r.json()):
            return r.json()
        if time.monotonic() > deadline:
            raise AssertionError("callback of %s: %s %s" % (task_id, r.status, r.body[:600]))
        time.sleep(0.02)


def settings(**extra):
    base = {"sandbox.latency_ms": "50", "admin.token": ADMIN_TOKEN,
            "callbacks.timeout_ms": str(TIMEOUT_MS), "media.extra_ca_file": CA.ca_file,
            "media.unsafe_allow_cidrs": "127.0.0.1/32"}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


class ServerCase(unittest.TestCase):
    """One receiver per class; a class's server is made by the subclass."""

    @classmethod
    def start_receiver(cls):
        cls.receiver = Receiver(os.path.join(CA.ca_dir, "server.pem"),
                                os.path.join(CA.ca_dir, "server.key"))

    def assertGap(self, earlier, later, scheduled, what):
        gap = later["t"] - earlier["t"]
        self.assertGreaterEqual(gap, 0.8 * scheduled, "%s: %.2f s after the previous attempt, "
                                "scheduled %.1f s" % (what, gap, scheduled))
        self.assertLess(gap, scheduled + 3.0,
                        "%s: %.2f s, scheduled %.1f s" % (what, gap, scheduled))


class CallbackDeliveryTest(ServerCase):
    """One server (test CA trusted, 127.0.0.1 allowed, 1.5 s attempt timeout) for every
    delivery outcome."""

    @classmethod
    def setUpClass(cls):
        cls.start_receiver()
        cls.wrong_cert = Receiver(os.path.join(CA.ca_dir, "other.pem"),
                                  os.path.join(CA.ca_dir, "other.key"))
        cls.server = Server(settings=settings())
        cls.key, cls.account, cls.secret = create_key(cls.server, "callbacks")
        cls.key2, cls.account2, cls.secret2 = create_key(cls.server, "rotating")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.receiver.stop()
        cls.wrong_cert.stop()

    # --- bodies, headers, signatures

    def test_each_dialect_posts_its_query_body_signed(self):
        # The secret keys create printed is the account's (the admin API shows the same).
        r = admin(self.server, "GET", "/admin/v1/accounts/%d" % self.account)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["webhook_secret"], self.secret)
        self.assertRegex(self.secret, r"^whsec_[A-Za-z0-9+/]+={0,2}$")
        self.assertGreaterEqual(len(base64.b64decode(self.secret[6:])), 24)

        ids = {}
        for dialect in DIALECTS:
            self.receiver.script("/each/" + dialect, 200)
            ids[dialect] = create(self.server, self.key, dialect,
                                  self.receiver.url("/each/" + dialect))
        for dialect in DIALECTS:
            with self.subTest(dialect):
                (got,) = self.receiver.wait("/each/" + dialect)
                h = got["headers"]
                self.assertEqual(got["method"], "POST")
                self.assertEqual(h.get("content-type"), "application/json")
                # The body is the dialect's own GET of the task, byte for byte: result URLs
                # are signed with an expiry derived from completed_ms, so they do not change.
                q = query(self.server, self.key, dialect, ids[dialect])
                self.assertEqual(q.status, 200, q.body)
                self.assertEqual(got["body"], q.body)
                body = json.loads(got["body"])
                if dialect == "jobs":
                    self.assertEqual(body["data"]["taskId"], ids[dialect])
                    self.assertEqual(body["data"]["state"], "success")
                elif dialect == "tasks":
                    self.assertEqual(body["data"]["status"], "success")
                else:
                    self.assertEqual(body["status"], "completed")
                # Standard Webhooks, verified here independently.
                self.assertRegex(h["webhook-id"], r"^msg_[A-Za-z0-9]+$")
                self.assertRegex(h["webhook-timestamp"], r"^\d+$")
                self.assertLess(abs(int(h["webhook-timestamp"]) - got["wall"]), 5)
                self.assertRegex(h["webhook-signature"], r"^v1,[A-Za-z0-9+/]+={0,2}$")
                self.assertTrue(standard_webhooks_verify(self.secret, h, got["body"]), h)
                self.assertFalse(standard_webhooks_verify(self.secret, h, got["body"] + b" "))
                # HiAPI's pair, for the tasks dialect only.
                if dialect == "tasks":
                    self.assertEqual(h["x-hiapi-timestamp"], h["webhook-timestamp"])
                    self.assertRegex(h["x-hiapi-signature"], r"^[0-9a-f]{64}$")
                    self.assertTrue(hiapi_verify(self.secret, h, got["body"]), h)
                else:
                    self.assertNotIn("x-hiapi-signature", h)
                    self.assertNotIn("x-hiapi-timestamp", h)
                cb = wait_callback(self.server, ids[dialect], lambda v: v["state"] == "delivered")
                self.assertEqual(cb["task_id"], ids[dialect])
                self.assertEqual(cb["url"], self.receiver.url("/each/" + dialect))
                self.assertEqual(cb["webhook_id"], h["webhook-id"])
                self.assertIsNone(cb["next_at_ms"])
                self.assertEqual(len(cb["attempts"]), 1, cb)
                a = cb["attempts"][0]
                self.assertEqual(a["http_status"], 200)
                self.assertEqual(a["error"], "")
                self.assertGreaterEqual(a["latency_ms"], 0)
                self.assertLess(abs(a["at_ms"] / 1000 - got["wall"]), 5)
        webhook_ids = [self.receiver.of("/each/" + d)[0]["headers"]["webhook-id"] for d in DIALECTS]
        self.assertEqual(len(set(webhook_ids)), 4, webhook_ids)

    def test_rotated_secret_signs_the_next_callbacks(self):
        # Another account of the same server (the class's secret stays as it is).
        r = admin(self.server, "POST", "/admin/v1/accounts/%d/webhook-secret" % self.account2)
        self.assertEqual(r.status, 200, r.body)
        j = r.json()
        self.assertEqual(j["id"], self.account2)
        new = j["webhook_secret"]
        self.assertRegex(new, r"^whsec_[A-Za-z0-9+/]+={0,2}$")
        self.assertNotEqual(new, self.secret2)
        self.assertEqual(admin(self.server, "GET", "/admin/v1/accounts/%d" % self.account2)
                         .json()["webhook_secret"], new)
        self.assertEqual(admin(self.server, "GET", "/admin/v1/accounts/%d" % self.account)
                         .json()["webhook_secret"], self.secret)
        create(self.server, self.key2, "tasks", self.receiver.url("/rotated"))
        (got,) = self.receiver.wait("/rotated")
        self.assertTrue(standard_webhooks_verify(new, got["headers"], got["body"]))
        self.assertTrue(hiapi_verify(new, got["headers"], got["body"]))
        self.assertFalse(standard_webhooks_verify(self.secret2, got["headers"], got["body"]))
        self.assertFalse(hiapi_verify(self.secret2, got["headers"], got["body"]))
        r = admin(self.server, "POST", "/admin/v1/accounts/999999/webhook-secret")
        self.assertEqual(r.status, 404, r.body)

    def test_no_callback_no_row(self):
        r = self.server.request("POST", "/v1/images/generations",
                                {"model": "gpt-image-2", "prompt": "no callback"}, key=self.key)
        self.assertEqual(r.status, 200, r.body)
        task_id = r.json()["id"]
        r = admin(self.server, "GET", "/admin/v1/tasks/%s/callback" % task_id)
        self.assertEqual(r.status, 404, r.body)
        r = admin(self.server, "POST", "/admin/v1/tasks/%s/callback/redeliver" % task_id)
        self.assertEqual(r.status, 409, r.body)
        r = admin(self.server, "GET", "/admin/v1/tasks/no-such-task/callback")
        self.assertEqual(r.status, 404, r.body)
        r = self.server.request("GET", "/admin/v1/tasks/%s/callback" % task_id, key=self.key)
        self.assertEqual(r.status, 403, r.body)  # an API key cannot use the admin API

    def test_failed_and_cancelled_tasks_call_back_too(self):
        # Failed: a reference image at a refused address (10/8 is not allowed here).
        r = self.server.request("POST", "/api/v1/jobs/createTask", {
            "model": "gpt-image-2-image-to-image",
            "input": {"prompt": "restyle", "input_urls": ["https://10.0.0.1/ref.png"]},
            "callBackUrl": self.receiver.url("/failed")}, key=self.key)
        self.assertEqual(r.status, 200, r.body)
        failed_id = r.json()["data"]["taskId"]
        # Cancelled: a reference image that hangs keeps the task running until the cancel.
        self.receiver.script("/ref-hang", ("hang", 8))
        r = self.server.request("POST", "/v1/tasks", {
            "model": "gpt-image-2-image-to-image",
            "input": {"prompt": "restyle", "input_urls": [self.receiver.url("/ref-hang")]},
            "callback": {"url": self.receiver.url("/cancelled")}}, key=self.key)
        self.assertEqual(r.status, 200, r.body)
        cancelled_id = r.json()["data"]["taskId"]
        self.receiver.wait("/ref-hang")
        r = self.server.request("POST", "/v1/tasks/%s/cancel" % cancelled_id, key=self.key)
        self.assertEqual(r.status, 200, r.body)

        (failed,) = self.receiver.wait("/failed")
        self.assertEqual(failed["body"], query(self.server, self.key, "jobs", failed_id).body)
        self.assertEqual(json.loads(failed["body"])["data"]["state"], "fail")
        self.assertTrue(standard_webhooks_verify(self.secret, failed["headers"], failed["body"]))
        (cancelled,) = self.receiver.wait("/cancelled")
        q = query(self.server, self.key, "tasks", cancelled_id)
        self.assertEqual(cancelled["body"], q.body)
        self.assertNotIn(json.loads(q.body)["data"]["status"], ("pending", "processing", "success"))
        self.assertTrue(hiapi_verify(self.secret, cancelled["headers"], cancelled["body"]))

    # --- outcomes

    def test_500_then_200_is_retried_with_the_same_webhook_id(self):
        self.receiver.script("/flaky", 500, 200)
        task_id = create(self.server, self.key, "unified", self.receiver.url("/flaky"))
        first, second = self.receiver.wait("/flaky", 2)
        self.assertGap(first, second, SCHEDULE[0], "the retry")
        self.assertEqual(first["headers"]["webhook-id"], second["headers"]["webhook-id"])
        self.assertEqual(first["body"], second["body"])
        for r in (first, second):
            self.assertTrue(standard_webhooks_verify(self.secret, r["headers"], r["body"]))
        cb = wait_callback(self.server, task_id, lambda v: v["state"] == "delivered")
        self.assertEqual([a["http_status"] for a in cb["attempts"]], [500, 200], cb)
        self.assertEqual(cb["attempts"][0]["error"], "HTTP 500")
        time.sleep(0.3)
        self.assertEqual(len(self.receiver.of("/flaky")), 2)

    def test_always_500_four_attempts_then_failed_then_redelivered(self):
        self.receiver.script("/always500", 500)
        task_id = create(self.server, self.key, "jobs", self.receiver.url("/always500"))
        reqs = self.receiver.wait("/always500", 4, timeout=20)
        for k, scheduled in enumerate(SCHEDULE):
            self.assertGap(reqs[k], reqs[k + 1], scheduled, "attempt %d" % (k + 2))
        self.assertEqual(len({r["headers"]["webhook-id"] for r in reqs}), 1)
        cb = wait_callback(self.server, task_id, lambda v: v["state"] != "pending")
        self.assertEqual(cb["state"], "failed", cb)
        self.assertIsNone(cb["next_at_ms"])
        self.assertEqual([a["http_status"] for a in cb["attempts"]], [500] * 4, cb)
        self.assertTrue(all(a["error"] == "HTTP 500" for a in cb["attempts"]), cb)
        ats = [a["at_ms"] for a in cb["attempts"]]
        self.assertEqual(ats, sorted(ats))
        time.sleep(1.0)
        self.assertEqual(len(self.receiver.of("/always500")), 4, "a fifth attempt was made")

        # Redelivery: the same webhook-id, a new attempt, recorded after the four.
        self.receiver.script("/always500", 200)
        r = admin(self.server, "POST", "/admin/v1/tasks/%s/callback/redeliver" % task_id)
        self.assertEqual(r.status, 200, r.body)
        again = r.json()
        self.assertEqual(again["webhook_id"], cb["webhook_id"])
        self.assertIn(again["state"], ("pending", "delivered"), again)
        fifth = self.receiver.wait("/always500", 5)[4]
        self.assertEqual(fifth["headers"]["webhook-id"], cb["webhook_id"])
        self.assertTrue(standard_webhooks_verify(self.secret, fifth["headers"], fifth["body"]))
        self.assertEqual(fifth["body"], reqs[0]["body"])
        done = wait_callback(self.server, task_id, lambda v: v["state"] == "delivered")
        self.assertEqual([a["http_status"] for a in done["attempts"]], [500] * 4 + [200], done)

        # tasks show lists the callback and its attempts.
        show = self.server.tasks_show(task_id)
        self.assertEqual(show.returncode, 0, show.stderr)
        line = re.search(r"^callback: (\S+) (\S+) webhook-id (\S+)$", show.stdout, re.M)
        self.assertTrue(line, show.stdout)
        self.assertEqual(line.groups(), ("delivered", self.receiver.url("/always500"),
                                         cb["webhook_id"]))
        attempts = re.findall(r"^  attempt at (\d+) ms: HTTP (\d+), (\d+) ms(?:, (.*))?$",
                              show.stdout, re.M)
        self.assertEqual([int(a[1]) for a in attempts], [500] * 4 + [200], show.stdout)
        self.assertEqual(attempts[0][3], "HTTP 500")

    def test_hanging_receiver_is_cut_and_delays_nothing_else(self):
        self.receiver.script("/hang", ("hang", 12), 200)
        hung_id = create(self.server, self.key, "generations", self.receiver.url("/hang"))
        (hung,) = self.receiver.wait("/hang")
        # While that attempt is held, another task's callback goes out at once.
        other_id = create(self.server, self.key, "jobs", self.receiver.url("/while-hanging"))
        (other,) = self.receiver.wait("/while-hanging")
        self.assertLess(other["t"] - hung["t"], TIMEOUT_MS / 1000,
                        "a delivery waited for the hanging one")
        self.assertEqual(callback_of(self.server, hung_id)["attempts"], [],
                         "the hanging attempt ended before the other delivery")
        wait_callback(self.server, other_id, lambda v: v["state"] == "delivered")
        # The hanging attempt is cut at callbacks.timeout_ms, then retried (200 now).
        cb = wait_callback(self.server, hung_id, lambda v: v["state"] == "delivered", timeout=10)
        cut, ok = cb["attempts"]
        self.assertEqual(cut["http_status"], 0, cut)
        self.assertIn("timed out", cut["error"])
        self.assertGreaterEqual(cut["latency_ms"], 0.9 * TIMEOUT_MS, cut)
        self.assertLess(cut["latency_ms"], TIMEOUT_MS + 1000, cut)
        self.assertEqual(ok["http_status"], 200)
        second = self.receiver.of("/hang")[1]
        self.assertEqual(second["headers"]["webhook-id"], hung["headers"]["webhook-id"])
        # The retry waits 1 s after the cut attempt ended.
        self.assertGreaterEqual(second["t"] - hung["t"], 0.8 * (TIMEOUT_MS / 1000 + SCHEDULE[0]))

    def test_every_2xx_delivers_other_statuses_retry(self):
        cases = {201: "delivered", 204: "delivered", 299: "delivered",
                 400: "retried", 404: "retried", 429: "retried", 503: "retried"}
        ids = {}
        for status in cases:
            path = "/status/%d" % status
            self.receiver.script(path, status, 200)
            ids[status] = create(self.server, self.key, "unified", self.receiver.url(path))
        for status, outcome in cases.items():
            with self.subTest(status=status):
                cb = wait_callback(self.server, ids[status], lambda v: v["state"] == "delivered")
                got = [a["http_status"] for a in cb["attempts"]]
                if outcome == "delivered":
                    self.assertEqual(got, [status], cb)
                    self.assertEqual(cb["attempts"][0]["error"], "")
                else:
                    self.assertEqual(got, [status, 200], cb)
                    self.assertEqual(cb["attempts"][0]["error"], "HTTP %d" % status)

    def test_large_2xx_answer_is_delivered(self):
        # The receiver accepted the callback (200); its answer's body is not the sender's
        # business ("the answer is not read beyond its status", callback_sender.cpp).
        self.receiver.script("/big-answer", ("big", 1 << 20))
        task_id = create(self.server, self.key, "generations", self.receiver.url("/big-answer"))
        self.receiver.wait("/big-answer")
        cb = wait_callback(self.server, task_id, lambda v: len(v["attempts"]) >= 1)
        self.assertEqual(cb["attempts"][0]["http_status"], 200, cb)
        self.assertEqual(cb["state"], "delivered", cb)

    def test_certificate_is_verified(self):
        # A receiver whose certificate (of the test CA) names other.example only.
        task_id = create(self.server, self.key, "unified", self.wrong_cert.url("/wrong-cert"))
        cb = wait_callback(self.server, task_id, lambda v: len(v["attempts"]) >= 1)
        self.assertEqual(cb["attempts"][0]["http_status"], 0, cb)
        self.assertIn("certificate verify failed", cb["attempts"][0]["error"])
        self.assertEqual(self.wrong_cert.requests, [])
        # The same receiver host by name (localhost is in the right certificate) is fine.
        task_id = create(self.server, self.key, "unified",
                         self.receiver.url("/by-name", host="localhost"))
        self.receiver.wait("/by-name")
        wait_callback(self.server, task_id, lambda v: v["state"] == "delivered")

    def test_redirect_is_not_followed(self):
        target = "/redirect-target"
        self.receiver.script("/redirect", ("redirect", self.receiver.url(target)))
        task_id = create(self.server, self.key, "tasks", self.receiver.url("/redirect"))
        # Other redirect statuses, each to its own target, then a 200 on the retry.
        others = {}
        for status in (301, 307, 308):
            path = "/redirect-%d" % status
            self.receiver.script(path, ("redirect", self.receiver.url(path + "-target"), status),
                                 200)
            others[status] = create(self.server, self.key, "unified", self.receiver.url(path))
        self.receiver.wait("/redirect", 2)
        cb = wait_callback(self.server, task_id, lambda v: len(v["attempts"]) >= 2)
        self.assertEqual(cb["state"], "pending", cb)  # a failure: retried like a 500
        for a in cb["attempts"]:
            self.assertEqual(a["http_status"], 302, cb)
            self.assertIn("redirects are not followed", a["error"])
        self.assertEqual(self.receiver.of(target), [], "the redirect was followed")
        for status, other in others.items():
            with self.subTest(status=status):
                done = wait_callback(self.server, other, lambda v: v["state"] == "delivered")
                self.assertEqual([a["http_status"] for a in done["attempts"]], [status, 200])
                self.assertEqual(self.receiver.of("/redirect-%d-target" % status), [])

    def test_410_stops(self):
        self.receiver.script("/gone", 410)
        task_id = create(self.server, self.key, "generations", self.receiver.url("/gone"))
        self.receiver.wait("/gone")
        cb = wait_callback(self.server, task_id, lambda v: v["state"] != "pending")
        self.assertEqual(cb["state"], "failed", cb)
        self.assertIsNone(cb["next_at_ms"])
        self.assertEqual([a["http_status"] for a in cb["attempts"]], [410], cb)
        self.assertIn("410", cb["attempts"][0]["error"])
        time.sleep(SCHEDULE[0] * 1.5)
        self.assertEqual(len(self.receiver.of("/gone")), 1, "retried after a 410")
        self.assertEqual(len(callback_of(self.server, task_id)["attempts"]), 1)

    # --- create-time refusal of literal private hosts (127.0.0.1 is allowed here, 10/8 not)

    def test_literal_private_host_refused_at_create(self):
        for url in ("https://10.0.0.1/cb", "https://192.168.1.1/cb", "https://[::1]/cb",
                    "https://169.254.169.254/latest", "https://[::ffff:10.0.0.1]/cb",
                    "https://0.0.0.0/cb"):
            for dialect in DIALECTS:
                with self.subTest(dialect=dialect, url=url):
                    check_refused_at_create(self, self.server, self.key, dialect, url)


def check_refused_at_create(test, server, key, dialect, url):
    """A create with callback URL `url` is refused in the dialect's envelope, naming its
    field, with the same status as the dialect's other callback URL rules (an http:// URL)."""
    path, body = create_body(dialect, url)
    r = server.request("POST", path, body, key=key)
    http_path, http_body = create_body(dialect, "http://hooks.example.com/cb")
    rule = server.request("POST", http_path, http_body, key=key)
    test.assertIn(rule.status, (400, 422), rule.body)
    test.assertEqual(r.status, rule.status, (r.status, r.body))
    test.assertIn(r.status, (400, 422))
    env = r.json()
    if dialect == "jobs":
        test.assertEqual(set(env), {"code", "msg", "data"}, env)
        test.assertEqual(env["code"], r.status)
        test.assertIsNone(env["data"])
        test.assertIn("callBackUrl", env["msg"])
        test.assertIn("private or special address", env["msg"])
    elif dialect == "tasks":
        test.assertEqual(set(env), {"code", "message", "data", "error_code"}, env)
        test.assertEqual(env["code"], r.status)
        test.assertEqual(env["error_code"],
                         "VALIDATION_FAILED" if r.status == 422 else "INVALID_REQUEST")
        test.assertIn("callback.url", env["message"])
        test.assertIn("private or special address", env["message"])
    elif dialect == "generations":
        test.assertEqual(set(env), {"error"}, env)
        test.assertEqual((env["error"]["code"], env["error"]["type"]),
                         ("invalid_request", "invalid_request_error"), env)
        test.assertIn("callback_url", env["error"]["message"])
        test.assertIn("private or special address", env["error"]["message"])
    else:
        test.assertEqual(set(env), {"error"}, env)
        test.assertEqual(env["error"]["param"], "callback_url", env)
        test.assertEqual((env["error"]["code"], env["error"]["type"]),
                         ("invalid_parameters", "invalid_request_error"), env)
        test.assertIn("private or special address", env["error"]["message"])


class PrivateAddressTest(ServerCase):
    """A server with the default address rules (no media.unsafe_allow_cidrs): a callback host
    that resolves to 127.0.0.1 is refused when connecting; a literal one at create."""

    @classmethod
    def setUpClass(cls):
        cls.start_receiver()
        cls.server = Server(settings=settings(**{"media.unsafe_allow_cidrs": None}))
        cls.key, cls.account, cls.secret = create_key(cls.server, "private")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.receiver.stop()

    def test_hostname_resolving_to_loopback_is_not_contacted(self):
        url = self.receiver.url("/private", host="localhost")
        task_id = create(self.server, self.key, "unified", url)
        cb = wait_callback(self.server, task_id, lambda v: len(v["attempts"]) >= 2, timeout=10)
        self.assertEqual(cb["url"], url)
        for a in cb["attempts"]:
            self.assertEqual(a["http_status"], 0, cb)
            self.assertIn("refused address", a["error"])
        self.assertEqual(self.receiver.of("/private"), [], "a private address was contacted")

    def test_literal_loopback_refused_at_create(self):
        for url in (self.receiver.url("/x"), "https://127.0.0.1/x", "https://10.0.0.1/cb",
                    "https://2130706433/x", "https://127.1/x", "https://[::ffff:127.0.0.1]/x"):
            for dialect in DIALECTS:
                with self.subTest(dialect=dialect, url=url):
                    check_refused_at_create(self, self.server, self.key, dialect, url)
        self.assertEqual(self.receiver.of("/x"), [])


class CrashTest(ServerCase):
    """kill -9 with callbacks not delivered yet; a restart on the same data dir delivers them
    with the webhook-ids they had."""

    @classmethod
    def setUpClass(cls):
        cls.start_receiver()

    @classmethod
    def tearDownClass(cls):
        cls.receiver.stop()

    def test_kill9_then_restart_delivers_with_the_same_webhook_id(self):
        server = Server(settings=settings())
        try:
            key, _, secret = create_key(server, "crash")
            server.start()
            ids = {}
            for dialect in DIALECTS:
                self.receiver.script("/crash/" + dialect, 500)
                ids[dialect] = create(server, key, dialect, self.receiver.url("/crash/" + dialect))
            # Each callback failed once and waits for its retry (due 1 s later): kill then.
            for dialect in DIALECTS:
                wait_callback(server, ids[dialect], lambda v: len(v["attempts"]) >= 1)
            server.kill(signal.SIGKILL)
            first = {d: self.receiver.of("/crash/" + d) for d in DIALECTS}
            db = sqlite3.connect(os.path.join(server.data_dir, "imagegate.db"))
            rows = db.execute("SELECT state, lease_until_ms FROM callbacks").fetchall()
            db.close()
            self.assertEqual(len(rows), 4, rows)
            self.assertTrue(all(state == "pending" for state, _ in rows), rows)
            now_ms = time.time() * 1000
            if any(lease > now_ms for _, lease in rows):
                self.skipTest("killed during an attempt: its 60 s lease would delay the test")

            for dialect in DIALECTS:
                self.receiver.script("/crash/" + dialect, 200)
            server.start()  # same data dir, new port
            for dialect in DIALECTS:
                with self.subTest(dialect):
                    before = first[dialect]
                    got = self.receiver.wait("/crash/" + dialect, len(before) + 1)[-1]
                    self.assertEqual(got["headers"]["webhook-id"],
                                     before[0]["headers"]["webhook-id"])
                    self.assertTrue(standard_webhooks_verify(secret, got["headers"], got["body"]))
                    # Rendered by the new process: result URLs carry its address (port 0
                    # gave it another port), else the same body as its own query.
                    self.assertEqual(got["body"], query(server, key, dialect, ids[dialect]).body)
                    cb = wait_callback(server, ids[dialect], lambda v: v["state"] == "delivered")
                    self.assertEqual(cb["webhook_id"], got["headers"]["webhook-id"])
                    self.assertEqual(cb["attempts"][-1]["http_status"], 200)
                    self.assertTrue(all(a["http_status"] == 500 for a in cb["attempts"][:-1]), cb)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
