"""Crash suite (#11): `imagegate serve` under a scripted load, SIGKILLed at random moments and
restarted on the same data dir (and store), with RELIABILITY.md's invariants checked after every
restart and once everything has settled.

The load: worker threads create tasks in every dialect (the four asynchronous ones with and
without a callback URL to a local HTTPS receiver, and the synchronous openai one), on a metered
account with plenty of credits, a metered account with a few tasks' worth (402s, and cancels that
give credit back) and an unmetered one, some with an Idempotency-Key (replayed later: the same
task), and cancel and poll the tasks they got. The sandbox fails a share of runs (refunds) and
its runs last a few hundred ms, so kills land before, during and after runs, commits and
callbacks. A create whose answer was lost to a kill and that had an Idempotency-Key is retried
after the restart, as a client would.

Checked after each restart (invariants.check, through the admin API; outbox rows from the
database) and at the end (also invariants.check_deliveries, on what the receiver got):
- every create answered 2xx with a task id is found; at the end every task has ended; no task
  exists that no create asked for; an ended task never changes; a cancel answered 200 is a
  cancelled task; polls never answer 404 for an accepted task;
- one hold per task, at most one capture or refund, the right one once ended; every balance is
  its ledger's sum; a metered balance never goes below 0;
- a create sent with an Idempotency-Key makes at most one task, however often it is retried
  around the kills, and a replay answers the same task; one whose key still answers 409 (its
  first request died before its task was committed) has made none;
- one outbox row per ended task that asked for a callback (none for the others);
- every such callback is delivered at least once, every delivery of a task carries the task's one
  webhook-id (the admin API's), distinct per task, with a valid Standard Webhooks signature.

Environment: IMAGEGATE_CRASH_SEED (printed at start; replays a run's choices and kill times),
IMAGEGATE_CRASH_CYCLES (default 20; e.g. 200 for a long local run), IMAGEGATE_TEST_STORE_URL
(the store; default SQLite in the data dir; see invariants.py), IG_KEEP_DATA=1 keeps the data dir.
"""
import http.client
import os
import random
import signal
import sys
import threading
import time
import unittest
import urllib.parse
import uuid

import invariants as inv
from callback_receiver import Receiver
from harness import HttpsFixture, Server

ADMIN = "crash-suite-admin-token-0123456789"
T2I = "gpt-image-2-text-to-image"
DIALECTS = ("jobs", "tasks", "generations", "unified", "openai")
WORKERS = 4
CA = None


def setUpModule():
    global CA
    CA = HttpsFixture()  # its CA and server certificate only


def tearDownModule():
    if CA:
        CA.stop()


def create_request(dialect, prompt, callback_url):
    """(path, body) of a create in `dialect`, with the callback in the dialect's field."""
    if dialect == "jobs":
        body = {"model": T2I, "input": {"prompt": prompt}}
        if callback_url:
            body["callBackUrl"] = callback_url
        return "/api/v1/jobs/createTask", body
    if dialect == "tasks":
        body = {"model": T2I, "input": {"prompt": prompt}}
        if callback_url:
            body["callback"] = {"url": callback_url, "when": "final"}
        return "/v1/tasks", body
    if dialect == "generations":
        body = {"model": "gpt-image-2", "input": {"prompt": prompt}}
        if callback_url:
            body["callback_url"] = callback_url
        return "/v1/images/generations", body
    if dialect == "unified":
        body = {"model": "gpt-image-2", "prompt": prompt, "size": "1:1"}
        if callback_url:
            body["callback_url"] = callback_url
        return "/v1/images/generations", body
    assert dialect == "openai"
    return "/openai/v1/images/generations", {"model": "gpt-image-2", "prompt": prompt,
                                             "size": "1024x1024"}


def task_id_of(dialect, j):
    return j["id"] if dialect == "unified" else j["data"]["taskId"]


