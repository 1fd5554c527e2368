"""Billing (#7): credits held at create and settled once, per-key limits at the door and in the
create's transaction, the admin API, the key and credit commands, and GET /v1/credits.

The ledger is read straight from the database: for every account the cached balance must be
the sum of its ledger rows, every task must have one hold, and every finished task exactly one
settlement (a capture when it succeeded, a refund when it failed or was cancelled)."""
import concurrent.futures
import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
import unittest

from harness import BIN, Server

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
T2I = "gpt-image-2-text-to-image"
DIALECTS = ("jobs", "generations", "tasks", "unified")
MICRO = 1_000_000
TIER_PRICE = {"1K": 4_700_000, "2K": 9_400_000, "4K": 14_100_000}  # micro-credits per image
QUALITY_MILLIONTHS = {"low": 110_000, "medium": 1_000_000, "high": 4_000_000}
# A plain JSON decimal: no exponent, no leading zeros.
NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"
CREDITS_BODY = re.compile(r'^\{"code":200,"msg":"success","data":\{"balance":(%s),'
                          r'"total_purchased":(%s),"total_consumed":(%s)\}\}$'
                          % (NUMBER, NUMBER, NUMBER))


def micros(credits):
    return round(credits * MICRO)


# --- requests


def create_request(dialect, prompt, tier="1K", quality=None, n=1):
    """(path, body) of an asynchronous create in `dialect`."""
    if dialect == "jobs":
        body = {"model": T2I, "input": {"prompt": prompt, "resolution": tier}}
        if quality:
            body["input"]["quality"] = quality
        return "/api/v1/jobs/createTask", body
    if dialect == "tasks":
        return "/v1/tasks", {"model": T2I, "input": {"prompt": prompt, "resolution": tier}}
    if dialect == "generations":
        return "/v1/images/generations", {"model": "gpt-image-2",
                                          "input": {"prompt": prompt, "resolution": tier.lower()}}
    assert dialect == "unified", dialect
    body = {"model": "gpt-image-2", "prompt": prompt, "size": "1:1", "resolution": tier, "n": n}
    if quality:
        body["quality"] = quality
    return "/v1/images/generations", body


def expected_price(dialect, tier="1K", quality=None, n=1):
    """Micro-credits by the default price table: only jobs and unified take a quality, only
    unified an image count."""
    q = QUALITY_MILLIONTHS[quality or "medium"] if dialect in ("jobs", "unified") else MICRO
    count = n if dialect == "unified" else 1
    return TIER_PRICE[tier] * q * count // MICRO


def create(server, key, dialect, prompt, headers=None, timeout=30, **opts):
    path, body = create_request(dialect, prompt, **opts)
    return server.request("POST", path, body=body, key=key, headers=headers, timeout=timeout)


def task_id_of(dialect, r):
    body = r.json()
    return body["id"] if dialect == "unified" else body["data"]["taskId"]


def error_word(dialect, r):
    """What each dialect's error envelope calls the refusal."""
    body = r.json()
    if dialect == "jobs":
        return body["code"]
    if dialect == "tasks":
        return body["error_code"]
    return body["error"]["code"]


def credits_of(server, key, headers=None):
    """GET /v1/credits: (raw body text, data) after checking the exact shape."""
    r = server.request("GET", "/v1/credits", key=key, headers=headers)
    assert r.status == 200, (r.status, r.body)
    text = r.body.decode("utf-8")
    assert CREDITS_BODY.match(text), text
    return text, r.json()["data"]


