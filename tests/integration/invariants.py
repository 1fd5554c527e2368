"""The invariants of ../shared/design/RELIABILITY.md, checked on a running server, for any store.

What a client was told (a `Journal`) is compared with what the server holds (a `Snapshot`).
A snapshot is read through the admin HTTP API (`AdminView`), which works whatever the store.
The one thing the API cannot show, how many outbox (callback) rows a task has (the admin API
shows a task's callback, not whether there are two), is read from the database through a small
adapter chosen by the store's URL (`store_db`): SQLite through python's sqlite3, PostgreSQL
through `psql` (postgresql-client), both over the same query.

The store: `store_url()` is IMAGEGATE_TEST_STORE_URL (empty: the default SQLite database in the
server's data dir); `store_env()` passes it to the server as IMAGEGATE_STORE_URL ([store] url).

A further store adds an adapter with `outbox_counts()` beside SqliteDb and PgDb, returned by
store_db() for its URLs; a URL without one raises (no silent pass).

Amounts are compared in integer micro-credits (the API's credits are decimals of them).
"""
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
import urllib.parse

TERMINAL = ("succeeded", "failed", "cancelled")


def store_url():
    return os.environ.get("IMAGEGATE_TEST_STORE_URL", "")


def store_env():
    """The server's environment for the store under test (nothing for the default SQLite)."""
    url = store_url()
    return {"IMAGEGATE_STORE_URL": url} if url else {}


def micros(credits):
    return int(round(float(credits) * 1_000_000))


# --- what the database shows that the API does not

# {task id: outbox rows}, the same on every store.
OUTBOX_QUERY = ("SELECT t.id, COUNT(c.id) FROM tasks t LEFT JOIN callbacks c "
                "ON c.task_row = t.row_id GROUP BY t.row_id")


class SqliteDb:
    """The SQLite store of a data dir, read in one transaction (a consistent snapshot)."""

    def __init__(self, data_dir):
        self.path = os.path.join(data_dir, "imagegate.db")

    def outbox_counts(self):
        """{task id: outbox rows} for every task (0 for none)."""
        con = sqlite3.connect(self.path, timeout=30)
        try:
            con.execute("BEGIN")
            rows = con.execute(OUTBOX_QUERY).fetchall()
            con.execute("COMMIT")
            return dict(rows)
        finally:
            con.close()


