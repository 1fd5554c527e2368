"""Crash and drain: a task survives kill -9 and finishes once; SIGTERM drains cleanly."""
import json
import os
import signal
import sqlite3
import threading
import time
import unittest

from harness import Server, png_size

T2I = "gpt-image-2-text-to-image"


def task_row(server, task_id):
    db = sqlite3.connect(os.path.join(server.data_dir, "imagegate.db"))
    db.row_factory = sqlite3.Row
    row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    db.close()
    return row


class RestartTest(unittest.TestCase):
    def test_kill_9_while_running_then_the_task_completes_once(self):
        settings = {"sandbox.latency_ms": "3000", "dispatcher.lease_ms": "1500"}
        server = Server(settings=settings)
        key = server.create_key("restart")
        server.start()
        try:
            r = server.create_job(key, {"model": T2I, "input": {"prompt": "survive"}})
            self.assertEqual(r.status, 200)
            task_id = r.json()["data"]["taskId"]
            deadline = time.monotonic() + 10
            while task_row(server, task_id)["state"] != "running":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            server.kill(signal.SIGKILL)
            self.assertEqual(task_row(server, task_id)["state"], "running")
            self.assertEqual(task_row(server, task_id)["attempt"], 1)

            server.start()  # same data dir
            data, _ = server.wait_job(key, task_id, timeout=30)
            self.assertEqual(data["state"], "success", data)
            row = task_row(server, task_id)
            self.assertEqual(row["attempt"], 2)  # one lost run, one finished run
            urls = json.loads(data["resultJson"])["resultUrls"]
            self.assertEqual(len(urls), 1)
            self.assertEqual(png_size(server.get_url(urls[0]).body), (1024, 1024))
            files = os.listdir(os.path.join(server.data_dir, "results", task_id))
            self.assertEqual([f for f in files if not f.startswith(".")], ["a2-1.png"])  # attempt 2 wrote it
            # It stays finished: nothing claims it again.
            time.sleep(2)
            self.assertEqual(task_row(server, task_id)["attempt"], 2)
            self.assertEqual(server.log_text().count("task=%s attempt=2 succeeded" % task_id), 1)
        finally:
            server.cleanup()

    def test_sigterm_finishes_requests_and_releases_running_tasks(self):
        server = Server(settings={"sandbox.latency_ms": "20000", "dispatcher.lease_ms": "60000"})
        key = server.create_key("drain")
        server.start()
        try:
            r = server.create_job(key, {"model": T2I, "input": {"prompt": "long"}})
            task_id = r.json()["data"]["taskId"]
            deadline = time.monotonic() + 10
            while task_row(server, task_id)["state"] != "running":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            start = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            self.assertEqual(server.proc.wait(timeout=20), 0)
            self.assertLess(time.monotonic() - start, 10)  # did not wait for the 20 s generation
            row = task_row(server, task_id)
            self.assertEqual(row["state"], "queued")  # released, not lost
            self.assertIn("drained", server.log_text())
            # The next process picks it up at once (no lease to wait for).
            server.settings["sandbox.latency_ms"] = "100"
            server.start()
            data, _ = server.wait_job(key, task_id, timeout=15)
            self.assertEqual(data["state"], "success")
        finally:
            server.cleanup()


class CancelWhileRenderingTest(unittest.TestCase):
    """Cancelling a run while its provider works on a blocking thread (ten 4K renders take a
    couple of seconds) must neither crash the server nor lose anything."""

    def setUp(self):
        self.server = Server(settings={"sandbox.latency_ms": "0", "dispatcher.concurrency": "4"})
        self.key = self.server.create_key("cancel")
        self.server.start()

    def tearDown(self):
        self.server.cleanup()

    def create_big(self, prompt):
        r = self.server.request("POST", "/v1/images/generations", key=self.key, body={
            "model": "gpt-image-2", "prompt": prompt, "size": "16:9", "resolution": "4K",
            "n": 10})
        self.assertEqual(r.status, 200, r.body)
        return r.json()["id"]

    def wait_running(self, task_id):
        deadline = time.monotonic() + 10
        while task_row(self.server, task_id)["state"] != "running":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)

    def test_the_owner_cancels_a_rendering_task(self):
        task_id = self.create_big("cancel me mid-render")
        self.wait_running(task_id)
        r = self.server.request("POST", "/v1/tasks/%s/cancel" % task_id, key=self.key, body={})
        self.assertEqual(r.status, 200, r.body)
        time.sleep(3)  # the render finishes on its thread; its write must be refused
        self.assertIsNone(self.server.proc.poll(), "the server died")
        self.assertEqual(self.server.request("GET", "/healthz").status, 200)
        self.assertEqual(task_row(self.server, task_id)["state"], "cancelled")
        r = self.server.request("GET", "/v1/tasks/" + task_id, key=self.key)
        self.assertEqual(r.json()["status"], "failed")  # seed 001 has no "cancelled" status
        self.assertEqual(r.json()["error"]["code"], "request_cancelled")

    def test_sigterm_while_tasks_render(self):
        ids = [self.create_big("drain %d" % i) for i in range(3)]
        for task_id in ids:
            self.wait_running(task_id)
        self.server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.server.proc.wait(timeout=60), 0)
        self.assertIn("drained", self.server.log_text())
        # Each task either kept the images it had finished (fenced write) or was handed back.
        states = [task_row(self.server, t)["state"] for t in ids]
        for state in states:
            self.assertIn(state, ("succeeded", "queued"), states)
        self.server.start()
        for task_id in ids:
            deadline = time.monotonic() + 60
            while task_row(self.server, task_id)["state"] != "succeeded":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.1)


if __name__ == "__main__":
    unittest.main()