def admin(server, method, path, body=None, token=ADMIN_TOKEN, headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    return server.request(method, path, body=body, headers=h)


def admin_create_key(server, name, **fields):
    """POST /admin/v1/keys: (secret, key id, account id)."""
    r = admin(server, "POST", "/admin/v1/keys", {"name": name, **fields})
    assert r.status == 201, (r.status, r.body)
    o = r.json()
    return o["key"], o["id"], o["account_id"]


def patch_key(tc, server, key_id, body):
    r = admin(server, "PATCH", "/admin/v1/keys/%d" % key_id, body)
    tc.assertEqual(r.status, 200, r.body)
    return r.json()


def cli(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60)


def cli_create_key(server, name, credits=None, remote=False):
    """`imagegate keys create`: (secret, key id, account id)."""
    args = ["keys", "create", "--name", name]
    if credits is not None:
        args += ["--credits", credits]
    args += remote_args(server) if remote else ["--data-dir", server.data_dir]
    out = cli(*args)
    assert out.returncode == 0, (out.returncode, out.stdout, out.stderr)
    key = out.stdout.strip()
    assert key.startswith("sk-"), out.stdout
    m = re.search(r"key (\d+) in account (\d+)", out.stderr)
    assert m, out.stderr
    return key, int(m.group(1)), int(m.group(2))


def remote_args(server):
    return ["--server", server.base, "--admin-token", ADMIN_TOKEN]


# --- the database


def query(server, sql, args=()):
    con = sqlite3.connect(os.path.join(server.data_dir, "imagegate.db"), timeout=30)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def key_row(server, secret):
    """(key id, account id) of a secret."""
    digest = hashlib.sha256(secret.encode()).hexdigest()
    rows = query(server, "SELECT id, account_id FROM api_keys WHERE secret_hash = ?", (digest,))
    assert len(rows) == 1, rows
    return rows[0]


def balance_and_sum(server, account_id):
    return query(server, "SELECT a.balance, (SELECT COALESCE(SUM(amount), 0) FROM ledger l "
                         "WHERE l.account_id = a.id) FROM accounts a WHERE a.id = ?",
                 (account_id,))[0]


def wait_all_terminal(server, key_id=None, timeout=60):
    deadline = time.monotonic() + timeout
    sql = "SELECT COUNT(*) FROM tasks WHERE state IN ('queued', 'running')"
    args = ()
    if key_id is not None:
        sql += " AND key_id = ?"
        args = (key_id,)
    while True:
        left = query(server, sql, args)[0][0]
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("%d tasks still queued or running" % left)
        time.sleep(0.1)


def check_books(tc, server):
    """The ledger's invariants over the whole database; returns {task id: (state, price,
    settlement kind or None)}."""
    for account, balance, total in query(
            server, "SELECT a.id, a.balance, (SELECT COALESCE(SUM(amount), 0) FROM ledger l "
                    "WHERE l.account_id = a.id) FROM accounts a"):
        tc.assertEqual(balance, total, "account %d: cached balance vs ledger sum" % account)
    orphans = query(server, "SELECT id, kind, task_row FROM ledger l WHERE task_row IS NOT NULL "
                            "AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.row_id = l.task_row)")
    tc.assertEqual(orphans, [], "ledger rows naming no task")
    settled_twice = query(server, "SELECT task_row, COUNT(*) FROM ledger WHERE kind IN "
                                  "('capture', 'refund') GROUP BY task_row HAVING COUNT(*) != 1")
    tc.assertEqual(settled_twice, [])
    holds = query(server, "SELECT t.id, t.price, COUNT(l.id), COALESCE(SUM(l.amount), 0), "
                          "COALESCE(MIN(l.price), 0) FROM tasks t LEFT JOIN ledger l "
                          "ON l.task_row = t.row_id AND l.kind = 'hold' "
                          "WHERE t.key_id IS NOT NULL GROUP BY t.row_id")
    for task_id, price, count, amount, held in holds:
        tc.assertEqual((count, amount, held), (1, -price, price), "hold of task %s" % task_id)
    out = {}
    rows = query(server, "SELECT t.id, t.state, t.price, l.kind, l.amount, l.price, "
                         "(SELECT COUNT(*) FROM ledger x WHERE x.task_row = t.row_id AND "
                         "x.kind IN ('capture', 'refund')) FROM tasks t LEFT JOIN ledger l "
                         "ON l.task_row = t.row_id AND l.kind IN ('capture', 'refund') "
                         "WHERE t.key_id IS NOT NULL")
    for task_id, state, price, kind, amount, settled_price, count in rows:
        if state in ("queued", "running"):
            tc.assertEqual(count, 0, "task %s is %s but settled" % (task_id, state))
        else:
            tc.assertEqual(count, 1, "task %s (%s) settled %d times" % (task_id, state, count))
            expected = "capture" if state == "succeeded" else "refund"
            tc.assertEqual(kind, expected, "task %s is %s" % (task_id, state))
            tc.assertEqual(settled_price, price, task_id)
            tc.assertEqual(amount, 0 if kind == "capture" else price, task_id)
        out[task_id] = (state, price, kind)
    return out


def admin_settings(**extra):
    return {"admin.token": ADMIN_TOKEN, **extra}


class ServerCase(unittest.TestCase):
    settings = {}

    @classmethod
    def setUpClass(cls):
        cls.server = Server(settings=cls.settings).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()


# --- 1


class ExactlyNTest(ServerCase):
    settings = admin_settings()

    def test_200_concurrent_creates_get_exactly_the_10_the_credits_cover(self):
        key, key_id, account = admin_create_key(self.server, "exact", credits=47)
        expected_refusal = {"jobs": 402, "generations": "insufficient_credits",
                            "tasks": "INSUFFICIENT_CREDITS", "unified": "insufficient_quota"}

        def one(i):
            dialect = DIALECTS[i % len(DIALECTS)]
            return dialect, create(self.server, key, dialect, "burst %d" % i)

        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(one, range(200)))
        statuses = {}
        created = []
        for dialect, r in results:
            statuses[r.status] = statuses.get(r.status, 0) + 1
            if r.status == 200:
                created.append(task_id_of(dialect, r))
            elif r.status == 402:
                self.assertEqual(error_word(dialect, r), expected_refusal[dialect], r.body)
        self.assertEqual(statuses, {200: 10, 402: 190})
        # Held at once: nothing left, never below zero on the way.
        text, data = credits_of(self.server, key)
        self.assertIn('"balance":0,', text)
        self.assertEqual(micros(data["total_purchased"]), 47 * MICRO)
        running = 0
        for (amount,) in query(self.server, "SELECT amount FROM ledger WHERE account_id = ? "
                                            "ORDER BY id", (account,)):
            running += amount
            self.assertGreaterEqual(running, 0, "the balance went below zero")
        prices = query(self.server, "SELECT id, price FROM tasks WHERE key_id = ?", (key_id,))
        self.assertEqual(sorted(p[0] for p in prices), sorted(created))
        self.assertEqual({p[1] for p in prices}, {4_700_000})
        self.assertEqual(balance_and_sum(self.server, account), (0, 0))
        # Settled: success is a capture, which moves nothing.
        wait_all_terminal(self.server, key_id)
        books = check_books(self, self.server)
        self.assertEqual(sorted(t for t in books if t in created), sorted(created))
        self.assertEqual({books[t][0] for t in created}, {"succeeded"})
        self.assertEqual(balance_and_sum(self.server, account), (0, 0))
        text, data = credits_of(self.server, key)
        self.assertIn('"balance":0,', text)
        self.assertEqual(micros(data["total_consumed"]), 47 * MICRO)
        r = create(self.server, key, "generations", "one more")
        self.assertEqual(r.status, 402, r.body)


# --- 2


