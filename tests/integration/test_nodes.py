"""Several nodes (#11): three `imagegate serve` processes on one PostgreSQL database and one S3
bucket (s3rver behind the signature-checking front of tests/s3/), with one shared
`results.signing_key_file`, under a few hundred creates spread over the nodes; one node is
SIGKILLed in the middle of the run and not restarted.

The load: worker threads create tasks in the four asynchronous dialects on two metered accounts
(credits enough for all), each with a callback URL to a local HTTPS receiver, each with an
Idempotency-Key, sent to the nodes in turn. A create that gets no answer (its node died under
it) is sent again, with the same key, to a surviving node, as a client behind a load balancer
would. The sandbox takes a few hundred ms per run and fails a share of them (refunds); the
dispatcher's lease is short, so the killed node's running tasks are taken over by the others.
Workers also poll their tasks through random live nodes: once a poll has seen a task ended,
every later poll, on any node, and its final state show that end.

Checked (RELIABILITY.md's invariants, through invariants.check / check_deliveries, and more):
- every create answered with a task id is found, and every task ends; no task exists that no
  create asked for; an ended task never changes (checked once the load is done, and twice once
  everything settled, a lease's length apart); no create, however often retried with its
  Idempotency-Key on other nodes, made two tasks;
- each task's timeline (admin API) holds exactly one end event and one settlement event;
- one hold per task and one capture or refund, the right one; balances are their ledger's sum;
- one outbox row per task (read from PostgreSQL), each callback delivered, every delivery of a
  task carrying its one webhook-id (distinct per task, the admin API's), validly signed;
- every result image is readable through each surviving node, the same bytes from each: its
  signed URL with the host and port replaced by that node's, and a tampered signature refused;
- some task was taken over from the killed node (an attempt > 1), so the case was exercised.

PostgreSQL: the throwaway server of ctest's `postgres` fixture (IMAGEGATE_TEST_PG_FILE) or
IMAGEGATE_TEST_PG, a database of the test's own. IMAGEGATE_NODES_SEED replays a run's choices.
"""
import concurrent.futures
import http.client
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import invariants as inv
from callback_receiver import Receiver
from harness import HttpsFixture, Server, png_size
from test_postgres import PSQL, psql, server_url, with_database
from test_s3 import HAVE_NODE, S3_DIR, S3Server, s3_config

ADMIN = "nodes-suite-admin-token-0123456789"
DIALECTS = ("jobs", "tasks", "generations", "unified")
NODES = 3
TASKS = int(os.environ.get("IMAGEGATE_NODES_TASKS") or 300)
WORKERS = 6
KILLED = 2  # the index of the node that is SIGKILLed


def create_request(dialect, prompt, callback_url):
    """(path, body) of a create in `dialect`, with the callback in the dialect's field."""
    if dialect == "jobs":
        return "/api/v1/jobs/createTask", {"model": "gpt-image-2-text-to-image",
                                           "input": {"prompt": prompt},
                                           "callBackUrl": callback_url}
    if dialect == "tasks":
        return "/v1/tasks", {"model": "gpt-image-2-text-to-image", "input": {"prompt": prompt},
                             "callback": {"url": callback_url, "when": "final"}}
    if dialect == "generations":
        return "/v1/images/generations", {"model": "gpt-image-2", "input": {"prompt": prompt},
                                          "callback_url": callback_url}
    return "/v1/images/generations", {"model": "gpt-image-2", "prompt": prompt, "size": "1:1",
                                      "callback_url": callback_url}


def task_id_of(dialect, j):
    return j["id"] if dialect == "unified" else j["data"]["taskId"]


def poll_path(dialect, tid):
    if dialect == "jobs":
        return "/api/v1/jobs/recordInfo?taskId=" + urllib.parse.quote(tid)
    return "/v1/tasks/" + urllib.parse.quote(tid)


def polled_end(dialect, j):
    """"succeeded" or "failed" when a query's answer shows the task ended, else None."""
    if dialect == "jobs":
        state = j["data"]["state"]
    elif dialect == "tasks":
        state = j["data"]["status"]
    else:
        state = j["status"]
    return {"success": "succeeded", "completed": "succeeded",
            "fail": "failed", "failed": "failed"}.get(state)


def outbox_counts(url):
    """{task id: callback (outbox) rows} for every task, read in one statement from PostgreSQL
    (the query of invariants.SqliteDb)."""
    out = psql(url, "SELECT t.id || ' ' || COUNT(c.id) FROM tasks t LEFT JOIN callbacks c "
                    "ON c.task_row = t.row_id GROUP BY t.row_id, t.id")
    counts = {}
    for line in out.splitlines():
        tid, n = line.rsplit(" ", 1)
        counts[tid] = int(n)
    return counts


