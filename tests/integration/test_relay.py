"""The `relay` provider: imagegate A sends its work to imagegate B (the sandbox) through each of
B's four task dialects, and keeps the images after B is gone.

A is started with a [providers.up] kind = "relay" section pointing at B and [routing]
"gpt-image-2" = ["up"]; B's key reaches A through the UP_KEY environment variable.
"""
import json
import os
import signal
import sqlite3
import time
import unittest
import urllib.parse

from harness import Server, png_size

DIALECTS = ("jobs", "tasks", "generations", "unified")
T2I = "gpt-image-2-text-to-image"
KEY_ENV = "UP_KEY"

# What each of A's dialects promises for the request create() sends in it.
PROMISED = {
    "jobs": (1248, 832),         # 3:2 at 1K, seed 001's table (jobs shares it)
    "tasks": (1360, 768),        # 16:9 at 1K, the same table
    "generations": (1536, 1024),  # 3:2 at 1k, seed 004's own table
    "unified": (1024, 1536),     # an explicit WxH is kept exactly
}

# How each of B's dialects names its tasks (A records B's id on its task).
UPSTREAM_ID_PREFIX = {"tasks": "tk-hiapi-", "unified": "task-unified-"}


def relay_config(port, dialect, **extra):
    table = {"kind": "relay", "dialect": dialect, "base_url": "http://127.0.0.1:%d" % port,
             "api_key_env": KEY_ENV, "poll_interval_ms": 100, "poll_max_interval_ms": 300,
             "timeout_ms": 60000}
    table.update(extra)
    lines = ["[providers.up]"]
    lines += ["%s = %s" % (k, v if isinstance(v, int) else json.dumps(v)) for k, v in table.items()]
    lines += ["", "[routing]", '"gpt-image-2" = ["up"]', ""]
    return "\n".join(lines)


def create(server, key, dialect):
    """Creates the task of PROMISED[dialect] in A's `dialect`; returns its id."""
    if dialect in ("jobs", "tasks"):
        ratio = "3:2" if dialect == "jobs" else "16:9"
        path = "/api/v1/jobs/createTask" if dialect == "jobs" else "/v1/tasks"
        body = {"model": T2I, "input": {"prompt": "a relay of red foxes", "aspect_ratio": ratio,
                                        "resolution": "1K"}}
        r = server.request("POST", path, body, key=key)
        assert r.status == 200, (dialect, r.status, r.body)
        return r.json()["data"]["taskId"]
    if dialect == "generations":
        body = {"model": "gpt-image-2",
                "input": {"prompt": "a relay of red foxes", "aspect_ratio": "3:2",
                          "resolution": "1k"}}
        r = server.request("POST", "/v1/images/generations", body, key=key)
        assert r.status == 200, (dialect, r.status, r.body)
        return r.json()["data"]["taskId"]
    body = {"model": "gpt-image-2", "prompt": "a relay of red foxes", "size": "1024x1536"}
    r = server.request("POST", "/v1/images/generations", body, key=key)
    assert r.status == 200, (dialect, r.status, r.body)
    return r.json()["id"]


def outcome(server, key, dialect, task_id):
    """(state, result URLs, raw) once the task ended, else None; state is "success" or "fail"."""
    if dialect == "jobs":
        r = server.record(key, task_id)
        assert r.status == 200, (r.status, r.body)
        d = r.json()["data"]
        if d["state"] in ("success", "fail"):
            urls = json.loads(d["resultJson"])["resultUrls"] if d["state"] == "success" else []
            return d["state"], urls, d
        return None
    r = server.request("GET", "/v1/tasks/" + urllib.parse.quote(task_id), key=key)
    assert r.status == 200, (r.status, r.body)
    j = r.json()
    if dialect == "tasks":
        d = j["data"]
        if d["status"] in ("success", "fail"):
            return d["status"], [o["url"] for o in d.get("output") or []], d
        return None
    if j["status"] == "completed":
        return "success", (j["output"]["urls"] if dialect == "generations" else j["results"]), j
    if j["status"] == "failed":
        return "fail", [], j
    return None