class CaptureRefundTest(ServerCase):
    settings = admin_settings(**{"sandbox.failure_rate": "0.3", "sandbox.latency_ms": "300",
                                 "dispatcher.concurrency": "16"})

    VARIANTS = [("jobs", {"tier": "1K"}), ("jobs", {"tier": "2K", "quality": "low"}),
                ("jobs", {"tier": "1K", "quality": "high"}), ("generations", {"tier": "1K"}),
                ("generations", {"tier": "2K"}), ("tasks", {"tier": "1K"}),
                ("unified", {"tier": "1K", "quality": "low", "n": 3}),
                ("unified", {"tier": "1K", "n": 2}), ("tasks", {"tier": "1K"}),
                ("unified", {"tier": "1K", "quality": "high"})]

    def test_every_finished_task_is_captured_or_refunded_once(self):
        key, key_id, account = admin_create_key(self.server, "mixed", credits=5000)
        lock = threading.Lock()
        created = {}  # task id -> expected price
        cancel_answers = {}

        def one(i):
            dialect, opts = self.VARIANTS[i % len(self.VARIANTS)]
            r = create(self.server, key, dialect, "mixed %d" % i, **opts)
            self.assertEqual(r.status, 200, r.body)
            task_id = task_id_of(dialect, r)
            with lock:
                created[task_id] = expected_price(dialect, **opts)
            if i % 5 == 2:
                c = self.server.request("POST", "/v1/tasks/%s/cancel" % task_id, key=key)
                self.assertIn(c.status, (200, 409), c.body)  # 409: it had finished already
                with lock:
                    cancel_answers[task_id] = c.status

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(one, range(200)))
        self.assertEqual(len(created), 200)
        wait_all_terminal(self.server, key_id, timeout=60)
        books = check_books(self, self.server)
        states = {}
        for task_id, price in created.items():
            state, stored_price, kind = books[task_id]
            self.assertEqual(stored_price, price, "price of %s" % task_id)
            states[state] = states.get(state, 0) + 1
            if cancel_answers.get(task_id) == 200:
                self.assertEqual(state, "cancelled", task_id)
        # The mix really had all three endings.
        for state in ("succeeded", "failed", "cancelled"):
            self.assertGreater(states.get(state, 0), 0, states)
        captured = sum(p for t, p in created.items() if books[t][0] == "succeeded")
        topup = 5000 * MICRO
        self.assertEqual(balance_and_sum(self.server, account),
                         (topup - captured, topup - captured))
        _, data = credits_of(self.server, key)
        self.assertEqual(micros(data["balance"]), topup - captured)
        self.assertEqual(micros(data["total_purchased"]), topup)
        self.assertEqual(micros(data["total_consumed"]), captured)


# --- 3


class KillDuringBurstTest(unittest.TestCase):
    def test_kill_9_during_creates_and_completions_then_restart(self):
        server = Server(settings={"sandbox.latency_ms": "150", "dispatcher.concurrency": "8",
                                  "dispatcher.lease_ms": "1000"})
        key, key_id, account = cli_create_key(server, "burst", credits="50000")
        server.start()
        try:
            lock = threading.Lock()
            ok, refused = [], []
            stop = threading.Event()

            def worker(w):
                # Bounded and paced, so that the restarted server has a few seconds of work
                # left rather than a minute.
                i = 0
                while not stop.is_set() and i < 12:
                    dialect = DIALECTS[(w + i) % len(DIALECTS)]
                    i += 1
                    try:
                        r = create(server, key, dialect, "burst %d-%d" % (w, i), timeout=10)
                    except Exception:  # the server is gone
                        return
                    with lock:
                        if r.status == 200:
                            ok.append(task_id_of(dialect, r))
                        else:
                            refused.append((r.status, r.body))
                    time.sleep(0.02)

            threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while True:
                done = query(server, "SELECT COUNT(*) FROM tasks WHERE state = 'succeeded'")[0][0]
                with lock:
                    enough = len(ok) >= 40
                if enough and done >= 8:
                    break
                self.assertLess(time.monotonic(), deadline, "the burst did not get going")
                time.sleep(0.05)
            server.kill(signal.SIGKILL)
            stop.set()
            for t in threads:
                t.join(timeout=30)
            self.assertEqual(refused, [])
            # Every answered create is in the database with its hold.
            held = dict(query(server, "SELECT t.id, COUNT(l.id) FROM tasks t LEFT JOIN ledger l "
                                      "ON l.task_row = t.row_id AND l.kind = 'hold' "
                                      "GROUP BY t.row_id"))
            for task_id in ok:
                self.assertEqual(held.get(task_id), 1, "task %s after kill -9" % task_id)
            check_books(self, server)
            unfinished = query(server, "SELECT COUNT(*) FROM tasks "
                                       "WHERE state IN ('queued', 'running')")[0][0]
            self.assertGreater(unfinished, 0, "the kill came after the work was done")

            server.start()
            wait_all_terminal(server, timeout=60)
            books = check_books(self, server)
            for task_id in ok:
                self.assertIn(task_id, books)
                self.assertIsNotNone(books[task_id][2], task_id)
            captured = sum(p for state, p, _ in books.values() if state == "succeeded")
            topup = 50000 * MICRO
            self.assertEqual(balance_and_sum(server, account), (topup - captured,) * 2)
            _, data = credits_of(server, key)
            self.assertEqual(micros(data["balance"]), topup - captured)
            self.assertEqual(micros(data["total_consumed"]), captured)
        finally:
            server.cleanup()


# --- 4


