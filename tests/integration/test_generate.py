"""`imagegate generate`: the client subcommand, end to end.

Two halves:
- against the real server (port 0, sandbox provider) in each dialect: exit codes, saved PNGs,
  the paths on stdout, a failing task, a bad key;
- against fake providers written here, which check that each dialect's request is shaped
  exactly as its provider documents it (so the client works against the providers too), and
  which exercise TLS (test CA via SSL_CERT_FILE), redirects and the error envelopes.
"""
import http.server
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import unittest
import urllib.parse

from harness import BIN, HttpsFixture, Server, make_png, make_png_pixels, png_size

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IMAGEGATE_") and k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env.update(extra)
    return env


class GenerateRun:
    """One `imagegate generate` process and the directory it saved into."""

    def __init__(self, server_url, key, prompt, args=(), env=None, timeout=120):
        self.out_dir = os.path.join(tempfile.mkdtemp(prefix="ig-gen-"), "results")
        cmd = [BIN, "generate", "--server", server_url, "--key", key, prompt,
               "-o", self.out_dir] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=env or clean_env())
        self.returncode, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr

    @property
    def paths(self):
        return [line for line in self.stdout.splitlines() if line]

    def saved_files(self):
        if not os.path.isdir(self.out_dir):
            return []
        return sorted(os.listdir(self.out_dir))

    def cleanup(self):
        shutil.rmtree(os.path.dirname(self.out_dir), ignore_errors=True)


class GenerateCase(unittest.TestCase):
    def generate(self, server_url, key, prompt, *args, env=None):
        run = GenerateRun(server_url, key, prompt, args, env=env)
        self.addCleanup(run.cleanup)
        return run

    def assert_saved(self, run, count, size=None, id_pattern=".+", ext="png"):
        """Exit 0, `count` paths on stdout, each an existing `<taskId>-<n>.<ext>` in -o."""
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(len(run.paths), count, run.stdout)
        task_ids = set()
        for n, path in enumerate(run.paths, start=1):
            self.assertEqual(os.path.dirname(os.path.abspath(path)), run.out_dir)
            m = re.fullmatch(r"(%s)-%d\.%s" % (id_pattern, n, ext), os.path.basename(path))
            self.assertIsNotNone(m, path)
            task_ids.add(m.group(1))
            with open(path, "rb") as f:
                data = f.read()
            if size is not None:
                self.assertEqual(png_size(data), size, path)
        self.assertEqual(len(task_ids), 1, run.paths)
        self.assertEqual(run.saved_files(), sorted(os.path.basename(p) for p in run.paths))
        return task_ids.pop()

    def assert_failed(self, run, *fragments):
        self.assertNotEqual(run.returncode, 0, run.stdout)
        self.assertNotEqual(run.returncode, 2, run.stderr)
        self.assertEqual(run.stdout, "")
        for fragment in fragments:
            self.assertIn(fragment, run.stderr)


# --- against the real server