class Load:
    """The clients: WORKERS threads, paused and resumed around each kill."""

    def __init__(self, test, server, keys, receiver, seed):
        self.t, self.server, self.keys, self.receiver = test, server, keys, receiver
        self.seed = seed
        self.journal = inv.Journal()
        self.go = threading.Event()
        self.stop_all = False
        self.cond = threading.Condition()
        self.busy = 0
        self.idem_done = []     # (key name, idem key, path, body, task id) answered 2xx
        self.idem_pending = []  # (key name, dialect, idem key, path, body, callback) unanswered
        self.stats = {}
        self.idem_prompts = set()  # prompts of the creates sent with an Idempotency-Key
        self.threads = [threading.Thread(target=self.worker, args=(i,), daemon=True)
                        for i in range(WORKERS)]
        for th in self.threads:
            th.start()

    def stat(self, what):
        with self.cond:
            self.stats[what] = self.stats.get(what, 0) + 1

    def request(self, method, path, body=None, key=None, headers=None, timeout=15):
        """The response, or None when the connection failed (the server died under it)."""
        try:
            return self.server.request(method, path, body=body, key=key, headers=headers,
                                       timeout=timeout)
        except (OSError, http.client.HTTPException):
            return None

    # --- pausing
    def pause(self):
        """Returns once no worker is inside an operation."""
        self.go.clear()
        with self.cond:
            while self.busy:
                self.cond.wait(1)

    def resume(self):
        self.go.set()

    def finish(self):
        self.stop_all = True
        self.go.set()
        for th in self.threads:
            th.join(30)

    def worker(self, index):
        rng = random.Random("%d-%d" % (self.seed, index))
        n = 0
        while True:
            self.go.wait()
            if self.stop_all:
                return
            with self.cond:
                if not self.go.is_set():
                    continue
                self.busy += 1
            try:
                n += 1
                roll = rng.random()
                if roll < 0.55:
                    self.create(rng, "w%d-%d" % (index, n))
                elif roll < 0.75:
                    self.poll(rng)
                elif roll < 0.9:
                    self.cancel(rng)
                else:
                    self.replay(rng)
            except Exception as e:  # a bug in the suite, not the server: fail loudly
                self.journal.problem("worker %d: %r" % (index, e))
            finally:
                with self.cond:
                    self.busy -= 1
                    self.cond.notify_all()
            time.sleep(rng.uniform(0.0, 0.02))

    # --- operations
    def create(self, rng, tag):
        dialect = rng.choice(DIALECTS[:4] * 2 + ("openai",))
        key_name = rng.choice(("rich", "rich", "tight", "free"))
        callback = None
        if dialect != "openai" and rng.random() < 0.6:
            # A fifth of them answer 500 to the first attempt: a retry at 1 s delivers.
            callback = "/cb/%s/%s" % ("flaky" if rng.random() < 0.2 else "ok", tag)
        path, body = create_request(dialect, "crash %d %s" % (self.seed, tag),
                                    callback and self.receiver.url(callback))
        idem = "idem-%d-%s" % (self.seed, tag) if rng.random() < 0.3 else None
        if idem:
            with self.cond:
                self.idem_prompts.add("crash %d %s" % (self.seed, tag))
        self.send_create(key_name, dialect, idem, path, body, callback)

    def send_create(self, key_name, dialect, idem, path, body, callback, retry=False):
        headers = {"Idempotency-Key": idem} if idem else None
        if callback:
            with self.journal.lock:
                self.journal.attempts[callback] = {"dialect": dialect, "key": key_name,
                                                   "callback": callback}
        r = self.request("POST", path, body, key=self.keys[key_name]["secret"], headers=headers,
                         timeout=30)
        if r is None:
            self.stat("create: no answer")
            self.journal.count(self.journal.unknown, key_name)
            if idem:
                self.idem_pending.append((key_name, dialect, idem, path, body, callback))
            return
        if r.status == 200:
            self.stat("create %s" % dialect)
            if dialect == "openai":
                self.journal.count(self.journal.openai_ok, key_name)
                return
            tid = task_id_of(dialect, r.json())
            if retry and tid in self.journal.accepted:
                return  # the retry of a lost answer replayed a task already known
            self.journal.accept(tid, dialect=dialect, key=key_name, callback=callback,
                                prompt=body.get("prompt") or body["input"]["prompt"])
            if idem:
                self.idem_done.append((key_name, idem, path, body, tid))
            return
        if r.status == 409 and idem:
            self.stat("create: idempotency 409")
            self.idem_pending.append((key_name, dialect, idem, path, body, callback))
            return
        if dialect == "openai" and r.status >= 500:
            # A task that failed (the sandbox's simulated failures) or outlived the wait: it
            # exists, ended or not, and is no accepted id.
            self.stat("create openai: %d" % r.status)
            self.journal.count(self.journal.unknown, key_name)
            return
        if key_name == "tight" and r.status in (402, 429):
            self.stat("create: refused for the balance")
            return
        self.journal.problem("create %s (%s, idem %s): HTTP %d %s"
                             % (dialect, key_name, idem, r.status, r.body[:300]))

    def pick(self, rng):
        accepted, _ = self.journal.copy()
        if not accepted:
            return None, None
        tid = rng.choice(sorted(accepted))
        return tid, accepted[tid]

    def poll(self, rng):
        tid, info = self.pick(rng)
        if tid is None:
            return
        if info["dialect"] == "jobs":
            path = "/api/v1/jobs/recordInfo?taskId=" + urllib.parse.quote(tid)
        else:
            path = "/v1/tasks/" + urllib.parse.quote(tid)
        r = self.request("GET", path, key=self.keys[info["key"]]["secret"])
        if r is not None and r.status != 200:
            self.journal.problem("poll of accepted task %s: HTTP %d %s"
                                 % (tid, r.status, r.body[:200]))
        self.stat("poll")

    def cancel(self, rng):
        tid, info = self.pick(rng)
        if tid is None:
            return
        r = self.request("POST", "/v1/tasks/%s/cancel" % urllib.parse.quote(tid),
                         key=self.keys[info["key"]]["secret"], body={})
        if r is None:
            return
        if r.status == 200:
            with self.journal.lock:
                self.journal.cancel_acked.add(tid)
            self.stat("cancel: 200")
        elif r.status == 409:
            self.stat("cancel: 409")
        else:
            self.journal.problem("cancel of accepted task %s: HTTP %d %s"
                                 % (tid, r.status, r.body[:200]))

    def replay(self, rng):
        """An answered create with an Idempotency-Key, sent again: the same task."""
        if not self.idem_done:
            return
        key_name, idem, path, body, tid = rng.choice(self.idem_done)
        r = self.request("POST", path, body, key=self.keys[key_name]["secret"],
                         headers={"Idempotency-Key": idem})
        if r is None:
            return
        self.stat("replay")
        dialect = "unified" if tid.startswith("task-unified-") else "jobs"
        if r.status != 200 or task_id_of(dialect, r.json()) != tid:
            self.journal.problem("replay of %s (task %s): HTTP %d %s"
                                 % (idem, tid, r.status, r.body[:200]))

    def retry_pending(self):
        """Creates whose answer was lost, retried with their Idempotency-Key (in order)."""
        pending, self.idem_pending = self.idem_pending, []
        for key_name, dialect, idem, path, body, callback in pending:
            self.send_create(key_name, dialect, idem, path, body, callback, retry=True)


