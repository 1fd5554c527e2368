"""The PostgreSQL store end to end: `keys create`, `credits add` and `tasks show` act on the
store of `[store] url` (a config file) or IMAGEGATE_STORE_URL, and two `imagegate serve` nodes
on one database run a create -> poll -> succeeded flow with credits held and captured once.

A fault case: the throwaway PostgreSQL is restarted (sessions cut) while a node takes creates;
the node answers 503 meanwhile, never anything else, and recovers by itself: every accepted task
ends, each held and settled once.

The server is the throwaway PostgreSQL ctest starts (scripts/pg-test.sh writes its URL to
IMAGEGATE_TEST_PG_FILE), or IMAGEGATE_TEST_PG (then the restart case is skipped: it is not ours
to restart). Each test gets a database of its own. Without either the tests are skipped
(ctest always sets the file)."""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import BIN, Server

MICRO = 1_000_000
PSQL = shutil.which("psql")
PG_TEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                       "pg-test.sh")
T2I = {"model": "gpt-image-2-text-to-image",
       "input": {"prompt": "a lighthouse at dusk", "aspect_ratio": "1:1", "resolution": "1K"}}


def server_url():
    url = os.environ.get("IMAGEGATE_TEST_PG", "")
    if url:
        return url
    path = os.environ.get("IMAGEGATE_TEST_PG_FILE", "")
    if not path:
        return ""
    with open(path) as f:
        url = f.read().strip()
    if not url:
        raise AssertionError("%s holds no URL: did scripts/pg-test.sh start fail?" % path)
    return url


def cluster_state_dir():
    """The state dir of the throwaway cluster (to restart it), "" when the server is not ours."""
    if os.environ.get("IMAGEGATE_TEST_PG", ""):
        return ""
    path = os.environ.get("IMAGEGATE_TEST_PG_FILE", "")
    return os.path.dirname(path) if path else ""