def wait_task(server, key, dialect, task_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = outcome(server, key, dialect, task_id)
        if out is not None:
            return out
        time.sleep(0.05)
    raise AssertionError("task %s (%s) did not end within %d s" % (task_id, dialect, timeout))


def db_rows(server, sql, args=()):
    db = sqlite3.connect(os.path.join(server.data_dir, "imagegate.db"))
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def listed_total(server, key):
    """B's own count of the key's tasks: GET /v1/tasks (the tasks dialect's list)."""
    r = server.request("GET", "/v1/tasks?page=1&page_size=50", key=key)
    assert r.status == 200, (r.status, r.body)
    return r.json()["data"]["total"]


class RelayCase(unittest.TestCase):
    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            if os.environ.get("IG_TEST_VERBOSE"):
                print(s.log_text()[-4000:])
            s.cleanup()

    def upstream(self, settings=None):
        b = Server(settings=settings or {})
        self.servers.append(b)
        key = b.create_key("gateway-a")
        b.start()
        return b, key

    def gateway(self, b, b_key, dialect, settings=None, **extra):
        a = Server(settings=settings or {}, env={KEY_ENV: b_key},
                   config_text=relay_config(b.port, dialect, **extra))
        self.servers.append(a)
        key = a.create_key("client")
        a.start()
        return a, key


class RelayDialectsTest(RelayCase):
    def test_every_upstream_dialect_from_every_client_dialect(self):
        b, b_key = self.upstream()
        kept = []  # (A, its result URL, the promised size)
        for i, upstream_dialect in enumerate(DIALECTS):
            a, a_key = self.gateway(b, b_key, upstream_dialect)
            # A's jobs dialect on every upstream, and each of A's dialects once.
            for client_dialect in dict.fromkeys(("jobs", DIALECTS[(i + 1) % len(DIALECTS)])):
                with self.subTest(upstream=upstream_dialect, client=client_dialect):
                    task_id = create(a, a_key, client_dialect)
                    state, urls, raw = wait_task(a, a_key, client_dialect, task_id)
                    self.assertEqual(state, "success", raw)
                    self.assertEqual(len(urls), 1, raw)
                    r = a.get_url(urls[0])
                    self.assertEqual(r.status, 200)
                    self.assertEqual(png_size(r.body), PROMISED[client_dialect])
                    row = db_rows(a, "SELECT upstream_route, upstream_id FROM tasks WHERE id = ?",
                                  (task_id,))[0]
                    self.assertEqual(row["upstream_route"], "up")
                    self.assertTrue(row["upstream_id"].startswith(
                        UPSTREAM_ID_PREFIX.get(upstream_dialect, "")), row["upstream_id"])
                    kept.append((a, urls[0], PROMISED[client_dialect]))
        # B made exactly one task per task of A.
        self.assertEqual(listed_total(b, b_key), len(kept))
        # A keeps its own copies: B gone, A's URLs still serve the images.
        b.stop()
        for a, url, size in kept:
            r = a.get_url(url)
            self.assertEqual(r.status, 200, url)
            self.assertEqual(png_size(r.body), size)

    def test_an_upstream_refusal_fails_the_task_with_the_upstreams_reason(self):
        b, b_key = self.upstream()
        # A's key for B is wrong: B answers 401, a route fault; with no other route the task
        # fails, and nothing was created on B.
        a = Server(env={KEY_ENV: "sk-not-a-key-of-b"},
                   config_text=relay_config(b.port, "tasks"))
        self.servers.append(a)
        a_key = a.create_key("client")
        a.start()
        task_id = create(a, a_key, "jobs")
        state, _, raw = wait_task(a, a_key, "jobs", task_id)
        self.assertEqual(state, "fail", raw)
        self.assertEqual(raw["failCode"], "upstream_error", raw)
        self.assertEqual(listed_total(b, b_key), 0)
        self.assertNotIn("sk-not-a-key-of-b", json.dumps(raw))


class RelayResumeTest(RelayCase):
    def test_kill_9_while_polling_resumes_the_same_upstream_task(self):
        b, b_key = self.upstream({"sandbox.latency_ms": "4000"})
        lease = {"dispatcher.lease_ms": "1000"}
        a, a_key = self.gateway(b, b_key, "unified", settings=lease)
        task_id = create(a, a_key, "jobs")
        # Polling: B holds the task and A has recorded B's id.
        deadline = time.monotonic() + 15
        while True:
            row = db_rows(a, "SELECT state, upstream_id FROM tasks WHERE id = ?", (task_id,))[0]
            if row["upstream_id"]:
                break
            self.assertLess(time.monotonic(), deadline, "A never recorded an upstream id")
            time.sleep(0.02)
        upstream_id = row["upstream_id"]
        self.assertTrue(upstream_id.startswith("task-unified-"), upstream_id)
        self.assertEqual(listed_total(b, b_key), 1)
        a.kill(signal.SIGKILL)
        self.assertEqual(db_rows(a, "SELECT state FROM tasks WHERE id = ?", (task_id,))[0][0],
                         "running")

        a.start()  # same data dir and config; the lease runs out after a second
        state, urls, raw = wait_task(a, a_key, "jobs", task_id, timeout=60)
        self.assertEqual(state, "success", raw)
        self.assertEqual(png_size(a.get_url(urls[0]).body), PROMISED["jobs"])
        row = db_rows(a, "SELECT attempt, upstream_id FROM tasks WHERE id = ?", (task_id,))[0]
        self.assertEqual(row["upstream_id"], upstream_id)
        self.assertGreaterEqual(row["attempt"], 2)
        # The resumed run asked B about the same task instead of paying for a second one.
        self.assertEqual(listed_total(b, b_key), 1)
        self.assertEqual(db_rows(b, "SELECT COUNT(*) FROM tasks")[0][0], 1)


if __name__ == "__main__":
    unittest.main()