class LimitsTest(ServerCase):
    settings = admin_settings()

    def test_requests_per_minute(self):
        key, key_id, _ = admin_create_key(self.server, "rpm")
        self.assertEqual(patch_key(self, self.server, key_id, {"rpm": 3})["rpm"], 3)
        for _ in range(3):
            self.assertEqual(self.server.request("GET", "/v1/credits", key=key).status, 200)
        r = self.server.request("GET", "/v1/credits", key=key)
        self.assertEqual(r.status, 429, r.body)
        self.assertEqual(r.json()["error"]["code"], "rate_limit_exceeded")
        self.assertEqual(r.json()["error"]["type"], "rate_limit_error")
        self.assertTrue(r.json()["error"]["message"])
        retry = int(r.header("Retry-After"))
        self.assertGreaterEqual(retry, 1)
        self.assertLessEqual(retry, 20)  # one token in 60 / 3 s
        for dialect, word in (("jobs", 429), ("tasks", "RATE_LIMITED"),
                              ("unified", "rate_limit_exceeded")):
            r = create(self.server, key, dialect, "limited")
            self.assertEqual(r.status, 429, r.body)
            self.assertEqual(error_word(dialect, r), word)
            self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        self.assertEqual(query(self.server, "SELECT COUNT(*) FROM tasks WHERE key_id = ?",
                               (key_id,))[0][0], 0)
        # At 60 a minute the empty bucket gains a token a second.
        patch_key(self, self.server, key_id, {"rpm": 60})
        r = self.server.request("GET", "/v1/credits", key=key)
        self.assertEqual(r.status, 429, r.body)
        self.assertEqual(r.header("Retry-After"), "1")
        time.sleep(1.1)
        self.assertEqual(self.server.request("GET", "/v1/credits", key=key).status, 200)
        # Unlimited again.
        patch_key(self, self.server, key_id, {"rpm": 0})
        for _ in range(5):
            self.assertEqual(self.server.request("GET", "/v1/credits", key=key).status, 200)

    def test_61_quick_requests_at_60_a_minute(self):
        key, key_id, _ = admin_create_key(self.server, "rpm60", rpm=60)
        start = time.monotonic()
        passed = 0
        for _ in range(200):
            r = self.server.request("GET", "/v1/credits", key=key)
            if r.status != 200:
                break
            passed += 1
        elapsed = time.monotonic() - start
        self.assertEqual(r.status, 429, r.body)
        self.assertEqual(r.header("Retry-After"), "1")
        # A full bucket of 60, plus what refilled (one a second) while they ran.
        self.assertGreaterEqual(passed, 60)
        self.assertLessEqual(passed, 60 + int(elapsed) + 1)

    def test_spend_limits(self):
        key, key_id, account = admin_create_key(self.server, "spend", credits=100)
        o = patch_key(self, self.server, key_id, {"spend_limits": {"total": 5}})
        self.assertEqual(o["spend_limits"], {"hourly": None, "daily": None, "total": 5})
        self.assertEqual(create(self.server, key, "generations", "first").status, 200)
        r = create(self.server, key, "generations", "second")
        self.assertEqual(r.status, 429, r.body)
        self.assertEqual(r.json()["error"]["code"], "spend_limit_exceeded")
        self.assertIsNone(r.header("Retry-After"))  # a total limit never frees itself
        for dialect, word in (("jobs", 429), ("tasks", "SPEND_LIMIT_EXCEEDED"),
                              ("unified", "spend_limit_exceeded")):
            r = create(self.server, key, dialect, "over")
            self.assertEqual(r.status, 429, r.body)
            self.assertEqual(error_word(dialect, r), word)
        # A higher limit holds at once (the PATCH drops this node's cached key).
        patch_key(self, self.server, key_id, {"spend_limits": {"total": 10}})
        self.assertEqual(create(self.server, key, "generations", "second").status, 200)
        r = create(self.server, key, "jobs", "third")
        self.assertEqual(r.status, 429, r.body)  # 9.4 + 4.7 > 10
        # An hourly window says when it frees.
        patch_key(self, self.server, key_id, {"spend_limits": {"total": None, "hourly": 12}})
        r = create(self.server, key, "tasks", "hourly")
        self.assertEqual(r.status, 429, r.body)
        self.assertEqual(error_word("tasks", r), "SPEND_LIMIT_EXCEEDED")
        retry = int(r.header("Retry-After"))
        self.assertGreaterEqual(retry, 1)
        self.assertLessEqual(retry, 3600)
        patch_key(self, self.server, key_id, {"spend_limits": {"hourly": None}})
        self.assertEqual(create(self.server, key, "tasks", "free").status, 200)
        wait_all_terminal(self.server, key_id)
        self.assertEqual(query(self.server, "SELECT COUNT(*) FROM ledger WHERE key_id = ? AND "
                                            "kind = 'hold'", (key_id,))[0][0], 3)
        check_books(self, self.server)
        _, data = credits_of(self.server, key)
        self.assertEqual(micros(data["balance"]), 100 * MICRO - 3 * 4_700_000)

    def test_ip_allowlist_without_trusted_proxies(self):
        key, key_id, _ = admin_create_key(self.server, "ips")
        o = patch_key(self, self.server, key_id, {"ip_allowlist": ["10.0.0.0/8"]})
        self.assertEqual(o["ip_allowlist"], ["10.0.0.0/8"])
        for headers in ({}, {"X-Forwarded-For": "10.1.2.3"}):
            r = create(self.server, key, "generations", "from here", headers=headers)
            self.assertEqual(r.status, 403, r.body)
            self.assertEqual(r.json()["error"]["code"], "ip_not_allowed")
            self.assertEqual(r.json()["error"]["type"], "permission_error")
            r = self.server.request("GET", "/v1/credits", key=key, headers=headers)
            self.assertEqual(r.status, 403, r.body)
            r = create(self.server, key, "jobs", "from here", headers=headers)
            self.assertEqual((r.status, r.json()["code"]), (403, 403))
        patch_key(self, self.server, key_id, {"ip_allowlist": ["127.0.0.1/32"]})
        self.assertEqual(self.server.request("GET", "/v1/credits", key=key).status, 200)
        patch_key(self, self.server, key_id, {"ip_allowlist": ["10.0.0.0/8"]})
        self.assertEqual(self.server.request("GET", "/v1/credits", key=key).status, 403)
        patch_key(self, self.server, key_id, {"ip_allowlist": []})
        self.assertEqual(self.server.request("GET", "/v1/credits", key=key).status, 200)

    def test_a_disabled_key_is_refused_at_once(self):
        key, key_id, _ = admin_create_key(self.server, "disable-me")
        self.assertEqual(self.server.request("GET", "/v1/credits", key=key).status, 200)
        self.assertTrue(patch_key(self, self.server, key_id, {"disabled": True})["disabled"])
        r = self.server.request("GET", "/v1/credits", key=key)
        self.assertEqual(r.status, 401, r.body)
        r = create(self.server, key, "generations", "disabled")
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.json()["error"]["code"], "invalid_api_key")
        r = create(self.server, key, "jobs", "disabled")
        self.assertEqual((r.status, r.json()["code"]), (401, 401))
        patch_key(self, self.server, key_id, {"disabled": False})
        self.assertEqual(self.server.request("GET", "/v1/credits", key=key).status, 200)