def with_database(url, name):
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def psql(url, sql):
    out = subprocess.run([PSQL, url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError("psql %s: %s" % (sql, out.stderr))
    return out.stdout.strip()


def cli(args, env=None, config=None):
    """An imagegate command with only the given IMAGEGATE_* variables."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEGATE_")}
    full_env.update(env or {})
    if config:
        args = args + ["--config", config]
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=60, env=full_env)


@unittest.skipUnless(server_url(), "no PostgreSQL: set IMAGEGATE_TEST_PG (ctest starts one)")
@unittest.skipUnless(PSQL, "psql is not installed (postgresql-client)")
class PostgresStoreTest(unittest.TestCase):
    def setUp(self):
        self.admin_url = server_url()
        self.db = "ig_it_%d" % random.randrange(1 << 40)
        psql(self.admin_url, "CREATE DATABASE " + self.db)
        self.url = with_database(self.admin_url, self.db)
        self.dir = tempfile.mkdtemp(prefix="ig-it-pg-")
        self.config = os.path.join(self.dir, "imagegate.toml")
        with open(self.config, "w") as f:
            f.write('[store]\nurl = "%s"\npool_size = 4\n' % self.url)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
            s.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)
        psql(self.admin_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db)

    def node(self):
        """A server on the test's database, with a data dir of its own (its result files)."""
        s = Server(config_file=self.config).start()
        self.servers.append(s)
        return s

    def test_cli_and_two_nodes_run_a_paid_task_once(self):
        # keys create through the config file, credits add through the environment: one store.
        made = cli(["keys", "create", "--name", "pg-it", "--credits", "10",
                    "--data-dir", os.path.join(self.dir, "unused")], config=self.config)
        self.assertEqual(made.returncode, 0, made.stderr)
        key = made.stdout.strip()
        self.assertTrue(key.startswith("sk-"), made.stdout)
        prefix = psql(self.url, "SELECT prefix FROM api_keys WHERE name = 'pg-it'")
        self.assertTrue(key.startswith(prefix), (key, prefix))
        added = cli(["credits", "add", "--key-prefix", prefix, "--amount", "5",
                     "--data-dir", os.path.join(self.dir, "unused")],
                    env={"IMAGEGATE_STORE_URL": self.url})
        self.assertEqual(added.returncode, 0, added.stderr)
        # Neither command made a SQLite database.
        self.assertFalse(os.path.exists(os.path.join(self.dir, "unused", "imagegate.db")))
        self.assertEqual(psql(self.url, "SELECT balance FROM accounts"), str(15 * MICRO))

        a, b = self.node(), self.node()
        r = a.create_job(key, {"model": "gpt-image-2-text-to-image",
                               "input": {"prompt": "a lighthouse at dusk", "aspect_ratio": "1:1",
                                         "resolution": "1K"}})
        self.assertEqual(r.status, 200, r.body)
        task_id = r.json()["data"]["taskId"]
        # The other node answers for it at once: the task is in the shared database.
        seen = b.record(key, task_id)
        self.assertEqual(seen.status, 200, seen.body)
        self.assertIn(seen.json()["data"]["state"], ("waiting", "queuing", "generating", "success"))
        data, states = a.wait_job(key, task_id)
        self.assertEqual(data["state"], "success", (data, states))
        self.assertEqual(b.record(key, task_id).json()["data"]["state"], "success")
        for s in (a, b):
            self.assertFalse(os.path.exists(os.path.join(s.data_dir, "imagegate.db")))

        price = int(psql(self.url, "SELECT price FROM tasks WHERE id = '%s'" % task_id))
        self.assertGreater(price, 0)
        self.assertEqual(psql(self.url, "SELECT string_agg(kind, ',' ORDER BY id) FROM ledger"),
                         "topup,topup,hold,capture")
        self.assertEqual(int(psql(self.url, "SELECT balance FROM accounts")), 15 * MICRO - price)
        credits = b.request("GET", "/v1/credits", key=key)
        self.assertEqual(credits.status, 200, credits.body)
        self.assertAlmostEqual(float(credits.json()["data"]["balance"]),
                               (15 * MICRO - price) / MICRO, places=6)

        # tasks show reads the same store, and names the one upstream call.
        shown = cli(["tasks", "show", task_id], env={"IMAGEGATE_STORE_URL": self.url})
        self.assertEqual(shown.returncode, 0, shown.stderr)
        self.assertIn(task_id, shown.stdout)
        self.assertIn("succeeded", shown.stdout)

    @unittest.skipUnless(cluster_state_dir(), "PostgreSQL is not the throwaway cluster")
    def test_a_node_rides_out_a_postgresql_restart(self):
        made = cli(["keys", "create", "--name", "restart", "--credits", "1000"],
                   config=self.config)
        self.assertEqual(made.returncode, 0, made.stderr)
        key = made.stdout.strip()
        node = self.node()
        statuses, accepted = [], []

        def create():
            r = node.create_job(key, T2I)
            statuses.append(r.status)
            if r.status == 200:
                accepted.append(r.json()["data"]["taskId"])
            return r.status

        for _ in range(3):
            self.assertEqual(create(), 200)
        restart = threading.Thread(target=subprocess.run, args=(
            ["bash", PG_TEST, "restart", cluster_state_dir()],), kwargs={"check": True})
        restart.start()
        while restart.is_alive():
            create()
            time.sleep(0.02)
        restart.join()
        # Back without restarting the node: creates succeed again within a few seconds.
        deadline = time.monotonic() + 20
        while create() != 200:
            self.assertLess(time.monotonic(), deadline, statuses[-20:])
            time.sleep(0.1)
        for _ in range(3):
            self.assertEqual(create(), 200)
        self.assertLessEqual(set(statuses), {200, 503}, statuses)
        print("creates around the restart: %d accepted, %d answered 503"
              % (statuses.count(200), statuses.count(503)), file=sys.stderr)
        self.assertEqual(node.request("GET", "/readyz").status, 200)

        for task_id in accepted:
            data, states = node.wait_job(key, task_id)
            self.assertEqual(data["state"], "success", (task_id, states))
        # Every task in the database (a create cut off at its commit may have landed without
        # its answer) ends, and is held once and settled once; the balance is the ledger's sum.
        deadline = time.monotonic() + 30
        while psql(self.url, "SELECT COUNT(*) FROM tasks WHERE key_id IS NOT NULL "
                             "AND state IN ('queued', 'running')") != "0":
            self.assertLess(time.monotonic(), deadline, "tasks left unfinished")
            time.sleep(0.2)
        self.assertEqual(psql(self.url, "SELECT COUNT(*) FROM tasks t WHERE (SELECT COUNT(*) "
                                        "FROM ledger l WHERE l.task_row = t.row_id AND "
                                        "l.kind = 'hold') <> 1 OR (SELECT COUNT(*) FROM ledger l "
                                        "WHERE l.task_row = t.row_id AND l.kind IN "
                                        "('capture', 'refund')) <> 1"), "0")
        self.assertEqual(psql(self.url, "SELECT COUNT(*) FROM accounts a WHERE balance <> "
                                        "(SELECT COALESCE(SUM(amount), 0) FROM ledger "
                                        "WHERE account_id = a.id)"), "0")
        self.assertGreaterEqual(int(psql(self.url, "SELECT COUNT(*) FROM tasks")), len(accepted))

    def test_requests_per_minute_hold_across_three_nodes(self):
        made = cli(["keys", "create", "--name", "rpm"], config=self.config)
        self.assertEqual(made.returncode, 0, made.stderr)
        key = made.stdout.strip()
        psql(self.url, "UPDATE api_keys SET rpm = 30 WHERE name = 'rpm'")
        nodes = [self.node() for _ in range(3)]
        # 90 requests spread over three nodes as fast as they answer: a limit counted on each
        # node would let all 90 through; the shared bucket lets through its 30 and what it
        # regains meanwhile (one every 2 s).
        start = time.monotonic()
        answers = [nodes[i % 3].request("GET", "/v1/credits", key=key) for i in range(90)]
        elapsed = time.monotonic() - start
        passed = sum(1 for r in answers if r.status == 200)
        refused = [r for r in answers if r.status == 429]
        self.assertEqual(passed + len(refused), 90, [r.status for r in answers])
        self.assertGreaterEqual(passed, 30, [r.status for r in answers])
        self.assertLessEqual(passed, 30 + int(elapsed / 2) + 1, (passed, elapsed))
        for r in refused:
            self.assertEqual(r.json()["error"]["code"], "rate_limit_exceeded", r.body)
            self.assertGreaterEqual(int(r.header("Retry-After")), 1)
            self.assertLessEqual(int(r.header("Retry-After")), 2)
        # Every node refused some: each learnt the bucket was empty from the database.
        for i in range(3):
            self.assertTrue(any(answers[j].status == 429 for j in range(i, 90, 3)), i)
        self.assertEqual(psql(self.url, "SELECT COUNT(*) FROM rate_buckets"), "1")
        # A token is back after 2 s on whichever node asks.
        time.sleep(2.1)
        self.assertEqual(nodes[1].request("GET", "/v1/credits", key=key).status, 200)

    def test_a_bad_store_url_stops_the_server_with_a_clear_error(self):
        bad = cli(["keys", "list"], env={"IMAGEGATE_STORE_URL": "mysql://x@127.0.0.1/db"})
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("store.url", bad.stderr + bad.stdout)
        down = cli(["keys", "list"],
                   env={"IMAGEGATE_STORE_URL": "postgres://u:hunter2@127.0.0.1:1/db"})
        self.assertNotEqual(down.returncode, 0)
        self.assertNotIn("hunter2", down.stderr + down.stdout)
        self.assertIn("PostgreSQL", down.stderr + down.stdout)


if __name__ == "__main__":
    unittest.main()