class PgDb:
    """The PostgreSQL store of a libpq URL, read with psql in one statement (one snapshot)."""

    def __init__(self, url):
        self.url = url
        self.psql = shutil.which("psql")
        if not self.psql:
            raise AssertionError("invariants.PgDb: psql is not installed (postgresql-client)")

    def outbox_counts(self):
        """{task id: outbox rows} for every task (0 for none)."""
        out = subprocess.run([self.psql, self.url, "-X", "-At", "-F", "\t", "-v",
                              "ON_ERROR_STOP=1", "-c", OUTBOX_QUERY],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise AssertionError("psql (outbox counts) on %s: %s"
                                 % (self.url.split("@")[-1], out.stderr.strip()))
        counts = {}
        for line in out.stdout.splitlines():
            if not line:
                continue
            tid, n = line.split("\t")
            counts[tid] = int(n)
        return counts


def store_db(data_dir):
    url = store_url()
    if not url or url.startswith("sqlite:"):
        return SqliteDb(data_dir)
    if url.startswith(("postgres://", "postgresql://")):
        return PgDb(url)
    # A store without an adapter (see the module's docstring): no silent pass.
    raise NotImplementedError("invariants.store_db: no database adapter for store %r yet; "
                              "add one beside SqliteDb and PgDb" % url.split("@")[-1])


# --- what the admin API shows

class Snapshot:
    def __init__(self):
        self.tasks = {}     # id -> {"state", "key_id", "price" (micro), "dialect"}
        self.ledger = {}    # account id -> {row id: {"kind", "amount", "price", "task_id"}}
        self.balance = {}   # account id -> micro-credits
        self.metered = {}   # account id -> bool
        self.oldest_ok = {}  # account id -> (oldest row's balance_after, its amount) or None


class AdminView:
    def __init__(self, server, token):
        self.server = server
        self.token = token

    def get(self, path, ok=(200,)):
        r = self.server.request("GET", path, headers={"Authorization": "Bearer " + self.token},
                                timeout=30)
        if r.status not in ok:
            raise AssertionError("admin GET %s: %d %s" % (path, r.status, r.body[:300]))
        return r

    def pages(self, path, size=500):
        """Every item of a paged list. Lists are newest first: rows added while paging push
        older ones to later pages, so an item may come twice (kept once) but none is missed."""
        out, page = {}, 1
        sep = "&" if "?" in path else "?"
        while True:
            j = self.get("%s%spage=%d&page_size=%d" % (path, sep, page, size)).json()
            for item in j["data"]:
                out[item["id"]] = item
            if len(j["data"]) < size or page * size >= j["total"]:
                return out, j
            page += 1

    def snapshot(self, accounts):
        """Tasks first, then ledgers: a task seen ended has its settlement in the ledger read
        after it (the end and the settlement commit together)."""
        s = Snapshot()
        tasks, _ = self.pages("/admin/v1/tasks")
        for t in tasks.values():
            s.tasks[t["id"]] = {"state": t["state"], "key_id": t["key_id"],
                                "price": micros(t["price"]), "dialect": t["dialect"]}
        for acc in accounts:
            rows, _ = self.pages("/admin/v1/accounts/%d/ledger" % acc)
            s.ledger[acc] = {i: {"kind": r["kind"], "amount": micros(r["amount"]),
                                 "price": micros(r["price"]), "task_id": r["task_id"]}
                             for i, r in rows.items()}
            a = self.get("/admin/v1/accounts/%d" % acc).json()
            s.balance[acc] = micros(a["balance"])
            s.metered[acc] = a["metered"]
            s.oldest_ok[acc] = self.oldest_row(acc)
        return s

    def oldest_row(self, acc):
        """(balance_after, amount) of the account's oldest ledger row, read in one snapshot with
        the balance: they are equal exactly when the balance is the sum of the ledger."""
        for _ in range(20):
            total = self.get("/admin/v1/accounts/%d/ledger?page_size=1" % acc).json()["total"]
            if total == 0:
                return None
            j = self.get("/admin/v1/accounts/%d/ledger?page_size=1&page=%d" % (acc, total)).json()
            if j["total"] == total and len(j["data"]) == 1:
                row = j["data"][0]
                return micros(row["balance_after"]), micros(row["amount"])
        raise AssertionError("account %d: the ledger kept growing; no stable oldest row" % acc)

    def callback(self, task_id):
        """The admin view of a task's callback, None when it has none (404)."""
        r = self.get("/admin/v1/tasks/%s/callback" % urllib.parse.quote(task_id), ok=(200, 404))
        return r.json() if r.status == 200 else None


# --- what the clients were told

class Journal:
    """Thread-safe record of what the load's clients were answered."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = {}        # task id -> {"dialect", "key", "callback": path or None, ...}
        self.attempts = {}        # callback path -> the same, for every create sent with one
        self.unknown = {}         # key name -> creates whose outcome is unknown (no answer)
        self.openai_ok = {}       # key name -> openai creates answered 200 (images, no id)
        self.cancel_acked = set()  # task ids whose cancel was answered 200
        self.seen_terminal = {}   # task id -> the first terminal state a check saw
        self.webhook_ids = {}     # task id -> webhook_id the admin API showed
        self.problems = []        # violations seen by the clients themselves

    def accept(self, task_id, **info):
        with self.lock:
            if task_id in self.accepted:
                self.problems.append("create answered an id already given: %s" % task_id)
            self.accepted[task_id] = info

    def count(self, table, key):
        with self.lock:
            table[key] = table.get(key, 0) + 1

    def problem(self, text):
        with self.lock:
            self.problems.append(text)

    def copy(self):
        with self.lock:
            return dict(self.accepted), set(self.cancel_acked)


def check(journal, snap, outbox, keys, view=None, final=False):
    """Violations (strings) of the invariants. `keys`: {name: {"id", "account"}}; `outbox`:
    {task id: rows} from the database; `view`: an AdminView for the callbacks' webhook ids."""
    bad = list(journal.problems)
    accepted, cancel_acked = journal.copy()
    key_ids = {k["id"]: name for name, k in keys.items()}
    ours = {tid: t for tid, t in snap.tasks.items() if t["key_id"] in key_ids}

    # No accepted task is lost.
    for tid, info in accepted.items():
        if tid not in snap.tasks:
            bad.append("task %s (%s) was accepted and is gone" % (tid, info["dialect"]))
    # No task appears that no create asked for (each accepted or an unanswered attempt), and
    # every synchronous create answered with images is a succeeded openai task.
    for name, k in keys.items():
        have = [tid for tid, t in ours.items() if t["key_id"] == k["id"]]
        known = sum(1 for i in accepted.values() if i["key"] == name)
        asked = known + journal.unknown.get(name, 0) + journal.openai_ok.get(name, 0)
        if len(have) > asked:
            bad.append("key %s: %d tasks stored, only %d creates could have made them"
                       % (name, len(have), asked))
        ok_openai = sum(1 for tid in have if ours[tid]["dialect"] == "openai"
                        and ours[tid]["state"] == "succeeded")
        if ok_openai < journal.openai_ok.get(name, 0):
            bad.append("key %s: %d openai creates answered with images, %d succeeded openai "
                       "tasks stored" % (name, journal.openai_ok.get(name, 0), ok_openai))

    # An ended task stays as it ended; an acknowledged cancel is a cancelled task.
    for tid, t in ours.items():
        first = journal.seen_terminal.get(tid)
        if first and t["state"] != first:
            bad.append("task %s ended %s, now %s" % (tid, first, t["state"]))
        if t["state"] in TERMINAL and not first:
            journal.seen_terminal[tid] = t["state"]
    for tid in cancel_acked:
        if tid in snap.tasks and snap.tasks[tid]["state"] != "cancelled":
            bad.append("task %s: its cancel was answered 200, it is %s"
                       % (tid, snap.tasks[tid]["state"]))

    # The books: one hold per task, at most one settlement, the right one once ended;
    # every balance is its ledger's sum; a metered balance is never below 0.
    holds, settles = {}, {}
    for acc, rows in snap.ledger.items():
        for rid, r in rows.items():
            if r["kind"] == "hold":
                holds.setdefault(r["task_id"], []).append(r)
            elif r["kind"] in ("capture", "refund"):
                settles.setdefault(r["task_id"], []).append(r)
        oldest = snap.oldest_ok[acc]
        if oldest is not None and oldest[0] != oldest[1]:
            bad.append("account %d: balance is not the ledger's sum (oldest row's balance_after "
                       "%d, its amount %d)" % (acc, oldest[0], oldest[1]))
        if final and snap.balance[acc] != sum(r["amount"] for r in rows.values()):
            bad.append("account %d: balance %d, ledger sum %d" % (
                acc, snap.balance[acc], sum(r["amount"] for r in rows.values())))
        if snap.metered.get(acc) and snap.balance[acc] < 0:
            bad.append("account %d is metered and its balance is %d" % (acc, snap.balance[acc]))
    for tid, rs in settles.items():
        if len(rs) != 1:
            bad.append("task %s settled %d times: %s" % (tid, len(rs), [r["kind"] for r in rs]))
    for tid, t in ours.items():
        h = holds.get(tid, [])
        if len(h) != 1 or h[0]["amount"] != -t["price"] or h[0]["price"] != t["price"]:
            bad.append("task %s: holds %s for price %d" % (tid, h, t["price"]))
        s = settles.get(tid, [])
        if t["state"] in TERMINAL:
            want = ("capture", 0) if t["state"] == "succeeded" else ("refund", t["price"])
            if [(r["kind"], r["amount"]) for r in s] != [want]:
                bad.append("task %s is %s, settled %s" % (tid, t["state"],
                                                           [(r["kind"], r["amount"]) for r in s]))
        elif final and s:
            bad.append("task %s is %s and already settled" % (tid, t["state"]))

    # One outbox row per ended task that asked for a callback, none for the others.
    for tid, t in ours.items():
        wants = bool(accepted.get(tid, {}).get("callback"))
        n = outbox.get(tid)
        if n is None:
            continue  # created after the database was read
        if tid in accepted and t["state"] in TERMINAL and wants and n != 1:
            bad.append("task %s ended with a callback URL and has %d outbox rows" % (tid, n))
        if not wants and n and tid in accepted:
            bad.append("task %s asked for no callback and has %d outbox rows" % (tid, n))
        if n > 1:
            bad.append("task %s has %d outbox rows" % (tid, n))
    if view is not None:
        for tid, t in ours.items():
            if t["state"] in TERMINAL and accepted.get(tid, {}).get("callback"):
                cb = view.callback(tid)
                if cb is None:
                    bad.append("task %s ended with a callback URL; the admin API shows none" % tid)
                    continue
                before = journal.webhook_ids.setdefault(tid, cb["webhook_id"])
                if before != cb["webhook_id"]:
                    bad.append("task %s: webhook_id %s, earlier %s" % (tid, cb["webhook_id"], before))
    return bad


def check_deliveries(journal, receiver_requests, secrets, keys, final=False, view=None):
    """Every callback received is signed with its account's secret, names a task that asked
    for it, shows that task ended, and carries the task's one webhook-id (distinct per task).
    `final`: every ended callback task was delivered, and the API says `delivered`."""
    bad = []
    accepted, _ = journal.copy()
    by_task = {}
    for r in receiver_requests:
        by_task.setdefault(r["task_id"], []).append(r)
    owner = {}
    for tid, rs in by_task.items():
        info = accepted.get(tid)
        if info is None:  # a create whose answer was lost: known by its callback path
            info = journal.attempts.get(rs[0]["path"])
        if info is None or not info.get("callback"):
            bad.append("a callback for %r, which asked for none (%d requests to %s)"
                       % (tid, len(rs), rs[0]["path"]))
            continue
        ids = {r["headers"].get("webhook-id") for r in rs}
        if len(ids) != 1:
            bad.append("task %s: deliveries carry webhook-ids %s" % (tid, sorted(map(str, ids))))
        wid = next(iter(ids))
        if wid in owner:
            bad.append("webhook-id %s used by tasks %s and %s" % (wid, owner[wid], tid))
        owner[wid] = tid
        api = journal.webhook_ids.get(tid)
        if api is not None and api != wid:
            bad.append("task %s: delivered webhook-id %s, the admin API says %s" % (tid, wid, api))
        secret = secrets[keys[info["key"]]["account"]]
        for r in rs:
            from callback_receiver import standard_webhooks_verify
            if not standard_webhooks_verify(secret, r["headers"], r["body"], now=r["wall"]):
                bad.append("task %s: a delivery's signature does not verify" % tid)
            if not body_is_terminal(info["dialect"], r["body"]):
                bad.append("task %s: a callback shows it unfinished: %s" % (tid, r["body"][:200]))
            if r["path"] != info["callback"]:
                bad.append("task %s: delivered to %s, asked %s" % (tid, r["path"], info["callback"]))
    if final:
        for tid, state in journal.seen_terminal.items():
            info = accepted.get(tid)
            if info and info.get("callback"):
                if tid not in by_task:
                    bad.append("task %s ended (%s); its callback never arrived" % (tid, state))
                if view is not None:
                    cb = view.callback(tid)
                    if cb is None or cb["state"] != "delivered":
                        bad.append("task %s: callback %s" % (tid, cb and cb["state"]))
    return bad


def body_is_terminal(dialect, body):
    j = json.loads(body)
    if dialect == "jobs":
        return j["data"]["state"] in ("success", "fail")
    if dialect == "tasks":
        return j["data"]["status"] in ("success", "fail")
    return j["status"] in ("completed", "failed")


def wait_settled(view, keys, timeout=60.0):
    """Waits until none of the keys' tasks is queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        left = 0
        for state in ("queued", "running"):
            for k in keys.values():
                j = view.get("/admin/v1/tasks?state=%s&key_id=%d&page_size=1"
                             % (state, k["id"])).json()
                left += j["total"]
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError("%d tasks still queued or running after %.0f s" % (left, timeout))
        time.sleep(0.2)
