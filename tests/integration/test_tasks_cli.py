"""`imagegate tasks show ID`: what an operator reads about a task, in the shape scripts parse."""
import os
import re
import sqlite3
import subprocess
import unittest

from harness import BIN, Server, parse_task_show

T2I = "gpt-image-2-text-to-image"

FIELDS = ["dialect", "model", "state", "attempt", "created_ms", "completed_ms", "fail_code",
          "fail_msg", "upstream", "usage", "results", "calls"]


def fields_of(stdout):
    """The "name: value" lines after the first, in order, as (name, value) pairs."""
    lines = stdout.splitlines()
    return [tuple(line.split(": ", 1)) for line in lines[1:len(FIELDS) + 1]]


class TasksShowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.key = cls.server.create_key("cli")
        cls.server.start()
        r = cls.server.create_job(cls.key, {"model": T2I, "input": {"prompt": "for the cli"}})
        assert r.status == 200, (r.status, r.body)
        cls.task_id = r.json()["data"]["taskId"]
        data, _ = cls.server.wait_job(cls.key, cls.task_id)
        assert data["state"] == "success", data

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_a_finished_task_while_the_server_runs(self):
        out = self.server.tasks_show(self.task_id)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0], "task " + self.task_id)
        pairs = fields_of(out.stdout)
        self.assertEqual([p[0] for p in pairs], FIELDS, out.stdout)
        f = dict(pairs)
        self.assertEqual(f["dialect"], "jobs")
        self.assertEqual(f["model"], T2I)
        self.assertEqual(f["state"], "succeeded")
        self.assertEqual(f["attempt"], "1")
        created, completed = int(f["created_ms"]), int(f["completed_ms"])
        self.assertGreater(created, 1_600_000_000_000)
        self.assertGreaterEqual(completed, created)
        self.assertEqual(f["fail_code"], "-")
        self.assertEqual(f["fail_msg"], "-")
        self.assertRegex(f["upstream"], r"^(-|[^/\s]+/\S+)$")
        self.assertEqual(f["results"], "1")
        # Each upstream call is one "  call k ..." line (and its message, indented, when any).
        parsed = parse_task_show(out.stdout)
        self.assertEqual(int(f["calls"]), len(parsed["calls"]))
        self.assertEqual([c["k"] for c in parsed["calls"]], list(range(1, len(parsed["calls"]) + 1)))
        for line in lines[len(FIELDS) + 1:]:
            self.assertRegex(line, r"^(  call \d+ .*|      message: .*)$")

    def test_an_unknown_id(self):
        out = self.server.tasks_show("no-such-task-0001")
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stdout, "")
        self.assertIn("imagegate: no task no-such-task-0001", out.stderr)

    def test_the_config_file_is_honoured(self):
        config = os.path.join(self.server.data_dir, "cli.toml")
        with open(config, "w") as f:
            f.write('[server]\ndata_dir = "%s"\n' % self.server.data_dir)
        out = subprocess.run([BIN, "tasks", "show", self.task_id, "--config", config],
                             capture_output=True, text=True, timeout=30,
                             cwd=os.path.dirname(self.server.data_dir))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines()[0], "task " + self.task_id)


class TasksShowRecordedUpstreamTest(unittest.TestCase):
    """Usage, the upstream and the call log as the dispatcher records them (written here
    straight into the database, the server stopped), in the documented shape."""

    def test_usage_upstream_and_calls(self):
        server = Server()
        try:
            key = server.create_key("cli")
            server.start()
            r = server.create_job(key, {"model": T2I, "input": {"prompt": "recorded"}})
            self.assertEqual(r.status, 200, r.body)
            task_id = r.json()["data"]["taskId"]
            server.wait_job(key, task_id)
            server.stop()

            db = sqlite3.connect(os.path.join(server.data_dir, "imagegate.db"))
            row = db.execute("SELECT row_id FROM tasks WHERE id = ?", (task_id,)).fetchone()[0]
            db.execute("DELETE FROM upstream_calls WHERE task_row = ?", (row,))
            db.execute(
                "UPDATE tasks SET state = 'failed', fail_code = 'upstream_error', "
                "fail_msg = 'every route failed', upstream_route = 'kie', upstream_id = '', "
                "usage_json = '{\"input_tokens\":50,\"output_tokens\":4160,\"total_tokens\":4210}' "
                "WHERE row_id = ?", (row,))
            db.execute(
                "INSERT INTO upstream_calls (task_row, attempt, route, provider_kind, upstream_id, "
                "http_status, started_ms, duration_ms, error_class, error_code, message) VALUES "
                "(?, 1, 'openai', 'openai', '', 503, 1000, 1200, 'no_work', 'upstream_error', "
                "'the upstream answered 503'), "
                "(?, 1, 'kie', 'relay', 'kie-77', 200, 3000, 900, '', '', ''), "
                "(?, 2, 'kie', 'relay', '', 0, 5000, -1, 'in_flight', '', '')",
                (row, row, row))
            db.commit()
            db.close()

            out = server.tasks_show(task_id)
            self.assertEqual(out.returncode, 0, out.stderr)
            f = dict(fields_of(out.stdout))
            self.assertEqual(f["state"], "failed")
            self.assertEqual(f["fail_code"], "upstream_error")
            self.assertEqual(f["fail_msg"], "every route failed")
            self.assertEqual(f["upstream"], "kie/-")
            self.assertEqual(f["usage"], "input_tokens=50 output_tokens=4160 total_tokens=4210")
            self.assertEqual(f["calls"], "3")
            self.assertEqual(out.stdout.splitlines()[len(FIELDS) + 1:], [
                "  call 1 attempt=1 route=openai kind=openai upstream_id=- http_status=503 "
                "duration_ms=1200 class=no_work code=upstream_error",
                "      message: the upstream answered 503",
                "  call 2 attempt=1 route=kie kind=relay upstream_id=kie-77 http_status=200 "
                "duration_ms=900 class=ok code=-",
                "  call 3 attempt=2 route=kie kind=relay upstream_id=- http_status=0 "
                "duration_ms=-1 class=in_flight code=-",
            ])
            parsed = parse_task_show(out.stdout)
            self.assertEqual([c["class"] for c in parsed["calls"]], ["no_work", "ok", "in_flight"])
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