class ActiveLimitAndProxyTest(ServerCase):
    settings = admin_settings(**{"sandbox.latency_ms": "3000",
                                 "auth.trusted_proxies": "127.0.0.1/32"})

    def cancel(self, key, task_id, headers=None):
        r = self.server.request("POST", "/v1/tasks/%s/cancel" % task_id, key=key, headers=headers)
        self.assertEqual(r.status, 200, r.body)

    def test_active_task_limit(self):
        key, key_id, _ = admin_create_key(self.server, "active", credits=100)
        patch_key(self, self.server, key_id, {"max_active": 1})
        r = create(self.server, key, "jobs", "first")
        self.assertEqual(r.status, 200, r.body)
        first = task_id_of("jobs", r)
        r = create(self.server, key, "jobs", "second")
        self.assertEqual(r.status, 409, r.body)
        self.assertEqual(r.json()["code"], 409)
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        for dialect, word in (("generations", "rate_limit_exceeded"),
                              ("tasks", "ACTIVE_TASK_LIMIT"), ("unified", "rate_limit_exceeded")):
            r = create(self.server, key, dialect, "second")
            self.assertEqual(r.status, 429, r.body)
            self.assertEqual(error_word(dialect, r), word)
            self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        data, _ = self.server.wait_job(key, first, timeout=30)
        self.assertEqual(data["state"], "success")
        r = create(self.server, key, "generations", "after the first")
        self.assertEqual(r.status, 200, r.body)
        second = task_id_of("generations", r)
        # A higher limit holds at once.
        patch_key(self, self.server, key_id, {"max_active": 2})
        r = create(self.server, key, "tasks", "third")
        self.assertEqual(r.status, 200, r.body)
        third = task_id_of("tasks", r)
        r = create(self.server, key, "jobs", "fourth")
        self.assertEqual(r.status, 409, r.body)
        # A cancelled task frees its place.
        self.cancel(key, second)
        r = create(self.server, key, "unified", "fourth")
        self.assertEqual(r.status, 200, r.body)
        self.cancel(key, third)
        self.cancel(key, task_id_of("unified", r))
        wait_all_terminal(self.server, key_id)
        books = check_books(self, self.server)
        self.assertEqual(sorted(s for t, (s, _, _) in books.items()
                                if t in (first, second, third)),
                         ["cancelled", "cancelled", "succeeded"])
        self.assertEqual(query(self.server, "SELECT COUNT(*) FROM tasks WHERE key_id = ?",
                               (key_id,))[0][0], 4)

    def test_forwarded_for_counts_through_a_trusted_proxy(self):
        key, key_id, _ = admin_create_key(self.server, "proxied")
        patch_key(self, self.server, key_id, {"ip_allowlist": ["10.0.0.0/8"]})
        cases = [({}, 403), ({"X-Forwarded-For": "10.1.2.3"}, 200),
                 ({"X-Forwarded-For": "10.1.2.3, 127.0.0.1"}, 200),  # a trusted hop is skipped
                 ({"X-Forwarded-For": "10.1.2.3, 192.168.1.1"}, 403),  # the client is the last
                 ({"X-Forwarded-For": "192.168.1.1"}, 403)]
        for headers, status in cases:
            r = self.server.request("GET", "/v1/credits", key=key, headers=headers)
            self.assertEqual(r.status, status, (headers, r.body))
            if status == 403:
                self.assertEqual(r.json()["error"]["code"], "ip_not_allowed")
        r = create(self.server, key, "generations", "via proxy",
                   headers={"X-Forwarded-For": "10.1.2.3"})
        self.assertEqual(r.status, 200, r.body)
        self.cancel(key, task_id_of("generations", r), headers={"X-Forwarded-For": "10.1.2.3"})
        r = create(self.server, key, "generations", "direct")
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(r.json()["error"]["code"], "ip_not_allowed")


# --- 5


