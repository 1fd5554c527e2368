"""Live task status: long-poll (`?wait=N` on the query endpoints) and Server-Sent Events
(`/v1/tasks/{id}/events`, `/api/v1/jobs/recordInfo/events?taskId=`), and the `generate` client
that long-polls.

Servers: `fast` (the sandbox takes 1.5 s: a task is seen running, then ending), `slow` (20 s:
nothing happens while a test watches), `queue` (one task at a time: a second task is seen queued,
then running, then ending).
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import BIN, Server

TASKS_BODY = {"model": "gpt-image-2-text-to-image", "input": {"prompt": "a lighthouse at dusk"}}
JOBS_BODY = {"model": "gpt-image-2-text-to-image",
             "input": {"prompt": "a lighthouse at dusk", "aspect_ratio": "1:1"}}
UNIFIED_BODY = {"model": "gpt-image-2", "prompt": "a lighthouse at dusk"}


class Stream:
    """One Server-Sent Events response, read event by event."""

    def __init__(self, server, path, key, last_event_id=None, timeout=30):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        headers = {"Authorization": "Bearer " + key, "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", path, headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status

    def header(self, name):
        return self.resp.getheader(name)

    def next(self):
        """The next block as {"id", "data", "comments"}, or None when the stream has ended."""
        block = {"id": None, "data": None, "comments": []}
        data = []
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data or block["id"] is not None or block["comments"]:
                    block["data"] = "\n".join(data) if data else None
                    return block
                continue
            if line.startswith(":"):
                block["comments"].append(line[1:].strip())
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field == "id":
                block["id"] = value

    def events(self):
        """Every event up to the end of the stream (keep-alive comments left out)."""
        out = []
        while True:
            block = self.next()
            if block is None:
                return out
            if block["data"] is not None:
                out.append(block)

    def close(self):
        self.conn.close()


def past_queued(stream):
    """The first event that is not "queued": a stream opened right after the create may find the
    task not claimed yet (a busy or sanitized build), and then rightly starts with "queued"."""
    block = stream.next()
    while block is not None and block["id"] == "queued":
        block = stream.next()
    return block


class LiveStatusCase(unittest.TestCase):
    """Servers and keys shared by the tests below."""

    @classmethod
    def setUpClass(cls):
        cls.fast = Server(settings={"sandbox.latency_ms": "1500"})
        cls.slow = Server(settings={"sandbox.latency_ms": "20000"})
        cls.queue = Server(settings={"sandbox.latency_ms": "1500", "dispatcher.concurrency": "1"})
        cls.keys = {}
        for s in (cls.fast, cls.slow, cls.queue):
            cls.keys[s] = s.create_key("live")
            s.start()

    @classmethod
    def tearDownClass(cls):
        for s in (cls.fast, cls.slow, cls.queue):
            s.cleanup()

    def create(self, server, dialect="tasks"):
        key = self.keys[server]
        if dialect == "tasks":
            r = server.request("POST", "/v1/tasks", body=TASKS_BODY, key=key)
            self.assertEqual(r.status, 200, r.body)
            return r.json()["data"]["taskId"]
        if dialect == "jobs":
            r = server.create_job(key, JOBS_BODY)
            self.assertEqual(r.status, 200, r.body)
            return r.json()["data"]["taskId"]
        r = server.request("POST", "/v1/images/generations", body=UNIFIED_BODY, key=key)
        self.assertEqual(r.status, 200, r.body)
        return r.json()["id"]

    def get(self, server, path, key=None, timeout=90):
        return server.request("GET", path, key=key or self.keys[server], timeout=timeout)

    def timed_get(self, server, path, key=None):
        start = time.monotonic()
        r = self.get(server, path, key)
        return r, time.monotonic() - start

    def stream(self, server, path, last_event_id=None, key=None):
        s = Stream(server, path, key or self.keys[server], last_event_id)
        self.addCleanup(s.close)
        return s

    def until_running(self, server, task, dialect="tasks"):
        """Returns once the task runs. A long-poll that starts while the task is still queued is
        rightly answered by its start (a change), not by its end: a test that waits for the end
        waits for the start first."""
        if dialect == "jobs":
            path = "/api/v1/jobs/recordInfo/events?taskId=" + urllib.parse.quote(task)
        else:
            path = "/v1/tasks/%s/events" % task
        s = Stream(server, path, self.keys[server])
        try:
            self.assertEqual(past_queued(s)["id"], "running")
        finally:
            s.close()


class LongPollTest(LiveStatusCase):
    def test_answers_at_completion_with_the_terminal_body(self):
        task = self.create(self.fast, "jobs")
        path = "/api/v1/jobs/recordInfo?taskId=" + urllib.parse.quote(task)
        first = self.get(self.fast, path)
        self.assertEqual(first.json()["data"]["state"], "waiting")
        self.assertEqual(first.header("X-Long-Poll-Max-Wait"), "60")
        self.until_running(self.fast, task, "jobs")
        r, took = self.timed_get(self.fast, path + "&wait=30")
        answered_ms = time.time() * 1000
        self.assertEqual(r.status, 200, r.body)
        data = r.json()["data"]
        self.assertEqual(data["state"], "success", data)
        # Held until the end, and answered as soon as the task ended.
        self.assertGreater(took, 0.5)
        self.assertLess(answered_ms - data["completeTime"], 1000, data)
        # The same body as without `wait`.
        self.assertEqual(r.body, self.get(self.fast, path).body)

    def test_tasks_path_answers_at_completion(self):
        task = self.create(self.fast, "tasks")
        path = "/v1/tasks/" + task
        self.until_running(self.fast, task)
        self.assertEqual(self.get(self.fast, path).json()["data"]["status"], "handling")
        r, took = self.timed_get(self.fast, path + "?wait=30")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["data"]["status"], "success", r.body)
        self.assertLess(took, 5)
        self.assertEqual(r.body, self.get(self.fast, path).body)

    def test_answers_after_the_wait_with_the_unchanged_body(self):
        task = self.create(self.slow, "tasks")
        path = "/v1/tasks/" + task
        self.until_running(self.slow, task)
        before = self.get(self.slow, path)
        self.assertEqual(before.json()["data"]["status"], "handling")
        r, took = self.timed_get(self.slow, path + "?wait=1")
        self.assertEqual(r.status, 200, r.body)
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 2.5)
        self.assertEqual(r.body, before.body)

    def test_a_terminal_task_answers_at_once(self):
        task = self.create(self.fast, "unified")
        path = "/v1/tasks/" + task
        self.until_running(self.fast, task, "unified")
        done, _ = self.timed_get(self.fast, path + "?wait=30")
        self.assertEqual(done.json()["status"], "completed", done.body)
        r, took = self.timed_get(self.fast, path + "?wait=60")
        self.assertEqual(r.status, 200)
        self.assertLess(took, 0.5)
        self.assertEqual(r.body, done.body)

    def test_a_cancel_answers_the_long_poll(self):
        task = self.create(self.slow, "tasks")
        path = "/v1/tasks/" + task
        self.until_running(self.slow, task)
        answer = {}

        def long_poll():
            answer["r"], answer["took"] = self.timed_get(self.slow, path + "?wait=30")

        t = threading.Thread(target=long_poll)
        t.start()
        time.sleep(0.3)
        c = self.slow.request("POST", path + "/cancel", key=self.keys[self.slow])
        self.assertEqual(c.status, 200, c.body)
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(answer["r"].status, 200)
        data = answer["r"].json()["data"]
        self.assertEqual((data["status"], data["error"]["code"]), ("fail", "cancelled"))
        self.assertLess(answer["took"], 0.8)  # woken by the cancel, not the 1 s poll

    def test_wait_out_of_range_is_400_in_the_dialects_envelope(self):
        task = self.create(self.fast, "tasks")
        for bad in ("61", "-1", "abc", "", "1.5", "99999999999"):
            with self.subTest(wait=bad):
                r = self.get(self.fast, "/v1/tasks/%s?wait=%s" % (task, urllib.parse.quote(bad)))
                self.assertEqual(r.status, 400, r.body)
                env = r.json()
                self.assertEqual((env["code"], env["error_code"]), (400, "INVALID_REQUEST"))
                self.assertIn("wait", env["message"])
        r = self.get(self.fast, "/api/v1/jobs/recordInfo?taskId=%s&wait=61" % task)
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["code"], 400)
        self.assertIn("wait", r.json()["msg"])
        unified = self.create(self.fast, "unified")
        r = self.get(self.fast, "/v1/tasks/%s?wait=x" % unified)
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"]["param"], "wait")
        # The boundaries are accepted.
        for good in ("0", "60"):
            self.assertEqual(self.get(self.fast, "/v1/tasks/%s?wait=%s" % (unified, good)).status,
                             200)

    def test_unknown_task_and_bad_key(self):
        r, took = self.timed_get(self.fast, "/v1/tasks/tk-hiapi-01M80ZMF9TGWJB4A9HDHQJBJ9W?wait=30")
        self.assertEqual(r.status, 404, r.body)
        self.assertEqual(r.json()["error_code"], "TASK_NOT_FOUND")
        self.assertLess(took, 1)
        r = self.get(self.fast, "/api/v1/jobs/recordInfo?taskId=nope&wait=30")
        self.assertEqual(r.status, 404, r.body)
        self.assertEqual(r.json()["code"], 404)
        r = self.get(self.fast, "/v1/tasks/%s?wait=5" % self.create(self.fast), key="sk-wrong")
        self.assertEqual(r.status, 401, r.body)


class EventStreamTest(LiveStatusCase):
    def test_running_then_the_terminal_event_then_the_end(self):
        task = self.create(self.fast, "tasks")
        s = self.stream(self.fast, "/v1/tasks/%s/events" % task)
        self.assertEqual(s.status, 200)
        self.assertEqual(s.header("Content-Type"), "text/event-stream")
        self.assertEqual(s.header("Cache-Control"), "no-cache")
        events = [e for e in s.events() if e["id"] != "queued"]
        self.assertEqual([e["id"] for e in events], ["running", "succeeded"], events)
        self.assertEqual(json.loads(events[0]["data"])["data"]["status"], "handling")
        # The terminal event is the query endpoint's body, byte for byte.
        self.assertEqual(events[1]["data"], self.get(self.fast, "/v1/tasks/" + task).body.decode())

    def test_jobs_path_and_timing(self):
        task = self.create(self.fast, "jobs")
        s = self.stream(self.fast, "/api/v1/jobs/recordInfo/events?taskId=" + task)
        self.assertEqual(s.status, 200)
        first = past_queued(s)
        self.assertEqual(first["id"], "running")
        self.assertEqual(json.loads(first["data"])["data"]["state"], "waiting")
        last = s.next()
        seen_ms = time.time() * 1000
        self.assertEqual(last["id"], "succeeded")
        data = json.loads(last["data"])["data"]
        self.assertEqual(data["state"], "success")
        self.assertLess(seen_ms - data["completeTime"], 1000)
        self.assertIsNone(s.next())  # the stream ends after the terminal event
        record = self.get(self.fast, "/api/v1/jobs/recordInfo?taskId=" + task)
        self.assertEqual(last["data"], record.body.decode())

    def test_queued_running_and_the_end_each_once(self):
        blocker = self.create(self.queue, "jobs")
        task = self.create(self.queue, "unified")
        s = self.stream(self.queue, "/v1/tasks/%s/events" % task)
        events, arrived_ms = [], []
        while True:
            block = s.next()
            if block is None:
                break
            events.append(block)
            arrived_ms.append(time.time() * 1000)
        self.assertEqual([e["id"] for e in events], ["queued", "running", "succeeded"], events)
        self.assertEqual([json.loads(e["data"])["status"] for e in events],
                         ["pending", "processing", "completed"])
        record = self.get(self.queue, "/api/v1/jobs/recordInfo?taskId=" + blocker).json()["data"]
        self.assertEqual(record["state"], "success")
        # The second task starts when the first ends; its start is signalled, not found by the
        # 1 s poll.
        self.assertLess(arrived_ms[1] - record["completeTime"], 500)

    def test_last_event_id_resumes_without_repeating(self):
        task = self.create(self.fast, "tasks")
        path = "/v1/tasks/%s/events" % task
        # Until the task has been claimed (a slow build may still have it queued), so that a
        # client that has seen "running" is not ahead of the server.
        first = self.stream(self.fast, path)
        past_queued(first)
        first.close()
        # Running, and the client has seen that: the next event is the end.
        s = self.stream(self.fast, path, last_event_id="running")
        events = s.events()
        self.assertEqual([e["id"] for e in events], ["succeeded"])
        # Ended, and the client has seen the end: nothing is sent; 204 stops an EventSource.
        seen = self.stream(self.fast, path, last_event_id="succeeded")
        self.assertEqual(seen.status, 204)
        self.assertEqual(seen.resp.read(), b"")
        # Ended, last seen running: the end once, then the stream ends.
        again = self.stream(self.fast, path, last_event_id="running")
        self.assertEqual(again.status, 200)
        self.assertEqual([e["id"] for e in again.events()], ["succeeded"])
        # No Last-Event-ID: the end once.
        fresh = self.stream(self.fast, path)
        self.assertEqual([e["id"] for e in fresh.events()], ["succeeded"])

    def test_unknown_task_bad_key_and_method_in_the_dialects_envelope(self):
        s = self.stream(self.fast, "/v1/tasks/tk-hiapi-01M80ZMF9TGWJB4A9HDHQJBJ9W/events")
        self.assertEqual(s.status, 404)
        self.assertEqual(json.loads(s.resp.read())["error_code"], "TASK_NOT_FOUND")
        s = self.stream(self.fast, "/v1/tasks/0b1e3c7e-55a1-4d1b-9f43-3d1e8f7a9c10/events")
        self.assertEqual(s.status, 404)
        self.assertEqual(json.loads(s.resp.read())["error"]["code"], "task_not_found")
        s = self.stream(self.fast, "/api/v1/jobs/recordInfo/events?taskId=nope")
        self.assertEqual(s.status, 404)
        self.assertEqual(json.loads(s.resp.read())["code"], 404)
        s = self.stream(self.fast, "/api/v1/jobs/recordInfo/events")
        self.assertEqual(s.status, 400)
        s = self.stream(self.fast, "/v1/tasks/%s/events" % self.create(self.fast), key="sk-wrong")
        self.assertEqual(s.status, 401)
        r = self.fast.request("POST", "/v1/tasks/%s/events" % self.create(self.fast),
                              key=self.keys[self.fast])
        self.assertEqual(r.status, 405, r.body)

    def test_keep_alive_pings_while_nothing_happens(self):
        task = self.create(self.slow, "tasks")
        s = self.stream(self.slow, "/v1/tasks/%s/events" % task)
        self.assertEqual(past_queued(s)["id"], "running")
        start = time.monotonic()
        block = s.next()
        took = time.monotonic() - start
        self.assertEqual(block["comments"], ["ping"], block)
        self.assertIsNone(block["data"])
        self.assertGreater(took, 13)
        self.assertLess(took, 18)

    def test_a_client_that_leaves_ends_its_stream(self):
        task = self.create(self.slow, "tasks")
        s = Stream(self.slow, "/v1/tasks/%s/events" % task, self.keys[self.slow])
        self.assertEqual(past_queued(s)["id"], "running")
        request_id = s.header("X-Request-ID")
        s.close()
        closed = time.monotonic()
        log = self.slow.wait_log("request_id=%s remote" % request_id, timeout=5)
        self.assertIn("request_id=%s remote" % request_id, log)
        self.assertLess(time.monotonic() - closed, 2)


class DrainTest(unittest.TestCase):
    def test_streams_and_long_polls_end_when_the_server_drains(self):
        server = Server(settings={"sandbox.latency_ms": "20000"})
        self.addCleanup(server.cleanup)
        key = server.create_key("drain")
        server.start()
        r = server.request("POST", "/v1/tasks", body=TASKS_BODY, key=key)
        task = r.json()["data"]["taskId"]
        s = Stream(server, "/v1/tasks/%s/events" % task, key)
        self.addCleanup(s.close)
        self.assertEqual(past_queued(s)["id"], "running")
        answer = {}

        def long_poll():
            answer["r"] = server.request("GET", "/v1/tasks/%s?wait=60" % task, key=key)

        t = threading.Thread(target=long_poll)
        t.start()
        time.sleep(0.3)
        start = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        self.assertIsNone(s.next())  # the stream ends cleanly (its last chunk), no error
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(answer["r"].status, 200)
        self.assertEqual(answer["r"].json()["data"]["status"], "handling")
        self.assertLess(time.monotonic() - start, 3)
        self.assertEqual(server.proc.wait(timeout=30), 0)


class GenerateLongPollTest(unittest.TestCase):
    def test_generate_long_polls_and_keeps_its_output(self):
        server = Server(settings={"sandbox.latency_ms": "2500"})
        self.addCleanup(server.cleanup)
        key = server.create_key("generate")
        server.start()
        out_dir = tempfile.mkdtemp(prefix="ig-live-")
        self.addCleanup(shutil.rmtree, out_dir, True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEGATE_")}
        p = subprocess.run([BIN, "generate", "--server", server.base, "--key", key, "--dialect",
                            "tasks", "-o", out_dir, "a lighthouse"],
                           capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        paths = p.stdout.splitlines()
        self.assertEqual(len(paths), 1, p.stdout)
        self.assertTrue(os.path.exists(paths[0]))
        task = re.search(r"(tk-hiapi-[0-9A-Z]{26})", paths[0]).group(1)
        self.assertIn("task %s: handling" % task, p.stderr)
        self.assertIn("task %s: success" % task, p.stderr)
        log = server.wait_log("route=files")
        polls = re.findall(r"target=/v1/tasks/%s(\S*) route=task_get" % task, log)
        # One plain poll, then one long-poll held until the end (not one every few seconds). If
        # the plain poll found the task still queued, its start answers a first long-poll.
        self.assertIn(polls, (["", "?wait=30"], ["", "?wait=30", "?wait=30"]), polls)


if __name__ == "__main__":
    unittest.main()