class CrashTest(unittest.TestCase):
    def test_sigkill_under_load(self):
        seed = int(os.environ.get("IMAGEGATE_CRASH_SEED") or random.randrange(1 << 31))
        cycles = int(os.environ.get("IMAGEGATE_CRASH_CYCLES") or 20)
        print("\ncrash suite: seed %d, %d cycles, store %s (replay with IMAGEGATE_CRASH_SEED=%d)"
              % (seed, cycles, inv.store_url() or "sqlite", seed), file=sys.stderr, flush=True)
        rng = random.Random(seed)
        started = time.monotonic()

        receiver = Receiver(os.path.join(CA.ca_dir, "server.pem"),
                            os.path.join(CA.ca_dir, "server.key"),
                            behave=lambda path, n: 500 if path.startswith("/cb/flaky/") and n == 0
                            else 200)
        self.addCleanup(receiver.stop)
        server = Server(env=inv.store_env(), settings={
            "sandbox.latency_ms": "250", "sandbox.failure_rate": "0.15",
            "dispatcher.lease_ms": "900", "dispatcher.poll_ms": "50",
            "callbacks.timeout_ms": "2000", "admin.token": ADMIN,
            "media.extra_ca_file": CA.ca_file, "media.unsafe_allow_cidrs": "127.0.0.1/32",
            "log.level": "warning"})
        self.addCleanup(server.cleanup)
        server.start()
        view = inv.AdminView(server, ADMIN)
        db = inv.store_db(server.data_dir)

        keys = {}
        for name, credits in (("rich", 100000), ("tight", 30), ("free", None)):
            body = {"name": "crash-" + name}
            if credits is not None:
                body["credits"] = credits
            r = server.request("POST", "/admin/v1/keys", body,
                               headers={"Authorization": "Bearer " + ADMIN})
            self.assertEqual(r.status, 201, r.body)
            j = r.json()
            keys[name] = {"id": j["id"], "account": j["account_id"], "secret": j["key"]}
        accounts = sorted({k["account"] for k in keys.values()})
        secrets = {a: view.get("/admin/v1/accounts/%d" % a).json()["webhook_secret"]
                   for a in accounts}

        load = Load(self, server, keys, receiver, seed)
        self.addCleanup(load.finish)

        def check(when, final=False):
            snap = view.snapshot(accounts)
            bad = inv.check(load.journal, snap, db.outbox_counts(), keys, view=view, final=final)
            bad += inv.check_deliveries(load.journal, receiver.snapshot(), secrets, keys,
                                        final=final, view=view if final else None)
            if bad:
                self.fail("seed %d, %s: %d violation(s):\n  %s\n(server log: %s)"
                          % (seed, when, len(bad), "\n  ".join(bad[:40]), server.log_path))
            return snap

        for cycle in range(cycles):
            load.resume()
            time.sleep(rng.uniform(0.05, 1.5))
            server.kill(signal.SIGKILL)
            load.pause()
            server.start()
            load.retry_pending()
            check("after restart %d" % (cycle + 1))

        # Settle: no more load, the answers lost to the last kill retried, every task ended
        # and every callback delivered (the flaky ones retry 1 s later).
        load.resume()
        time.sleep(0.5)
        load.pause()
        load.retry_pending()  # a key whose first request died uncommitted answers 409 a minute
        inv.wait_settled(view, keys, timeout=60)
        snap = check("settled")
        self.check_idempotent_creates(view, load, snap, keys)

        def all_delivered():
            accepted, _ = load.journal.copy()
            want = [t for t, i in accepted.items() if i["callback"]]
            for tid in want:
                cb = view.callback(tid)
                if cb is None or cb["state"] == "pending":
                    return False
            return True
        deadline = time.monotonic() + 30
        while not all_delivered():
            self.assertLess(time.monotonic(), deadline, "callbacks still pending after 30 s")
            time.sleep(0.3)
        snap = check("final", final=True)

        states = {}
        for t in snap.tasks.values():
            states[t["state"]] = states.get(t["state"], 0) + 1
        print("crash suite: seed %d, %d cycles in %.0f s; %d tasks %s; %d callbacks received; "
              "%s" % (seed, cycles, time.monotonic() - started, len(snap.tasks), states,
                      len(receiver.snapshot()), dict(sorted(load.stats.items()))),
              file=sys.stderr, flush=True)
        # The load did what it is for: tasks in every dialect, cancels, refusals, callbacks.
        dialects = {t["dialect"] for t in snap.tasks.values()}
        self.assertEqual(dialects, set(DIALECTS), "dialects of the tasks made")
        self.assertGreater(load.stats.get("cancel: 200", 0), 0)
        self.assertGreater(states.get("succeeded", 0), 0)

    def check_idempotent_creates(self, view, load, snap, keys):
        """At most one task per create sent with an Idempotency-Key, however often it was sent
        and whatever the kills lost; one whose key still answers 409 (its first request died
        before its task was committed: retried after a minute, docs) has made none."""
        accepted, _ = load.journal.copy()
        prompts = {}
        key_ids = {k["id"] for k in keys.values()}
        for tid, t in snap.tasks.items():
            if t["key_id"] not in key_ids:
                continue
            info = accepted.get(tid)
            if info is not None and "prompt" in info:
                prompt = info["prompt"]
            else:
                detail = view.get("/admin/v1/tasks/" + urllib.parse.quote(tid)).json()
                prompt = detail["request"]["prompt"]
            prompts.setdefault(prompt, []).append(tid)
        bad = []
        for prompt in load.idem_prompts:
            if len(prompts.get(prompt, [])) > 1:
                bad.append("%r (sent with an Idempotency-Key) made tasks %s"
                           % (prompt, prompts[prompt]))
        for key_name, dialect, idem, path, body, callback in load.idem_pending:
            prompt = body.get("prompt") or body["input"]["prompt"]
            if prompt in prompts:
                bad.append("%s: its create answers 409 (in progress) and task(s) %s exist"
                           % (idem, prompts[prompt]))
        self.assertEqual(bad, [], "seed %d" % load.seed)


if __name__ == "__main__":
    unittest.main()