@unittest.skipUnless(server_url(), "no PostgreSQL: set IMAGEGATE_TEST_PG (ctest starts one)")
@unittest.skipUnless(PSQL, "psql is not installed (postgresql-client)")
@unittest.skipUnless(HAVE_NODE, "Node.js is not installed (the S3 server)")
class SeveralNodesTest(unittest.TestCase):
    def setUp(self):
        self.started = time.monotonic()
        self.seed = int(os.environ.get("IMAGEGATE_NODES_SEED") or random.randrange(1 << 31))
        print("\nnodes: seed %d, %d tasks (replay with IMAGEGATE_NODES_SEED=%d)"
              % (self.seed, TASKS, self.seed), file=sys.stderr, flush=True)
        self.admin_url = server_url()
        self.db = "ig_nodes_%d" % random.randrange(1 << 40)
        psql(self.admin_url, "CREATE DATABASE " + self.db)
        self.addCleanup(psql, self.admin_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db)
        self.url = with_database(self.admin_url, self.db)

        subprocess.run(["bash", os.path.join(S3_DIR, "setup.sh")], check=True, timeout=600)
        self.s3 = S3Server()
        self.addCleanup(self.s3.cleanup)
        self.ca = HttpsFixture()  # its CA and server certificate, for the receiver
        self.addCleanup(self.ca.stop)
        self.shared = tempfile.mkdtemp(prefix="ig-nodes-")
        self.addCleanup(shutil.rmtree, self.shared, True)
        self.signing_key_file = os.path.join(self.shared, "url-signing.key")
        with open(self.signing_key_file, "w") as f:
            f.write("%064x\n" % random.Random(self.seed).getrandbits(256))

        # The first delivery to a fifth of the callbacks answers 500: retried 1 s later.
        self.receiver = Receiver(os.path.join(self.ca.ca_dir, "server.pem"),
                                 os.path.join(self.ca.ca_dir, "server.key"),
                                 behave=lambda path, n: 500 if path.startswith("/cb/flaky/")
                                 and n == 0 else 200)
        self.addCleanup(self.receiver.stop)

        config = s3_config(self.s3.endpoint, self.signing_key_file) + (
            '\n[store]\nurl = "%s"\npool_size = 8\n' % self.url)
        self.nodes = []
        for i in range(NODES):
            node = Server(config_text=config,
                          env={"S3_ACCESS_KEY_ID": "S3RVER", "S3_SECRET_ACCESS_KEY": "S3RVER"},
                          settings={"sandbox.latency_ms": "300", "sandbox.failure_rate": "0.1",
                                    "dispatcher.concurrency": "8", "dispatcher.lease_ms": "1500",
                                    "dispatcher.poll_ms": "50", "callbacks.timeout_ms": "3000",
                                    "admin.token": ADMIN, "log.level": "warning",
                                    "media.extra_ca_file": self.ca.ca_file,
                                    "media.unsafe_allow_cidrs": "127.0.0.1/32"})
            self.addCleanup(node.cleanup)
            self.nodes.append(node)
        # Started together: the migrations run once, under the advisory lock.
        threads = [threading.Thread(target=n.start) for n in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for n in self.nodes:
            self.assertIsNotNone(n.port, "a node did not start: %s" % n.log_path)
        self.alive = list(range(NODES))
        self.phase("nodes started")
        self.lock = threading.Lock()
        self.stats = {}
        self.polled = {}  # task id -> the end a poll saw first

    def phase(self, what):
        print("nodes: %.1f s: %s" % (time.monotonic() - self.started, what), file=sys.stderr,
              flush=True)

    def stat(self, what):
        with self.lock:
            self.stats[what] = self.stats.get(what, 0) + 1

    def send(self, index, method, path, body=None, key=None, headers=None, timeout=20):
        """The response from node `index`, or None when the connection failed."""
        try:
            return self.nodes[index].request(method, path, body=body, key=key, headers=headers,
                                             timeout=timeout)
        except (OSError, http.client.HTTPException):
            return None

    def live(self, rng):
        with self.lock:
            return rng.choice(self.alive)

    # --- the load
    def create(self, rng, n, first_node):
        dialect = DIALECTS[n % len(DIALECTS)]
        key_name = ("a", "b")[n % 2]
        tag = "%d-%d" % (self.seed, n)
        callback = "/cb/%s/%s" % ("flaky" if rng.random() < 0.2 else "ok", tag)
        path, body = create_request(dialect, "nodes %s" % tag, self.receiver.url(callback))
        idem = "nodes-%s" % tag
        with self.journal.lock:
            self.journal.attempts[callback] = {"dialect": dialect, "key": key_name,
                                               "callback": callback}
        node = first_node
        # About 3 s: a key left in progress by a dead node stays so for a minute.
        for attempt in range(8):
            r = self.send(node, "POST", path, body, key=self.keys[key_name]["secret"],
                          headers={"Idempotency-Key": idem})
            if r is not None and r.status == 200:
                tid = task_id_of(dialect, r.json())
                self.stat("create on node %d" % node)
                if attempt:
                    self.stat("create retried")
                self.journal.accept(tid, dialect=dialect, key=key_name, callback=callback,
                                    prompt="nodes %s" % tag, node=node)
                return
            if r is not None and r.status not in (409, 503):
                self.journal.problem("create %s on node %d: HTTP %d %s"
                                     % (dialect, node, r.status, r.body[:300]))
                return
            # No answer (the node died), 503, or 409 (the key's first request still in
            # progress on a dead node's session): again, on a live node.
            self.stat("create: %s" % ("no answer" if r is None else r.status))
            time.sleep(0.1 * (attempt + 1))
            node = self.live(rng)
        # Unknown: it may or may not have made a task (check() allows one per unknown).
        self.journal.count(self.journal.unknown, key_name)
        self.stat("create: gave up")

    def poll(self, rng):
        accepted, _ = self.journal.copy()
        if not accepted:
            return
        ids = list(accepted)  # oldest first: the older half, more of them ended
        tid = rng.choice(ids[:max(1, len(ids) // 2)])
        info = accepted[tid]
        node = self.live(rng)
        r = self.send(node, "GET", poll_path(info["dialect"], tid),
                      key=self.keys[info["key"]]["secret"])
        if r is None:
            return  # the node died under the poll
        self.stat("poll")
        if r.status != 200:
            self.journal.problem("poll of %s on node %d: HTTP %d %s"
                                 % (tid, node, r.status, r.body[:200]))
            return
        # Once a poll has seen the task ended, every later poll, on any node, shows that end.
        end = polled_end(info["dialect"], r.json())
        with self.lock:
            before = self.polled.get(tid)
            if before is None and end is not None:
                self.polled[tid] = end
        if before is not None and end != before:
            self.journal.problem("task %s: polled %s, later %s on node %d"
                                 % (tid, before, end, node))

    def worker(self, index, counter):
        rng = random.Random("%d-%d" % (self.seed, index))
        while True:
            with self.lock:
                n = counter[0]
                counter[0] += 1
            if n >= TASKS:
                return
            try:
                self.create(rng, n, n % NODES if n % NODES in self.alive else self.live(rng))
                if rng.random() < 0.5:
                    self.poll(rng)
            except Exception as e:  # a bug of the suite: fail loudly
                self.journal.problem("worker %d: %r" % (index, e))
            time.sleep(rng.uniform(0.0, 0.01))

    # --- the checks
    def check(self, when, final=False):
        view = inv.AdminView(self.nodes[self.alive[0]], ADMIN)
        snap = view.snapshot(self.accounts)
        bad = inv.check(self.journal, snap, outbox_counts(self.url), self.keys, view=view,
                        final=final)
        bad += inv.check_deliveries(self.journal, self.receiver.snapshot(), self.secrets,
                                    self.keys, final=final, view=view if final else None)
        if bad:
            self.fail("seed %d, %s: %d violation(s):\n  %s\n(logs: %s)"
                      % (self.seed, when, len(bad), "\n  ".join(bad[:40]),
                         " ".join(n.log_path for n in self.nodes)))
        return snap

    def test_three_nodes_one_killed(self):
        admin = {"Authorization": "Bearer " + ADMIN}
        self.keys = {}
        for i, name in enumerate(("a", "b")):
            r = self.nodes[i].request("POST", "/admin/v1/keys",
                                      {"name": "nodes-" + name, "credits": 100000}, headers=admin)
            self.assertEqual(r.status, 201, r.body)
            j = r.json()
            self.keys[name] = {"id": j["id"], "account": j["account_id"], "secret": j["key"]}
        self.accounts = sorted({k["account"] for k in self.keys.values()})
        view = inv.AdminView(self.nodes[0], ADMIN)
        self.secrets = {a: view.get("/admin/v1/accounts/%d" % a).json()["webhook_secret"]
                        for a in self.accounts}
        self.journal = inv.Journal()

        counter = [0]
        workers = [threading.Thread(target=self.worker, args=(i, counter), daemon=True)
                   for i in range(WORKERS)]
        for w in workers:
            w.start()
        # SIGKILL one node once a third to a half of the creates are sent: it has tasks queued
        # and running, callbacks due, and creates in flight.
        rng = random.Random(self.seed)
        at = int(TASKS * rng.uniform(0.33, 0.5))
        while counter[0] < at:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        # ... at a moment it runs tasks (almost always; else wait for one, up to 5 s).
        deadline = time.monotonic() + 5
        while not self.running_on(KILLED) and time.monotonic() < deadline:
            time.sleep(0.02)
        with self.lock:
            self.alive.remove(KILLED)
        self.nodes[KILLED].kill(signal.SIGKILL)
        killed_at = time.monotonic()
        ran_on_killed = self.running_on(KILLED)
        print("nodes: node %d SIGKILLed after %d creates (%.1f s), its running tasks: %d"
              % (KILLED, counter[0], killed_at - self.started, len(ran_on_killed)),
              file=sys.stderr, flush=True)
        for w in workers:
            w.join(120)
            self.assertFalse(w.is_alive(), "a load worker is stuck")
        self.check("load done")
        self.phase("load done")

        view = inv.AdminView(self.nodes[self.alive[0]], ADMIN)
        inv.wait_settled(view, self.keys, timeout=45)
        self.wait_delivered(view, timeout=30)
        snap = self.check("settled", final=True)
        self.phase("settled, callbacks delivered")
        time.sleep(1.5)  # a lease's length: a late writer would have changed something by now
        snap = self.check("final", final=True)

        accepted, _ = self.journal.copy()
        ours = {tid: t for tid, t in snap.tasks.items() if tid in accepted}
        self.assertGreaterEqual(len(accepted), TASKS * 0.95, self.stats)
        states = {}
        for t in ours.values():
            states[t["state"]] = states.get(t["state"], 0) + 1
        self.assertGreater(states.get("succeeded", 0), TASKS // 2, states)
        self.assertGreater(states.get("failed", 0), 0, states)  # refunds were exercised

        for tid, end in sorted(self.polled.items()):
            self.assertEqual(ours[tid]["state"], end, "task %s: a poll saw it %s" % (tid, end))
        self.poll_everything(accepted, ours)
        self.check_one_task_per_create()
        details = self.details(view, sorted(ours))
        self.check_timelines(details)
        taken_over = [tid for tid, d in details.items() if d["attempt"] > 1]
        # The killed node had tasks running: each was taken over by a surviving node.
        for tid in ran_on_killed:
            self.assertIn(tid, details)
            self.assertGreater(details[tid]["attempt"], 1, "task %s ran on the killed node" % tid)
        self.assertTrue(taken_over, "no task was taken over from the killed node")
        self.phase("timelines read")
        self.check_results(details)
        self.phase("results read")

        print("nodes: seed %d, %.0f s; %d tasks %s, %d taken over (%d running on the killed "
              "node); %d ends seen by polls; %d callbacks received; %s"
              % (self.seed, time.monotonic() - self.started, len(ours), states, len(taken_over),
                 len(ran_on_killed), len(self.polled), len(self.receiver.snapshot()),
                 dict(sorted(self.stats.items()))),
              file=sys.stderr, flush=True)

    def running_on(self, index):
        """Ids of the tasks the node held a lease on when it died (read from PostgreSQL: a
        lease's owner is host:pid:random)."""
        pid = self.nodes[index].proc.pid
        out = psql(self.url, "SELECT id FROM tasks WHERE state = 'running' AND "
                             "lease_owner LIKE '%%:%d:%%'" % pid)
        return [line for line in out.splitlines() if line]

    def poll_everything(self, accepted, ours):
        """Every accepted task, queried through each surviving node: its end."""
        def one(tid):
            info = accepted[tid]
            out = []
            for i in self.alive:
                r = self.send(i, "GET", poll_path(info["dialect"], tid),
                              key=self.keys[info["key"]]["secret"])
                if r is None or r.status != 200:
                    out.append("task %s on node %d: %s" % (tid, i, r and (r.status, r.body[:200])))
                elif polled_end(info["dialect"], r.json()) != ours[tid]["state"]:
                    out.append("task %s on node %d: %s, the admin API says %s"
                               % (tid, i, r.body[:200], ours[tid]["state"]))
            return out
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            bad = [p for ps in pool.map(one, sorted(accepted)) for p in ps]
        self.assertEqual(bad[:20], [], "seed %d: %d" % (self.seed, len(bad)))

    def check_one_task_per_create(self):
        """Each create (its prompt is unique) made at most one task, and each accepted one."""
        import json
        tasks = {}
        for line in psql(self.url, "SELECT id || ' ' || param FROM tasks").splitlines():
            tid, param = line.split(" ", 1)
            j = json.loads(param)
            prompt = j.get("prompt") or j["input"]["prompt"]
            tasks.setdefault(prompt, []).append(tid)
        bad = ["%r made tasks %s" % (p, ids) for p, ids in tasks.items() if len(ids) > 1]
        accepted, _ = self.journal.copy()
        for tid, info in accepted.items():
            if tasks.get(info["prompt"]) != [tid]:
                bad.append("%s: accepted as %s, tasks %s" % (info["prompt"], tid,
                                                             tasks.get(info["prompt"])))
        self.assertEqual(bad, [], "seed %d" % self.seed)

    def wait_delivered(self, view, timeout):
        deadline = time.monotonic() + timeout
        accepted, _ = self.journal.copy()
        pending = set(accepted)
        while pending:
            for tid in list(pending):
                cb = view.callback(tid)
                if cb is not None and cb["state"] != "pending":
                    pending.discard(tid)
            if pending:
                self.assertLess(time.monotonic(), deadline,
                                "%d callbacks still pending, e.g. %s" % (len(pending),
                                                                         sorted(pending)[:3]))
                time.sleep(0.3)

    def details(self, view, ids):
        def one(tid):
            return tid, view.get("/admin/v1/tasks/" + urllib.parse.quote(tid)).json()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return dict(pool.map(one, ids))

    def check_timelines(self, details):
        """Exactly one end and one settlement in each task's timeline."""
        bad = []
        for tid, d in details.items():
            whats = [e["what"] for e in d["events"]]
            ends = [w for w in whats if w in inv.TERMINAL]
            settles = [w for w in whats if w in ("captured", "refunded")]
            if ends != [d["state"]]:
                bad.append("task %s (%s): end events %s" % (tid, d["state"], ends))
            want = "captured" if d["state"] == "succeeded" else "refunded"
            if settles != [want]:
                bad.append("task %s (%s): settlement events %s" % (tid, d["state"], settles))
            if d["settlement"] != want:
                bad.append("task %s (%s): settlement %s" % (tid, d["state"], d["settlement"]))
        self.assertEqual(bad, [], "seed %d" % self.seed)

    def check_results(self, details):
        """Each result through every surviving node: its signed URL on that node's address,
        the same PNG from each; a tampered signature is refused."""
        jobs = []
        for tid, d in details.items():
            if d["state"] != "succeeded":
                continue
            self.assertTrue(d["results"], "task %s succeeded with no results" % tid)
            for res in d["results"]:
                jobs.append((tid, res))
        survivors = [self.nodes[i] for i in self.alive]

        def read(job):
            tid, res = job
            u = urllib.parse.urlsplit(res["url"])
            target = u.path + "?" + u.query
            bodies, out = [], []
            for node in survivors:
                r = node.request("GET", target, timeout=30)
                if r.status != 200:
                    out.append("task %s: %s on node :%d: HTTP %d %s"
                               % (tid, target, node.port, r.status, r.body[:200]))
                    continue
                if png_size(r.body) != (res["width"], res["height"]):
                    out.append("task %s: a %s PNG, the task says %dx%d"
                               % (tid, png_size(r.body), res["width"], res["height"]))
                bodies.append(r.body)
            if len(set(bodies)) > 1:
                out.append("task %s: the nodes answer different bytes for %s" % (tid, target))
            return out

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            bad = [p for ps in pool.map(read, jobs) for p in ps]
        self.assertEqual(bad[:20], [], "seed %d: %d unreadable" % (self.seed, len(bad)))
        self.assertGreater(len(jobs), 0)
        # A tampered signature, on any node: 403.
        u = urllib.parse.urlsplit(jobs[0][1]["url"])
        q = urllib.parse.parse_qs(u.query)
        sig = q["signature"][0]
        q["signature"] = [("0" if sig[0] != "0" else "1") + sig[1:]]
        for node in survivors:
            r = node.request("GET", u.path + "?" + urllib.parse.urlencode(q, doseq=True))
            self.assertEqual(r.status, 403, r.body)


if __name__ == "__main__":
    unittest.main()