class GenerateAgainstServerTest(GenerateCase):
    @classmethod
    def setUpClass(cls):
        cls.https = HttpsFixture()
        cls.https.add_file("input.png", make_png(640, 480, (10, 120, 240)))
        cls.https.add_file("mask.png", make_png_pixels(
            640, 480, lambda x, y: (0, 0, 0, 0 if x < 320 else 255), alpha=True))
        cls.https.start()
        # Longer than the first poll (500 ms), so that the queued state is seen.
        cls.server = Server(settings={**cls.https.server_settings(), "sandbox.latency_ms": "1200"})
        cls.key = cls.server.create_key("generate")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.https.stop()

    def run_gen(self, prompt, *args, key=None):
        return self.generate(self.server.base, key or self.key, prompt, *args)

    def test_jobs_text_to_image_saves_the_png_and_prints_its_path(self):
        run = self.run_gen("a lighthouse at dusk", "--size", "16:9", "--resolution", "1K")
        task_id = self.assert_saved(run, 1, (1360, 768), id_pattern=UUID)
        # Not a terminal: one plain line per state change, on stderr.
        self.assertIn("task %s: waiting" % task_id, run.stderr)
        self.assertIn("task %s: success" % task_id, run.stderr)
        self.assertNotIn("\r", run.stderr)

    def test_jobs_is_the_default_and_creates_the_output_directory(self):
        run = self.run_gen("a red fox in snow", "--size", "9:16")
        self.assert_saved(run, 1, (768, 1360), id_pattern=UUID)
        self.assertTrue(run.out_dir.endswith("results"))

    def test_jobs_image_to_image(self):
        run = self.run_gen("make it a studio shot", "-i", self.https.url("input.png"),
                           "--size", "1:1")
        self.assert_saved(run, 1, (1024, 1024), id_pattern=UUID)

    def test_bad_key_exits_non_zero_with_the_401_message(self):
        run = self.run_gen("a red fox", key="sk-not-a-real-key")
        self.assert_failed(run, "HTTP 401", "invalid API key")
        self.assertEqual(run.saved_files(), [])

    def test_validation_error_shows_the_servers_message(self):
        run = self.run_gen("a red fox", "--size", "7:3")
        self.assert_failed(run, "HTTP 422", "input.aspect_ratio must be one of")

    def test_bad_usage_exits_2_before_any_request(self):
        cases = [
            ["--mask", self.https.url("mask.png"), "-i", self.https.url("input.png")],
            ["-n", "2"],
            ["--dialect", "openai"],
            ["-n", "11", "--dialect", "unified"],
            ["--timeout", "0"],
        ]
        for args in cases:
            run = self.run_gen("x", *args)
            self.assertEqual(run.returncode, 2, (args, run.stderr))
            self.assertEqual(run.stdout, "")
            self.assertNotEqual(run.stderr, "")
        missing_key = subprocess.run([BIN, "generate", "--server", self.server.base, "x"],
                                     capture_output=True, text=True, timeout=30)
        self.assertEqual(missing_key.returncode, 2)
        self.assertIn("--key", missing_key.stderr)

    def test_unreachable_server_fails_with_the_reason(self):
        run = self.generate("http://127.0.0.1:1", self.key, "x")
        self.assert_failed(run, "cannot connect to 127.0.0.1:1")

    def test_tasks(self):
        run = self.run_gen("a red fox", "--dialect", "tasks", "--size", "1:1",
                           "--resolution", "2K")
        task_id = self.assert_saved(run, 1, (2048, 2048))
        self.assertIn("task %s: success" % task_id, run.stderr)

    def test_generations_sends_lower_case_resolution(self):
        # 2048x1152 is seed 004's own 16:9 2k size.
        run = self.run_gen("a red fox", "--dialect", "generations", "--size", "16:9",
                           "--resolution", "2K")
        task_id = self.assert_saved(run, 1, (2048, 1152), id_pattern=UUID)
        self.assertIn("task %s: completed" % task_id, run.stderr)

    def test_unified_explicit_size_and_several_images(self):
        run = self.run_gen("a red fox", "--dialect", "unified", "--size", "1536x1024", "-n", "2")
        task_id = self.assert_saved(run, 2, (1536, 1024),
                                    id_pattern=r"task-unified-\d+-[a-z0-9]{8}")
        self.assertRegex(run.stderr, r"task %s: completed \([0-9.]+s\) 100%%" % task_id)

    def test_unified_with_reference_and_mask(self):
        run = self.run_gen("fill the left half", "--dialect", "unified",
                           "-i", self.https.url("input.png"), "--mask", self.https.url("mask.png"))
        self.assert_saved(run, 1)