class AdminApiTest(ServerCase):
    settings = admin_settings()

    def test_who_may_use_it(self):
        user_key, _, _ = admin_create_key(self.server, "a user")
        for method, path, body in (("GET", "/admin/v1/keys", None),
                                   ("POST", "/admin/v1/keys", {"name": "x"}),
                                   ("GET", "/admin/v1/usage", None),
                                   ("GET", "/admin/v1/nothing-here", None)):
            r = admin(self.server, method, path, body, token=None)
            self.assertEqual(r.status, 401, (path, r.body))
            self.assertEqual(r.header("WWW-Authenticate"), "Bearer")
            self.assertTrue(r.json()["error"]["message"])
            r = admin(self.server, method, path, body, token=ADMIN_TOKEN + "x")
            self.assertEqual(r.status, 401, (path, r.body))
            r = admin(self.server, method, path, body, token=ADMIN_TOKEN[:-1])
            self.assertEqual(r.status, 401, (path, r.body))
            r = admin(self.server, method, path, body, token=user_key)
            self.assertEqual(r.status, 403, (path, r.body))
            self.assertTrue(r.json()["error"]["message"])
        self.assertEqual(len(query(self.server, "SELECT id FROM api_keys")),
                         len(admin(self.server, "GET", "/admin/v1/keys").json()["data"]))
        self.assertEqual(admin(self.server, "GET", "/admin/v1/nothing-here").status, 404)

    def test_keys_secrets_rotation_and_credits(self):
        r = admin(self.server, "POST", "/admin/v1/keys", {"name": "shown once", "credits": 10})
        self.assertEqual(r.status, 201, r.body)
        created = r.json()
        secret = created["key"]
        self.assertRegex(secret, r"^sk-[A-Za-z0-9_-]{40,}$")
        self.assertEqual(created["prefix"], secret[:10])
        key_id, account = created["id"], created["account_id"]
        self.assertEqual(key_row(self.server, secret), (key_id, account))
        later = []
        r = admin(self.server, "GET", "/admin/v1/keys")
        self.assertEqual(r.status, 200)
        later.append(r)
        self.assertIn(key_id, [k["id"] for k in r.json()["data"]])
        self.assertTrue(all("key" not in k for k in r.json()["data"]))
        r = admin(self.server, "GET", "/admin/v1/keys/%d" % key_id)
        self.assertEqual(r.status, 200)
        later.append(r)
        self.assertEqual(r.json()["name"], "shown once")
        self.assertNotIn("key", r.json())
        later.append(admin(self.server, "PATCH", "/admin/v1/keys/%d" % key_id, {"name": "renamed"}))
        self.assertEqual(later[-1].json()["name"], "renamed")
        later.append(admin(self.server, "GET", "/admin/v1/accounts/%d" % account))
        self.assertEqual(later[-1].status, 200)
        self.assertEqual(micros(later[-1].json()["balance"]), 10 * MICRO)
        self.assertTrue(later[-1].json()["metered"])
        _, data = credits_of(self.server, secret)
        self.assertEqual(micros(data["balance"]), 10 * MICRO)
        # A second key in the same account shares its balance.
        r = admin(self.server, "POST", "/admin/v1/keys", {"name": "sibling", "account_id": account})
        self.assertEqual(r.status, 201, r.body)
        sibling = r.json()["key"]
        self.assertEqual(r.json()["account_id"], account)
        # A top-up shows in GET /v1/credits of both.
        r = admin(self.server, "POST", "/admin/v1/accounts/%d/credits" % account,
                  {"amount": 4.7, "reason": "test"})
        self.assertEqual(r.status, 200, r.body)
        later.append(r)
        self.assertEqual(micros(r.json()["balance"]), 14_700_000)
        for k in (secret, sibling):
            text, data = credits_of(self.server, k)
            self.assertIn('"balance":14.7,', text)
            self.assertEqual(micros(data["total_purchased"]), 14_700_000)
        # A negative adjustment.
        r = admin(self.server, "POST", "/admin/v1/accounts/%d/credits" % account, {"amount": "-0.7"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(micros(credits_of(self.server, secret)[1]["balance"]), 14 * MICRO)
        # Rotation: a new secret, and the old one stops at once.
        self.assertEqual(self.server.request("GET", "/v1/credits", key=secret).status, 200)
        r = admin(self.server, "POST", "/admin/v1/keys/%d/rotate" % key_id)
        self.assertEqual(r.status, 200, r.body)
        rotated = r.json()["key"]
        self.assertNotEqual(rotated, secret)
        self.assertEqual(r.json()["id"], key_id)
        self.assertEqual(r.json()["prefix"], rotated[:10])
        self.assertEqual(self.server.request("GET", "/v1/credits", key=secret).status, 401)
        self.assertEqual(self.server.request("GET", "/v1/credits", key=rotated).status, 200)
        later.append(admin(self.server, "GET", "/admin/v1/keys"))
        later.append(admin(self.server, "GET", "/admin/v1/keys/%d" % key_id))
        for r in later:
            self.assertNotIn(secret.encode(), r.body)
            self.assertNotIn(secret[10:].encode(), r.body)
        for r in later[-2:]:
            self.assertNotIn(rotated.encode(), r.body)
            self.assertNotIn(sibling.encode(), r.body)

    def test_tasks_and_usage(self):
        key, key_id, _ = admin_create_key(self.server, "counted")
        other, other_id, _ = admin_create_key(self.server, "other")
        ids = []
        for i, dialect in enumerate(("jobs", "generations", "unified")):
            r = create(self.server, key, dialect, "counted %d" % i)
            self.assertEqual(r.status, 200, r.body)
            ids.append(task_id_of(dialect, r))
        self.assertEqual(create(self.server, other, "jobs", "not counted").status, 200)
        wait_all_terminal(self.server)
        r = admin(self.server, "GET", "/admin/v1/tasks?state=succeeded&key_id=%d" % key_id)
        self.assertEqual(r.status, 200, r.body)
        listed = r.json()
        self.assertEqual(listed["total"], 3)
        self.assertEqual(sorted(t["id"] for t in listed["data"]), sorted(ids))
        for t in listed["data"]:
            self.assertEqual((t["key_id"], t["state"], t["images"]), (key_id, "succeeded", 1))
            self.assertEqual(micros(t["price"]), 4_700_000)
        self.assertIn(b'"price":4.7', r.body)
        r = admin(self.server, "GET", "/admin/v1/tasks?state=failed&key_id=%d" % key_id)
        self.assertEqual(r.json()["total"], 0)
        r = admin(self.server, "GET", "/admin/v1/tasks?key_id=%d&page=2&page_size=2" % key_id)
        self.assertEqual((r.json()["total"], len(r.json()["data"])), (3, 1))
        r = admin(self.server, "GET", "/admin/v1/usage?key_id=%d" % key_id)
        self.assertEqual(r.status, 200, r.body)
        days = r.json()["data"]
        self.assertEqual(sum(d["tasks"] for d in days), 3)
        self.assertEqual(sum(d["images"] for d in days), 3)
        self.assertEqual(sum(micros(d["credits"]) for d in days), 3 * 4_700_000)
        r = admin(self.server, "GET", "/admin/v1/usage?key_id=%d" % other_id)
        self.assertEqual(sum(d["tasks"] for d in r.json()["data"]), 1)

    def test_bad_inputs_are_400_with_a_message(self):
        _, key_id, account = admin_create_key(self.server, "target")
        cases = [
            ("POST", "/admin/v1/keys", "not json"),
            ("POST", "/admin/v1/keys", {}),
            ("POST", "/admin/v1/keys", {"name": "x", "rpm": -1}),
            ("POST", "/admin/v1/keys", {"name": "x", "rpm": "60"}),
            ("POST", "/admin/v1/keys", {"name": "x", "bogus": 1}),
            ("POST", "/admin/v1/keys", {"name": "x", "credits": -5}),
            ("POST", "/admin/v1/keys", {"name": "x", "credits": "abc"}),
            ("POST", "/admin/v1/keys", {"name": "x", "ip_allowlist": "10.0.0.0/8"}),
            ("PATCH", "/admin/v1/keys/%d" % key_id, {"spend_limits": {"weekly": 1}}),
            ("PATCH", "/admin/v1/keys/%d" % key_id, {"spend_limits": {"total": -1}}),
            ("PATCH", "/admin/v1/keys/%d" % key_id, {"ip_allowlist": ["not-a-cidr"]}),
            ("PATCH", "/admin/v1/keys/%d" % key_id, {"disabled": "yes"}),
            ("PATCH", "/admin/v1/keys/%d" % key_id, {"max_active": 1.5}),
            ("PATCH", "/admin/v1/keys/%d" % key_id, {"key": "sk-mine"}),
            ("POST", "/admin/v1/accounts/%d/credits" % account, {}),
            ("POST", "/admin/v1/accounts/%d/credits" % account, {"amount": 0}),
            ("POST", "/admin/v1/accounts/%d/credits" % account, {"amount": "x"}),
            ("POST", "/admin/v1/accounts/%d/credits" % account, {"amount": 5, "kind": "gift"}),
            ("POST", "/admin/v1/accounts/%d/credits" % account, {"amount": -1, "kind": "topup"}),
            ("GET", "/admin/v1/keys/abc", None),
            ("GET", "/admin/v1/keys/-1", None),
        ]
        for method, path, body in cases:
            r = admin(self.server, method, path, body)
            self.assertEqual(r.status, 400, (method, path, body, r.body))
            self.assertTrue(r.json()["error"]["message"], r.body)
        # Nothing was changed by the refused patches and top-ups.
        k = admin(self.server, "GET", "/admin/v1/keys/%d" % key_id).json()
        self.assertEqual((k["rpm"], k["max_active"], k["ip_allowlist"], k["disabled"]),
                         (0, 0, [], False))
        self.assertEqual(k["spend_limits"], {"hourly": None, "daily": None, "total": None})
        a = admin(self.server, "GET", "/admin/v1/accounts/%d" % account).json()
        self.assertEqual((a["balance"], a["total_purchased"]), (0, 0))
        for method, path, body in (("GET", "/admin/v1/keys/999999", None),
                                   ("PATCH", "/admin/v1/keys/999999", {"rpm": 1}),
                                   ("POST", "/admin/v1/keys/999999/rotate", None),
                                   ("GET", "/admin/v1/accounts/999999", None),
                                   ("POST", "/admin/v1/accounts/999999/credits", {"amount": 1})):
            r = admin(self.server, method, path, body)
            self.assertEqual(r.status, 404, (path, r.body))

    def test_bad_query_parameters_are_400(self):
        for path in ("/admin/v1/tasks?state=bogus", "/admin/v1/tasks?key_id=x",
                     "/admin/v1/tasks?page=0", "/admin/v1/tasks?page_size=1000",
                     "/admin/v1/tasks?since=yesterday", "/admin/v1/usage?key_id=-2",
                     "/admin/v1/usage?from=yesterday", "/admin/v1/usage?to=2026-13-45"):
            r = admin(self.server, "GET", path)
            self.assertEqual(r.status, 400, (path, r.body))
            self.assertTrue(r.json()["error"]["message"], r.body)

    def test_off_without_a_token(self):
        server = Server().start()
        try:
            key = server.create_key("no admin")
            for token in (None, ADMIN_TOKEN, key):
                r = admin(server, "GET", "/admin/v1/keys", token=token)
                self.assertEqual(r.status, 404, r.body)
        finally:
            server.cleanup()
        short = Server(settings={"admin.token": "too-short"})
        try:
            with self.assertRaises(RuntimeError):  # refused at startup
                short.start()
        finally:
            short.cleanup()


# --- 6


class CliTest(ServerCase):
    settings = admin_settings(**{"auth.key_cache_ms": "100"})

    def test_keys_and_credits_on_the_data_dir(self):
        key, key_id, account = cli_create_key(self.server, "cli", credits="9.4")
        self.assertEqual(key_row(self.server, key), (key_id, account))
        out = cli("credits", "add", "--key-prefix", key[:10], "--amount", "4.7",
                  "--data-dir", self.server.data_dir)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("balance 14.1", out.stdout)
        text, data = credits_of(self.server, key)
        self.assertIn('"balance":14.1,', text)
        self.assertEqual(micros(data["total_purchased"]), 14_100_000)
        self.assertEqual(balance_and_sum(self.server, account), (14_100_000, 14_100_000))
        self.check_list(["--data-dir", self.server.data_dir], key, key_id)
        # Disabled in the database: the server stops taking it once its cache entry expires.
        self.assertEqual(self.server.request("GET", "/v1/credits", key=key).status, 200)
        out = cli("keys", "disable", str(key_id), "--data-dir", self.server.data_dir)
        self.assertEqual(out.returncode, 0, out.stderr)
        deadline = time.monotonic() + 5  # auth.key_cache_ms is 100
        while self.server.request("GET", "/v1/credits", key=key).status != 401:
            self.assertLess(time.monotonic(), deadline, "a disabled key is still accepted")
            time.sleep(0.02)
        self.assertEqual(create(self.server, key, "jobs", "disabled").status, 401)
        out = cli("keys", "list", "--data-dir", self.server.data_dir)
        line = [l for l in out.stdout.splitlines() if l.startswith("%d\t" % key_id)]
        self.assertEqual(len(line), 1, out.stdout)
        self.assertIn("disabled", line[0])

    def test_keys_and_credits_through_the_admin_api(self):
        key, key_id, account = cli_create_key(self.server, "remote", credits="9.4", remote=True)
        self.assertEqual(key_row(self.server, key), (key_id, account))
        out = cli("credits", "add", "--key-prefix", key[:10], "--amount", "4.7",
                  *remote_args(self.server))
        self.assertEqual(out.returncode, 0, out.stderr)
        text, data = credits_of(self.server, key)
        self.assertIn('"balance":14.1,', text)
        self.check_list(remote_args(self.server), key, key_id)
        # Unmetered when created without credits.
        free, free_id, free_account = cli_create_key(self.server, "remote free", remote=True)
        self.assertEqual(query(self.server, "SELECT metered FROM accounts WHERE id = ?",
                               (free_account,))[0][0], 0)
        self.assertEqual(self.server.request("GET", "/v1/credits", key=key).status, 200)
        out = cli("keys", "disable", str(key_id), *remote_args(self.server))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.server.request("GET", "/v1/credits", key=key).status, 401)
        self.assertEqual(self.server.request("GET", "/v1/credits", key=free).status, 200)
        # A wrong token or no token at all.
        out = cli("keys", "list", "--server", self.server.base, "--admin-token", "x" * 20)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("401", out.stderr)
        out = cli("keys", "list", "--server", self.server.base)
        self.assertEqual(out.returncode, 2, out.stderr)
        out = cli("credits", "add", "--key-prefix", "sk-nonexistent", "--amount", "1",
                  *remote_args(self.server))
        self.assertNotEqual(out.returncode, 0)

    def test_remote_credits_add_prints_a_plain_balance(self):
        key, _, _ = cli_create_key(self.server, "printed", credits="9.4", remote=True)
        out = cli("credits", "add", "--key-prefix", key[:10], "--amount", "4.7",
                  *remote_args(self.server))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("balance 14.1 credits", out.stdout)  # as on the data dir, not 1.41E1

    def check_list(self, target, key, key_id):
        out = cli("keys", "list", *target)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn(key, out.stdout + out.stderr)
        self.assertNotIn(key[10:], out.stdout + out.stderr)
        self.assertIsNone(re.search(r"sk-[A-Za-z0-9_-]{12,}", out.stdout + out.stderr),
                          out.stdout)
        line = [l for l in out.stdout.splitlines() if l.startswith("%d\t" % key_id)]
        self.assertEqual(len(line), 1, out.stdout)
        self.assertIn(key[:10], line[0])


# --- 7


class CreditsShapeTest(ServerCase):
    settings = admin_settings()

    def test_exact_shape_and_plain_decimals(self):
        key, key_id, _ = admin_create_key(self.server, "shape", credits=4.7)
        r = self.server.request("GET", "/v1/credits", key=key)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        text = r.body.decode()
        m = CREDITS_BODY.match(text)
        self.assertTrue(m, text)
        self.assertEqual((m.group(1), m.group(2)), ("4.7", "4.7"))
        self.assertEqual(float(m.group(3)), 0)
        self.assertEqual(r.json(), {"code": 200, "msg": "success",
                                    "data": {"balance": 4.7, "total_purchased": 4.7,
                                             "total_consumed": 0}})
        self.assertEqual(create(self.server, key, "tasks", "all of it").status, 200)
        wait_all_terminal(self.server, key_id)
        text, _ = credits_of(self.server, key)
        self.assertRegex(text, r'"balance":0,"total_purchased":4\.7,"total_consumed":4\.7\}')
        # A fraction below one.
        small, small_id, _ = admin_create_key(self.server, "small", credits=1)
        self.assertEqual(create(self.server, small, "jobs", "cheap", quality="low").status, 200)
        wait_all_terminal(self.server, small_id)
        text, _ = credits_of(self.server, small)
        self.assertIn('"balance":0.483,"total_purchased":1,"total_consumed":0.517}', text)
        # Not for the anonymous nor by another method.
        self.assertEqual(self.server.request("GET", "/v1/credits").status, 401)
        self.assertEqual(self.server.request("POST", "/v1/credits", key=key, body={}).status, 405)

    def test_large_and_tiny_amounts_are_plain_decimals(self):
        for credits, text in ((100000, "100000"), (2000000, "2000000"), ("0.0001", "0.0001"),
                              ("0.000001", "0.000001")):
            key, _, account = admin_create_key(self.server, "amount %s" % text, credits=credits)
            r = self.server.request("GET", "/v1/credits", key=key)
            self.assertEqual(r.body.decode(),
                             '{"code":200,"msg":"success","data":{"balance":%s,'
                             '"total_purchased":%s,"total_consumed":0}}' % (text, text))
            r = admin(self.server, "GET", "/admin/v1/accounts/%d" % account)
            self.assertIn('"balance":%s,' % text, r.body.decode())

    def test_an_unmetered_key_goes_negative(self):
        key = self.server.create_key("unmetered")
        key_id, account = key_row(self.server, key)
        _, data = credits_of(self.server, key)
        self.assertEqual(data, {"balance": 0, "total_purchased": 0, "total_consumed": 0})
        for i, dialect in enumerate(("jobs", "unified")):
            r = create(self.server, key, dialect, "on account %d" % i)
            self.assertEqual(r.status, 200, r.body)
        text, data = credits_of(self.server, key)
        self.assertIn('"balance":-9.4,', text)
        wait_all_terminal(self.server, key_id)
        text, data = credits_of(self.server, key)
        self.assertIn('"balance":-9.4,"total_purchased":0,"total_consumed":9.4}', text)
        self.assertEqual(create(self.server, key, "generations", "still fine").status, 200)
        self.assertEqual(balance_and_sum(self.server, account)[0], -3 * 4_700_000)
        wait_all_terminal(self.server, key_id)
        check_books(self, self.server)


if __name__ == "__main__":
    unittest.main()