class GenerateFailingTaskTest(GenerateCase):
    """Every task fails in the sandbox: the task's own message reaches stderr."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(settings={"sandbox.failure_rate": "1.0"})
        cls.key = cls.server.create_key("failing")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def check(self, dialect):
        run = self.generate(self.server.base, self.key, "will fail", "--dialect", dialect)
        self.assert_failed(run, "failed: ", "simulated")
        self.assertEqual(run.saved_files(), [])

    def test_jobs(self):
        self.check("jobs")

    def test_tasks(self):
        self.check("tasks")

    def test_generations(self):
        self.check("generations")

    def test_unified(self):
        self.check("unified")


# --- against fake providers

PNG = make_png(64, 48, (1, 2, 3))


class FakeProvider:
    """One provider dialect with canned answers: the task is waiting on the first poll and done
    on the second. Records every request. Optionally HTTPS with a fixture certificate."""

    def __init__(self, dialect, cert=None, result_urls=None, create_error=None, fail=False):
        self.dialect = dialect
        self.requests = []
        self.polls = 0
        self.create_error = create_error  # (status, body dict)
        self.fail = fail
        self.result_urls = result_urls
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.handle_any()

            def do_POST(self):
                self.handle_any()

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append({"method": self.command, "path": self.path,
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body})
                status, ctype, payload = fake.answer(self.command, self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert + ".pem", cert + ".key")
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def base(self, host="127.0.0.1"):
        return "%s://%s:%d" % (self.scheme, host, self.port)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def api_requests(self):
        return [r for r in self.requests if not r["path"].startswith("/results/")]

    def urls(self):
        return self.result_urls or [self.base() + "/results/1.png",
                                    self.base() + "/results/2.webp?sig=abc"]

    def answer(self, method, path, body):
        if path.startswith("/results/"):
            # The second result has a generic type: its extension comes from the URL.
            ctype = "image/png" if path.startswith("/results/1") else "application/octet-stream"
            return 200, ctype, PNG
        if method == "POST":
            if self.create_error:
                status, envelope = self.create_error
                return status, "application/json", json.dumps(envelope).encode()
            return 200, "application/json", json.dumps(self.created()).encode()
        self.polls += 1
        done = self.polls >= 2
        return 200, "application/json", json.dumps(self.task(done)).encode()

    def created(self):
        if self.dialect == "jobs":
            return {"code": 200, "msg": "success", "data": {"taskId": "job-1"}}
        if self.dialect == "tasks":
            return {"code": 200, "message": "success", "data": {"taskId": "tk-hiapi-1"}}
        if self.dialect == "generations":
            return {"code": 200, "msg": "success", "data": {"taskId": "gen-1"}}
        return {"created": 1757156493, "id": "task-unified-1757156493-imcg5zqt",
                "model": "gpt-image-2", "object": "image.generation.task", "progress": 0,
                "status": "pending", "type": "image"}

    def task(self, done):
        urls, fail = self.urls(), self.fail
        if self.dialect == "jobs":
            state = "waiting" if not done else ("fail" if fail else "success")
            data = {"taskId": "job-1", "state": state, "resultJson": None,
                    "failCode": None, "failMsg": None}
            if done and not fail:
                data["resultJson"] = json.dumps({"resultUrls": urls})
            if done and fail:
                data.update(failCode="generation_failed", failMsg="the model refused")
            return {"code": 200, "msg": "success", "data": data}
        if self.dialect == "tasks":
            data = {"taskId": "tk-hiapi-1", "status": "handling", "created": 1, "completed": 0}
            if done:
                data["status"] = "fail" if fail else "success"
                if fail:
                    data["error"] = {"code": "generation_failed", "message": "the model refused"}
                else:
                    data["output"] = [{"url": u, "type": "image", "expireAt": 2} for u in urls]
            return {"code": 200, "message": "success", "data": data}
        if self.dialect == "generations":
            t = {"id": "gen-1", "status": "processing", "model": "gpt-image-2", "progress": None}
            if done:
                t.pop("progress")
                t["status"] = "failed" if fail else "completed"
                if fail:
                    t["error"] = {"code": "upstream_error", "message": "the model refused"}
                else:
                    t["output"] = {"urls": urls, "metadata": {"costTime": 70}}
            return t
        t = {"id": "task-unified-1757156493-imcg5zqt", "status": "processing", "progress": 40,
             "object": "image.generation.task", "type": "image"}
        if done:
            t["status"] = "failed" if fail else "completed"
            t["progress"] = 100
            if fail:
                t["error"] = {"code": "content_policy_violation", "message": "the model refused",
                              "type": "task_error"}
            else:
                t["results"] = urls
        return t


class GenerateFakeProviderTest(GenerateCase):
    @classmethod
    def setUpClass(cls):
        cls.https = HttpsFixture()  # for its test CA and the redirect routes
        cls.https.add_file("image.png", make_png(32, 16))
        cls.https.start()

    @classmethod
    def tearDownClass(cls):
        cls.https.stop()

    def fake(self, dialect, **kwargs):
        f = FakeProvider(dialect, **kwargs)
        self.addCleanup(f.stop)
        return f

    def cert(self, name):
        return os.path.join(self.https.ca_dir, name)

    def tls_env(self):
        return clean_env(SSL_CERT_FILE=self.https.ca_file)

    def check_exchange(self, fake, create_path, create_body, poll_path, args, task_id):
        run = self.generate(fake.base(), "sk-fake", "a red fox", *args)
        self.assert_saved(run, 2, ext=r"(png|webp)", id_pattern=re.escape(task_id))
        self.assertTrue(run.paths[0].endswith("-1.png"), run.paths)
        self.assertTrue(run.paths[1].endswith("-2.webp"), run.paths)
        api = fake.api_requests()
        self.assertEqual([(r["method"], r["path"]) for r in api],
                         [("POST", create_path), ("GET", poll_path), ("GET", poll_path)])
        self.assertEqual(json.loads(api[0]["body"]), create_body)
        self.assertEqual(api[0]["headers"]["content-type"], "application/json")
        for r in api:
            self.assertEqual(r["headers"]["authorization"], "Bearer sk-fake")
        downloads = [r for r in fake.requests if r["path"].startswith("/results/")]
        self.assertEqual(len(downloads), 2)
        for r in downloads:
            self.assertNotIn("authorization", r["headers"])  # result URLs get no credentials
        return run

    def test_jobs_request_shape(self):
        fake = self.fake("jobs")
        self.check_exchange(
            fake, "/api/v1/jobs/createTask",
            {"model": "gpt-image-2-image-to-image",
             "input": {"prompt": "a red fox", "input_urls": ["https://example.com/a.png"],
                       "aspect_ratio": "4:5", "resolution": "2K"}},
            "/api/v1/jobs/recordInfo?taskId=job-1",
            ["-i", "https://example.com/a.png", "--size", "4:5", "--resolution", "2k"], "job-1")

    def test_tasks_request_shape(self):
        fake = self.fake("tasks")
        self.check_exchange(
            fake, "/v1/tasks",
            {"model": "gpt-image-2-text-to-image",
             "input": {"prompt": "a red fox", "aspect_ratio": "3:2"}},
            "/v1/tasks/tk-hiapi-1", ["--dialect", "tasks", "--size", "3:2"], "tk-hiapi-1")

    def test_generations_request_shape(self):
        fake = self.fake("generations")
        self.check_exchange(
            fake, "/v1/images/generations",
            {"model": "gpt-image-2",
             "input": {"prompt": "a red fox", "image_urls": ["https://example.com/a.png",
                                                            "https://example.com/b.png"],
                       "resolution": "4k"}},
            "/v1/tasks/gen-1",
            ["--dialect", "generations", "-i", "https://example.com/a.png",
             "-i", "https://example.com/b.png", "--resolution", "4K"], "gen-1")

    def test_unified_request_shape(self):
        fake = self.fake("unified")
        run = self.check_exchange(
            fake, "/v1/images/generations",
            {"model": "gpt-image-2", "prompt": "a red fox",
             "image_urls": ["https://example.com/a.png"], "mask_url": "https://example.com/m.png",
             "size": "1024x1536", "resolution": "1K", "n": 2},
            "/v1/tasks/task-unified-1757156493-imcg5zqt",
            ["--dialect", "unified", "-i", "https://example.com/a.png",
             "--mask", "https://example.com/m.png", "--size", "1024x1536", "-n", "2",
             "--resolution", "1k"],
            "task-unified-1757156493-imcg5zqt")
        self.assertIn("processing (", run.stderr)
        self.assertIn(") 40%", run.stderr)

    def test_failed_task_message_in_every_dialect(self):
        for dialect in ("jobs", "tasks", "generations", "unified"):
            with self.subTest(dialect=dialect):
                fake = self.fake(dialect, fail=True)
                run = self.generate(fake.base(), "sk-fake", "x", "--dialect", dialect)
                self.assert_failed(run, "failed: the model refused")
                self.assertEqual(run.saved_files(), [])

    def test_error_envelopes_of_each_dialect(self):
        cases = {
            "jobs": ((402, {"code": 402, "msg": "Insufficient credits", "data": None}),
                     "HTTP 402: Insufficient credits"),
            "tasks": ((400, {"code": 400, "message": "invalid request", "data": None,
                             "error_code": "INVALID_REQUEST"}),
                      "HTTP 400: invalid request (INVALID_REQUEST)"),
            "generations": ((429, {"error": {"code": "spend_limit_exceeded",
                                             "message": "Key spend limit reached",
                                             "type": "billing_error"}}),
                            "HTTP 429: Key spend limit reached (spend_limit_exceeded)"),
            "unified": ((401, {"error": {"code": "unauthorized", "message": "Invalid API key",
                                         "type": "authentication_error"}}),
                        "HTTP 401: Invalid API key (unauthorized)"),
        }
        for dialect, (error, expected) in cases.items():
            with self.subTest(dialect=dialect):
                fake = self.fake(dialect, create_error=error)
                run = self.generate(fake.base(), "sk-fake", "x", "--dialect", dialect)
                self.assert_failed(run, expected)
                self.assertEqual(len(fake.requests), 1)  # a failed create is not retried

    def test_https_with_a_trusted_ca_by_ip_and_by_name(self):
        fake = self.fake("jobs", cert=self.cert("server"))
        for host in ("127.0.0.1", "localhost"):  # IP SAN without SNI; DNS SAN with SNI
            with self.subTest(host=host):
                fake.polls = 0
                fake.result_urls = [fake.base(host) + "/results/1.png"]
                run = self.generate(fake.base(host), "sk-fake", "x", env=self.tls_env())
                self.assert_saved(run, 1, (64, 48), id_pattern="job-1")

    def test_https_refuses_an_untrusted_certificate(self):
        fake = self.fake("jobs", cert=self.cert("server"))
        run = self.generate(fake.base(), "sk-fake", "x",
                            env=clean_env(SSL_CERT_FILE=os.devnull))
        self.assert_failed(run, "TLS handshake", "certificate verify failed")
        self.assertEqual(fake.requests, [])

    def test_https_refuses_a_certificate_for_another_name(self):
        fake = self.fake("jobs", cert=self.cert("other"))  # valid for other.example only
        run = self.generate(fake.base("localhost"), "sk-fake", "x", env=self.tls_env())
        self.assert_failed(run, "TLS handshake", "mismatch")
        self.assertEqual(fake.requests, [])

    def test_downloads_follow_up_to_three_redirects(self):
        fake = self.fake("unified", result_urls=[self.https.url("/redirect-chain/3")])
        run = self.generate(fake.base(), "sk-fake", "x", "--dialect", "unified",
                            env=self.tls_env())
        self.assert_saved(run, 1, (32, 16))

    def test_downloads_stop_after_three_redirects(self):
        fake = self.fake("unified", result_urls=[self.https.url("/redirect-chain/4")])
        run = self.generate(fake.base(), "sk-fake", "x", "--dialect", "unified",
                            env=self.tls_env())
        self.assert_failed(run, "downloading result 1", "more than 3 redirects")

    def test_gives_up_at_the_timeout(self):
        fake = self.fake("jobs")
        fake.polls = -1000  # never done
        run = self.generate(fake.base(), "sk-fake", "x", "--timeout", "2")
        self.assert_failed(run, "gave up after 2 s", "still waiting")


if __name__ == "__main__":
    unittest.main()
