"""The `openai` provider against a fake OpenAI Images API (tests/fixtures/fake_openai.py).

Each test starts its own fake upstream(s) on HTTPS port 0 (certificates of the test CA, trusted
through the provider's extra_ca_file) and its own imagegate with a [providers.*]/[routing]
config. Reference images come from the HTTPS fixture server with the same CA.
"""
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid

from harness import (BIN, FIXTURES, HttpsFixture, Server, decode_png, make_png, multipart,
                     parse_task_show, png_bytes, png_size)

sys.path.insert(0, FIXTURES)
import fake_openai as fo  # noqa: E402

KEY_ENV = "IG_TEST_UPSTREAM_OPENAI_KEY"
UPSTREAM_KEY = "sk-upstream-" + uuid.uuid4().hex
FAMILY = "gpt-image-2"
T2I, I2I = "gpt-image-2-text-to-image", "gpt-image-2-image-to-image"
HTTPS = None  # the module's HttpsFixture (reference images and the test CA)


def setUpModule():
    global HTTPS
    HTTPS = HttpsFixture()
    HTTPS.add_file("ref1.png", make_png(1024, 1024, (200, 30, 60)))
    HTTPS.add_file("ref2.png", make_png(1024, 1024, (30, 200, 60)))
    # RGBA mask of the references' size: transparent centre band, opaque elsewhere.
    opaque, clear = b"\x00\x00\x00\xff", b"\x00\x00\x00\x00"
    rows = b"".join(b"\x00" + (clear if 256 <= y < 768 else opaque) * 1024 for y in range(1024))
    HTTPS.add_file("mask.png", png_bytes(1024, 1024, rows, alpha=True))
    HTTPS.start()


def tearDownModule():
    if HTTPS:
        HTTPS.stop()


def read_fixture(name):
    with open(os.path.join(HTTPS.files, name), "rb") as f:
        return f.read()


def valid_upstream_size(size):
    """gpt-image-2's rule for `size`."""
    m = re.fullmatch(r"(\d+)x(\d+)", size or "")
    if not m:
        return False
    w, h = int(m.group(1)), int(m.group(2))
    return (w % 16 == 0 and h % 16 == 0 and max(w, h) <= 3840 and max(w, h) <= 3 * min(w, h)
            and 655_360 <= w * h <= 8_294_400)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def provider(base_url, **opts):
    """A [providers.NAME] table for an openai upstream, with fast test defaults."""
    d = {"kind": "openai", "base_url": base_url, "api_key_env": KEY_ENV, "model": "gpt-image-2",
         "timeout_ms": 3000, "concurrency": 8, "extra_ca_file": HTTPS.ca_file,
         "connect_timeout_ms": 1000, "max_retries": 2, "retry_base_ms": 50, "retry_max_ms": 200}
    d.update(opts)
    return {k: v for k, v in d.items() if v is not None}


def config_text(providers, routes=None):
    """providers: [(name, table)]; routes: the provider names for gpt-image-2 (default: all, in order)."""
    lines = []
    for name, table in providers:
        lines.append("[providers.%s]" % name)
        lines += ["%s = %s" % (k, toml_value(v)) for k, v in table.items()]
        lines.append("")
    routes = routes or [name for name, _ in providers]
    lines += ["[routing]", "%s = %s" % (json.dumps(FAMILY), toml_value(routes)), ""]
    return "\n".join(lines)


# --- the four asynchronous dialects

def create(server, key, dialect, prompt="a red fox in snow", size=None, resolution=None,
           images=None, mask=None, n=None, quality=None):
    """Creates a task; returns its id."""
    if dialect in ("jobs", "tasks"):
        inp = {"prompt": prompt}
        if size:
            inp["aspect_ratio"] = size
        if resolution:
            inp["resolution"] = resolution
        if images:
            inp["input_urls"] = images
        if quality and dialect == "jobs":
            inp["quality"] = quality
        path = "/api/v1/jobs/createTask" if dialect == "jobs" else "/v1/tasks"
        r = server.request("POST", path, {"model": I2I if images else T2I, "input": inp}, key=key)
        assert r.status == 200, (dialect, r.status, r.body)
        return r.json()["data"]["taskId"]
    if dialect == "generations":
        inp = {"prompt": prompt}
        if size:
            inp["aspect_ratio"] = size
        if resolution:
            inp["resolution"] = resolution.lower()
        if images:
            inp["image_urls"] = images
        r = server.request("POST", "/v1/images/generations", {"model": "gpt-image-2", "input": inp},
                           key=key)
        assert r.status == 200, (dialect, r.status, r.body)
        return r.json()["data"]["taskId"]
    assert dialect == "unified", dialect
    body = {"model": "gpt-image-2", "prompt": prompt}
    for k, v in (("size", size), ("resolution", resolution), ("image_urls", images),
                 ("mask_url", mask), ("n", n), ("quality", quality)):
        if v is not None:
            body[k] = v
    r = server.request("POST", "/v1/images/generations", body, key=key)
    assert r.status == 200, (dialect, r.status, r.body)
    return r.json()["id"]


class Outcome:
    def __init__(self, ok, code, urls, raw, body):
        self.ok, self.code, self.urls, self.raw, self.body = ok, code, urls, raw, body

    def __repr__(self):
        return "Outcome(ok=%s, code=%s, %s)" % (self.ok, self.code, self.raw)


def poll(server, key, dialect, task_id):
    """The task's Outcome once it ended, else None."""
    if dialect == "jobs":
        r = server.record(key, task_id)
        assert r.status == 200, (r.status, r.body)
        d = r.json()["data"]
        if d["state"] == "success":
            return Outcome(True, None, json.loads(d["resultJson"])["resultUrls"], d, r.body)
        if d["state"] == "fail":
            return Outcome(False, d["failCode"], [], d, r.body)
        return None
    r = server.request("GET", "/v1/tasks/" + urllib.parse.quote(task_id), key=key)
    assert r.status == 200, (r.status, r.body)
    j = r.json()
    if dialect == "tasks":
        d = j["data"]
        if d["status"] == "success":
            return Outcome(True, None, [o["url"] for o in d["output"]], d, r.body)
        if d["status"] == "fail":
            return Outcome(False, (d.get("error") or {}).get("code"), [], d, r.body)
        return None
    if j["status"] == "completed":
        urls = j["output"]["urls"] if dialect == "generations" else j["results"]
        return Outcome(True, None, urls, j, r.body)
    if j["status"] == "failed":
        return Outcome(False, (j.get("error") or {}).get("code"), [], j, r.body)
    return None


def wait_task(server, key, dialect, task_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = poll(server, key, dialect, task_id)
        if out is not None:
            return out
        time.sleep(0.05)
    raise AssertionError("task %s (%s) did not end within %d s" % (task_id, dialect, timeout))


def blackhole_port():
    """A listening socket whose accept queue is full: a connect to it hangs (SYN dropped).
    Returns (port, sockets to keep open)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    keep = [s]
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(s.getsockname())
        keep.append(c)
    time.sleep(0.05)
    probe = socket.socket()
    probe.settimeout(0.3)
    try:
        probe.connect(s.getsockname())
        raise RuntimeError("the filled backlog still accepts connections")
    except (socket.timeout, TimeoutError):
        pass
    finally:
        probe.close()
    return s.getsockname()[1], keep


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class UpstreamCase(unittest.TestCase):
    def setUp(self):
        self.fakes = []
        self.servers = []
        self.sockets = []

    def tearDown(self):
        for s in self.servers:
            if self._outcome_failed() and os.environ.get("IG_TEST_VERBOSE"):
                sys.stderr.write(s.log_text()[-4000:])
            s.cleanup()
        for f in self.fakes:
            f.stop()
        for s in self.sockets:
            s.close()

    def _outcome_failed(self):
        res = getattr(self, "_outcome", None)
        errs = getattr(getattr(res, "result", None), "errors", []) if res else []
        return bool(errs)

    def fake(self):
        f = fo.FakeOpenAI(os.path.join(HTTPS.ca_dir, "server.pem"),
                          os.path.join(HTTPS.ca_dir, "server.key")).start()
        self.fakes.append(f)
        return f

    def gateway(self, providers, routes=None, settings=None, env=None, key_env=True):
        s = dict(HTTPS.server_settings())
        s.update(settings or {})
        e = {KEY_ENV: UPSTREAM_KEY} if key_env else {}
        e.update(env or {})
        server = Server(settings=s, env=e, config_text=config_text(providers, routes))
        self.servers.append(server)
        key = server.create_key("upstream")
        server.start()
        return server, key

    def show(self, server, task_id):
        out = server.tasks_show(task_id)
        self.assertEqual(out.returncode, 0, "tasks show failed: %s %s" % (out.stdout, out.stderr))
        return parse_task_show(out.stdout), out.stdout

    def assert_image(self, server, url, size):
        self.assertTrue(url.startswith(server.base + "/files/"), "result not hosted by imagegate: " + url)
        r = server.get_url(url)
        self.assertEqual(r.status, 200, (url, r.status))
        self.assertEqual(png_size(r.body), size, url)

    def settle(self, fake, expected, wait=0.5):
        """The fake's request count after a short wait (no late resubmission)."""
        time.sleep(wait)
        self.assertEqual(fake.count(), expected, [r.path for r in fake.requests])


class TextToImageTest(UpstreamCase):
    def test_generations_request_shape_and_result(self):
        fake = self.fake()
        server, key = self.gateway([("openai", provider(fake.base_url, model="gpt-image-2-2026-04-21"))])
        tid = create(server, key, "unified", prompt="a lighthouse at dusk", size="1536x1024", n=2)
        out = wait_task(server, key, "unified", tid)
        self.assertTrue(out.ok, out)
        self.assertEqual(len(out.urls), 2)
        for url in out.urls:
            self.assert_image(server, url, (1536, 1024))
        self.settle(fake, 1, wait=0.1)
        req = fake.requests[0]
        self.assertEqual(req.method, "POST")
        self.assertEqual(req.path, "/v1/images/generations")
        self.assertEqual(req.headers.get("authorization"), "Bearer " + UPSTREAM_KEY)
        self.assertTrue(req.headers.get("content-type", "").startswith("application/json"))
        self.assertIsNotNone(req.json, req.body[:200])
        self.assertEqual(req.json.get("model"), "gpt-image-2-2026-04-21")
        self.assertEqual(req.json.get("prompt"), "a lighthouse at dusk")
        self.assertEqual(req.json.get("n"), 2)
        self.assertEqual(req.json.get("size"), "1536x1024")
        # EvoLink's document makes `medium` the default quality of `unified`: it is what the
        # client asked for, so it is sent.
        self.assertEqual(req.json.get("quality"), "medium")
        for absent in ("response_format", "output_format", "background",
                       "output_compression"):
            self.assertNotIn(absent, req.json, req.json)

    def test_optional_fields_are_sent_when_given(self):
        fake = self.fake()
        server, key = self.gateway([("openai", provider(fake.base_url))])
        r = server.request("POST", "/openai/v1/images/generations",
                           {"prompt": "a lighthouse", "size": "1024x1536", "quality": "high",
                            "output_format": "webp", "output_compression": 80,
                            "background": "opaque"}, key=key)
        self.assertEqual(fake.count(), 1, (r.status, r.body[:300]))
        req = fake.requests[0].json
        self.assertEqual(req.get("size"), "1024x1536")
        self.assertEqual(req.get("quality"), "high")
        self.assertEqual(req.get("output_format"), "webp")
        self.assertEqual(req.get("output_compression"), 80)
        self.assertEqual(req.get("background"), "opaque")
        self.assertNotIn("response_format", req)

    def test_each_dialect_gets_its_promised_size(self):
        fake = self.fake()
        server, key = self.gateway([("openai", provider(fake.base_url))])
        cases = [("jobs", "16:9", "1K", (1360, 768)), ("tasks", "3:2", "1K", (1248, 832)),
                 ("generations", "4:3", "1K", (1024, 768)), ("unified", "21:9", "1K", (1568, 672))]
        ids = [(d, create(server, key, d, size=s, resolution=r), want) for d, s, r, want in cases]
        for dialect, tid, want in ids:
            out = wait_task(server, key, dialect, tid)
            self.assertTrue(out.ok, (dialect, out))
            self.assertEqual(len(out.urls), 1)
            self.assert_image(server, out.urls[0], want)
        sent = sorted(r.json["size"] for r in fake.requests)
        self.assertEqual(sent, sorted("%dx%d" % w for _, _, _, w in cases))

    def test_openai_dialect_through_the_upstream(self):
        fake = self.fake()
        server, key = self.gateway([("openai", provider(fake.base_url))])
        r = server.request("POST", "/openai/v1/images/generations",
                           {"prompt": "a lighthouse", "size": "1536x1024", "n": 2}, key=key)
        self.assertEqual(r.status, 200, r.body[:300])
        data = r.json()["data"]
        self.assertEqual(len(data), 2)
        for d in data:
            self.assertEqual(png_size(base64.b64decode(d["b64_json"])), (1536, 1024))
        self.assertEqual(fake.count(), 1)
        self.assertEqual(fake.requests[0].json.get("n"), 2)

    def test_invalid_promised_size_sends_nearest_valid_and_resizes(self):
        fake = self.fake()
        server, key = self.gateway([("openai", provider(fake.base_url))])
        # generations 3:1 at 1k is 1881x836 (not multiples of 16): not a valid upstream size.
        tid = create(server, key, "generations", size="3:1", resolution="1K")
        out = wait_task(server, key, "generations", tid)
        self.assertEqual(fake.count(), 1)
        sent = fake.requests[0].json.get("size")
        self.assertTrue(valid_upstream_size(sent), "invalid size sent upstream: %r" % sent)
        w, h = map(int, sent.split("x"))
        self.assertAlmostEqual(w / h, 1881 / 836, delta=0.15, msg="not the nearest shape: " + sent)
        self.assertTrue(out.ok, out)
        self.assert_image(server, out.urls[0], (1881, 836))

    def test_wrong_size_answer_is_resized_to_the_promise(self):
        fake = self.fake()
        fake.set_default("generations", fo.ok(512, 768))
        server, key = self.gateway([("openai", provider(fake.base_url))])
        tid = create(server, key, "unified", size="1024x1024")
        out = wait_task(server, key, "unified", tid)
        self.assertTrue(out.ok, out)
        self.assert_image(server, out.urls[0], (1024, 1024))

    def test_base64_with_padding_is_accepted(self):
        fake = self.fake()
        server, key = self.gateway([("openai", provider(fake.base_url))])
        for pad in (0, 1, 2):
            fake.push("generations", fo.ok(1024, 1024, padding=pad))
            out = wait_task(server, key, "unified", create(server, key, "unified", size="1024x1024"))
            self.assertTrue(out.ok, ("b64_json ending in %d '='" % pad, out))
            self.assert_image(server, out.urls[0], (1024, 1024))

    def test_usage_and_tasks_show(self):
        fake = self.fake()
        usage = {"input_tokens": 11, "input_tokens_details": {"text_tokens": 7, "image_tokens": 4},
                 "output_tokens": 22, "total_tokens": 33}
        fake.set_default("generations", fo.ok(usage=usage))
        server, key = self.gateway([("openai", provider(fake.base_url))])
        tid = create(server, key, "unified")
        out = wait_task(server, key, "unified", tid)
        self.assertTrue(out.ok, out)
        show, text = self.show(server, tid)
        self.assertEqual(show.get("task"), tid, text)
        self.assertIn("state", show, text)
        self.assertEqual(show.get("fail_code"), "-", text)
        self.assertEqual(show.get("usage"), "input_tokens=11 output_tokens=22 total_tokens=33", text)
        self.assertEqual(show.get("calls_count"), "1", text)
        self.assertEqual(len(show["calls"]), 1, text)
        call = show["calls"][0]
        self.assertEqual((call.get("route"), call.get("kind"), call.get("http_status"),
                          call.get("class"), call.get("code")), ("openai", "openai", "200", "ok", "-"), text)
        self.assertRegex(text, r"(?m)^  call 1 attempt=\d+ route=openai kind=openai upstream_id=\S+ "
                               r"http_status=200 duration_ms=\d+ class=ok code=-$")

    def test_metrics_count_upstream_calls(self):
        fake = self.fake()
        server, key = self.gateway([("openai", provider(fake.base_url))])
        out = wait_task(server, key, "unified", create(server, key, "unified"))
        self.assertTrue(out.ok, out)
        m = server.metrics()
        self.assertGreaterEqual(m.value("imagegate_upstream_requests_total", provider="openai") or 0, 1,
                                "no imagegate_upstream_requests_total{provider=\"openai\"}")
        self.assertTrue(all("outcome" in l for _, l, _ in m.find("imagegate_upstream_requests_total")))
        self.assertGreaterEqual(m.value("imagegate_upstream_latency_seconds_count", provider="openai") or 0, 1,
                                "no imagegate_upstream_latency_seconds histogram with provider=openai")
        self.assertTrue(m.find("imagegate_upstream_latency_seconds_bucket", provider="openai"))
        self.assertEqual(m.value("imagegate_provider_breaker_state", provider="openai"), 0)


class ImageToImageTest(UpstreamCase):
    def test_edits_multipart_carries_every_reference_in_order(self):
        fake = self.fake()
        server, key = self.gateway([("openai", provider(fake.base_url))])
        tid = create(server, key, "jobs", prompt="make it a studio shot", size="1:1", resolution="1K",
                     images=[HTTPS.url("ref1.png"), HTTPS.url("ref2.png")])
        out = wait_task(server, key, "jobs", tid)
        self.assertEqual(fake.count(), 1)
        req = fake.requests[0]
        self.assertEqual(req.path, "/v1/images/edits")
        self.assertEqual(req.headers.get("authorization"), "Bearer " + UPSTREAM_KEY)
        self.assertTrue(req.headers.get("content-type", "").startswith("multipart/form-data"),
                        req.headers.get("content-type"))
        images = req.files("image[]")
        self.assertEqual([p.data for p in images], [read_fixture("ref1.png"), read_fixture("ref2.png")],
                         req.parts)
        self.assertEqual(req.files("mask"), [])
        self.assertEqual(req.field("prompt"), "make it a studio shot")
        self.assertEqual(req.field("model"), "gpt-image-2")
        self.assertEqual(req.field("size"), "1024x1024")
        self.assertEqual(req.field("n"), "1")
        for absent in ("quality", "output_format", "background", "output_compression",
                       "response_format"):
            self.assertEqual(req.files(absent), [], absent)
        self.assertTrue(out.ok, out)
        self.assert_image(server, out.urls[0], (1024, 1024))

    def test_mask_is_sent(self):
        fake = self.fake()
        server, key = self.gateway([("openai", provider(fake.base_url))])
        tid = create(server, key, "unified", prompt="a red door", images=[HTTPS.url("ref1.png")],
                     mask=HTTPS.url("mask.png"), quality="high")
        out = wait_task(server, key, "unified", tid)
        self.assertEqual(fake.count(), 1)
        req = fake.requests[0]
        self.assertEqual(req.path, "/v1/images/edits")
        self.assertEqual([p.data for p in req.files("image[]")], [read_fixture("ref1.png")])
        masks = req.files("mask")
        self.assertEqual(len(masks), 1, req.parts)
        self.assertEqual(masks[0].data, read_fixture("mask.png"))
        self.assertEqual(req.field("quality"), "high")
        self.assertEqual(req.field("size"), "1024x1024")
        self.assertTrue(out.ok, out)
        self.assert_image(server, out.urls[0], (1024, 1024))

    def test_openai_edits_forwarded(self):
        fake = self.fake()
        server, key = self.gateway([("openai", provider(fake.base_url))])
        ref = read_fixture("ref2.png")
        ctype, body = multipart([("prompt", "add a hat"), ("size", "1024x1024"), ("quality", "low")],
                                [("image[]", "a.png", ref)])
        r = server.request("POST", "/openai/v1/images/edits", body, headers={"Content-Type": ctype}, key=key)
        self.assertEqual(fake.count(), 1, (r.status, r.body[:300]))
        req = fake.requests[0]
        self.assertEqual(req.path, "/v1/images/edits")
        self.assertEqual([p.data for p in req.files("image[]")], [ref])
        self.assertEqual(req.field("prompt"), "add a hat")
        self.assertEqual(req.field("quality"), "low")
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(png_size(base64.b64decode(r.json()["data"][0]["b64_json"])), (1024, 1024))


class RetryTest(UpstreamCase):
    def test_5xx_is_retried_on_the_same_route(self):
        fake, backup = self.fake(), self.fake()
        fake.push("generations", fo.status(500), fo.status(503))
        server, key = self.gateway([("openai", provider(fake.base_url)), ("backup", provider(backup.base_url))])
        tid = create(server, key, "unified")
        out = wait_task(server, key, "unified", tid)
        self.assertTrue(out.ok, out)
        self.assertEqual(fake.count(), 3)
        self.assertEqual(backup.count(), 0)
        show, text = self.show(server, tid)
        self.assertEqual([(c.get("route"), c.get("class"), c.get("http_status")) for c in show["calls"]],
                         [("openai", "no_work", "500"), ("openai", "no_work", "503"), ("openai", "ok", "200")],
                         text)

    def test_429_retry_after_is_honoured(self):
        fake = self.fake()
        fake.push("generations", fo.error(429, "Rate limit reached", "requests", "rate_limit_exceeded",
                                          retry_after=1))
        # retry_max_ms above the Retry-After: a longer one would fail over instead of waiting.
        server, key = self.gateway([("openai", provider(fake.base_url, retry_max_ms=3000))])
        out = wait_task(server, key, "unified", create(server, key, "unified"))
        self.assertTrue(out.ok, out)
        self.assertEqual(fake.count(), 2)
        gap = fake.requests[1].mono - fake.requests[0].mono
        self.assertGreaterEqual(gap, 1.0, "retried %.3f s after a 429 with Retry-After: 1" % gap)

    def test_connect_refused_is_retried_then_fails_over(self):
        backup = self.fake()
        dead = "https://127.0.0.1:%d/v1" % closed_port()
        server, key = self.gateway([("openai", provider(dead)), ("backup", provider(backup.base_url))])
        tid = create(server, key, "unified")
        out = wait_task(server, key, "unified", tid)
        self.assertTrue(out.ok, out)
        self.assertEqual(backup.count(), 1)
        show, text = self.show(server, tid)
        routes = [(c.get("route"), c.get("class")) for c in show["calls"]]
        self.assertEqual(routes, [("openai", "no_work")] * 3 + [("backup", "ok")], text)

    def test_connect_timeout_fails_over(self):
        backup = self.fake()
        port, keep = blackhole_port()
        self.sockets += keep
        server, key = self.gateway([
            ("openai", provider("https://127.0.0.1:%d/v1" % port, connect_timeout_ms=300, max_retries=1,
                                timeout_ms=3000)),
            ("backup", provider(backup.base_url))])
        t = time.monotonic()
        out = wait_task(server, key, "unified", create(server, key, "unified"))
        elapsed = time.monotonic() - t
        self.assertTrue(out.ok, out)
        self.assertEqual(backup.count(), 1)
        self.assertLess(elapsed, 2.5, "connect_timeout_ms=300 not honoured (%.1f s)" % elapsed)

    def test_route_fault_401_fails_over_without_retry(self):
        fake, backup = self.fake(), self.fake()
        fake.set_default("generations", fo.error(401, "Incorrect API key provided.", "invalid_request_error",
                                                 "invalid_api_key"))
        server, key = self.gateway([("openai", provider(fake.base_url)), ("backup", provider(backup.base_url))])
        tid = create(server, key, "unified")
        out = wait_task(server, key, "unified", tid)
        self.assertTrue(out.ok, out)
        self.assertEqual(fake.count(), 1)
        self.assertEqual(backup.count(), 1)
        show, text = self.show(server, tid)
        self.assertEqual([(c.get("route"), c.get("class")) for c in show["calls"]],
                         [("openai", "route_fault"), ("backup", "ok")], text)


class FailoverTest(UpstreamCase):
    def test_500_always_fails_over_to_the_next_route(self):
        a, b = self.fake(), self.fake()
        a.set_default("generations", fo.status(500))
        server, key = self.gateway([("primary", provider(a.base_url, max_retries=1)),
                                    ("backup", provider(b.base_url))])
        tid = create(server, key, "jobs")
        out = wait_task(server, key, "jobs", tid)
        self.assertTrue(out.ok, out)
        self.assertEqual(a.count(), 2)
        self.assertEqual(b.count(), 1)
        show, text = self.show(server, tid)
        self.assertEqual(show.get("calls_count"), "3", text)
        self.assertEqual([c.get("route") for c in show["calls"]], ["primary", "primary", "backup"], text)
        self.assertEqual([c.get("class") for c in show["calls"]], ["no_work", "no_work", "ok"], text)

    def test_all_routes_down(self):
        a, b = self.fake(), self.fake()
        a.set_default("generations", fo.status(500))
        b.set_default("generations", fo.status(502, b"<html>bad gateway</html>"))
        server, key = self.gateway([("primary", provider(a.base_url, max_retries=1)),
                                    ("backup", provider(b.base_url, max_retries=1))])
        tid = create(server, key, "generations")
        out = wait_task(server, key, "generations", tid)
        self.assertFalse(out.ok, out)
        self.assertEqual(out.code, "upstream_error", out)
        self.assertEqual((a.count(), b.count()), (2, 2))
        show, text = self.show(server, tid)
        self.assertEqual(show.get("fail_code"), "upstream_error", text)
        self.assertEqual(sorted(set(c.get("route") for c in show["calls"])), ["backup", "primary"], text)

    def test_breaker_opens_then_probes_and_closes(self):
        a, b = self.fake(), self.fake()
        a.set_default("generations", fo.status(500))
        server, key = self.gateway([
            ("primary", provider(a.base_url, max_retries=0, breaker_failures=2, breaker_cooldown_ms=1500)),
            ("backup", provider(b.base_url, max_retries=0))])
        for _ in range(2):
            out = wait_task(server, key, "unified", create(server, key, "unified"))
            self.assertTrue(out.ok, out)
        opened = time.monotonic()
        self.assertEqual((a.count(), b.count()), (2, 2))
        self.assertEqual(server.metrics().value("imagegate_provider_breaker_state", provider="primary"), 1)
        out = wait_task(server, key, "unified", create(server, key, "unified"))
        self.assertTrue(out.ok, out)
        self.assertEqual((a.count(), b.count()), (2, 3), "an open breaker's route was called")
        # After the cooldown one probe goes through; it is held to see the half-open state.
        time.sleep(max(0.0, 1.7 - (time.monotonic() - opened)))
        probe = a.push("generations", fo.hold(fo.ok()))
        tid = create(server, key, "unified")
        a.wait_requests(3, timeout=5)
        self.assertEqual(server.metrics().value("imagegate_provider_breaker_state", provider="primary"), 2)
        probe.release()
        out = wait_task(server, key, "unified", tid)
        self.assertTrue(out.ok, out)
        self.assertEqual((a.count(), b.count()), (3, 3))
        self.assertEqual(server.metrics().value("imagegate_provider_breaker_state", provider="primary"), 0)
        self.assertGreaterEqual(server.metrics().value("imagegate_upstream_requests_total",
                                                       provider="primary") or 0, 3)


class UnknownOutcomeTest(UpstreamCase):
    def test_stall_mid_body_fails_unknown_outcome_in_every_dialect(self):
        fake, backup = self.fake(), self.fake()
        fake.set_default("generations", fo.stall())
        server, key = self.gateway([("openai", provider(fake.base_url, timeout_ms=1500)),
                                    ("backup", provider(backup.base_url))])
        want = {"unified": "upstream_unknown_outcome", "jobs": "upstream_unknown_outcome",
                "tasks": "upstream_unknown_outcome", "generations": "upstream_error"}
        ids = {d: create(server, key, d) for d in want}
        for d, tid in ids.items():
            out = wait_task(server, key, d, tid)
            self.assertFalse(out.ok, (d, out))
            self.assertEqual(out.code, want[d], (d, out))
        self.settle(fake, 4)
        self.assertEqual(backup.count(), 0)
        show, text = self.show(server, ids["unified"])
        self.assertEqual(show.get("fail_code"), "upstream_unknown_outcome", text)
        self.assertEqual([c.get("class") for c in show["calls"]], ["unknown"], text)

    def test_timeout_after_sending_fails_unknown_outcome(self):
        fake, backup = self.fake(), self.fake()
        fake.set_default("generations", fo.hold())
        server, key = self.gateway([("openai", provider(fake.base_url, timeout_ms=1500)),
                                    ("backup", provider(backup.base_url))])
        tid = create(server, key, "jobs")
        out = wait_task(server, key, "jobs", tid)
        self.assertFalse(out.ok, out)
        self.assertEqual(out.code, "upstream_unknown_outcome", out)
        self.settle(fake, 1)
        self.assertEqual(backup.count(), 0)

    def test_on_unknown_retry_resubmits(self):
        fake = self.fake()
        fake.push("generations", fo.stall())
        server, key = self.gateway([("openai", provider(fake.base_url, timeout_ms=1500, on_unknown="retry"))])
        out = wait_task(server, key, "unified", create(server, key, "unified"))
        self.assertTrue(out.ok, out)
        self.assertEqual(fake.count(), 2)

    def test_malformed_json_fails_without_retry(self):
        fake, backup = self.fake(), self.fake()
        fake.set_default("generations", fo.malformed())
        server, key = self.gateway([("openai", provider(fake.base_url)), ("backup", provider(backup.base_url))])
        tid = create(server, key, "unified")
        out = wait_task(server, key, "unified", tid)
        self.assertFalse(out.ok, out)
        self.assertEqual(out.code, "upstream_error", out)
        self.settle(fake, 1)
        self.assertEqual(backup.count(), 0)
        show, text = self.show(server, tid)
        self.assertEqual(show.get("fail_code"), "upstream_error", text)

    def test_truncated_base64_fails_without_retry(self):
        fake, backup = self.fake(), self.fake()
        fake.set_default("generations", fo.truncated_b64())
        server, key = self.gateway([("openai", provider(fake.base_url)), ("backup", provider(backup.base_url))])
        tid = create(server, key, "tasks")
        out = wait_task(server, key, "tasks", tid)
        self.assertFalse(out.ok, out)
        self.assertEqual(out.code, "upstream_error", out)
        self.settle(fake, 1)
        self.assertEqual(backup.count(), 0)


class RejectionTest(UpstreamCase):
    def test_moderation_is_final_and_shown_per_dialect(self):
        fake, backup = self.fake(), self.fake()
        fake.set_default("generations", fo.moderation())
        server, key = self.gateway([("openai", provider(fake.base_url)), ("backup", provider(backup.base_url))])
        want = {"unified": "content_policy_violation", "jobs": "content_policy_violation",
                "tasks": "content_policy_violation", "generations": "upstream_error"}
        ids = {d: create(server, key, d) for d in want}
        for d, tid in ids.items():
            out = wait_task(server, key, d, tid)
            self.assertFalse(out.ok, (d, out))
            self.assertEqual(out.code, want[d], (d, out))
        r = server.request("POST", "/openai/v1/images/generations", {"prompt": "something"}, key=key)
        self.assertEqual(r.status, 400, r.body[:300])
        self.assertEqual(r.json()["error"]["code"], "moderation_blocked", r.body)
        self.settle(fake, 5)
        self.assertEqual(backup.count(), 0)
        show, text = self.show(server, ids["jobs"])
        self.assertEqual(show.get("fail_code"), "moderation_blocked", text)
        self.assertEqual([c.get("class") for c in show["calls"]], ["rejected"], text)

    def test_400_is_rejected_without_retry_or_failover(self):
        fake, backup = self.fake(), self.fake()
        fake.set_default("generations", fo.error(400, "Invalid value for 'size'.", "invalid_request_error",
                                                 "invalid_value", "size"))
        server, key = self.gateway([("openai", provider(fake.base_url)), ("backup", provider(backup.base_url))])
        tid = create(server, key, "unified")
        out = wait_task(server, key, "unified", tid)
        self.assertFalse(out.ok, out)
        self.assertEqual(out.code, "upstream_rejected", out)
        self.settle(fake, 1)
        self.assertEqual(backup.count(), 0)


class CrashTest(UpstreamCase):
    def kill_during_call(self, on_unknown):
        fake = self.fake()
        held = fake.push("generations", fo.hold(fo.ok(), max_s=20))
        server, key = self.gateway([("openai", provider(fake.base_url, on_unknown=on_unknown,
                                                        timeout_ms=10000))],
                                   settings={"dispatcher.lease_ms": "1000"})
        tid = create(server, key, "unified")
        fake.wait_requests(1, timeout=10)
        server.kill(signal.SIGKILL)
        held.release()  # the answer goes nowhere: the process is gone
        server.settings["dispatcher.lease_ms"] = "1000"
        server.start()
        return fake, server, key, tid

    def test_kill_9_during_the_call_fails_unknown_outcome(self):
        fake, server, key, tid = self.kill_during_call("fail")
        out = wait_task(server, key, "unified", tid, timeout=20)
        self.assertFalse(out.ok, out)
        self.assertEqual(out.code, "upstream_unknown_outcome", out)
        self.settle(fake, 1)

    def test_kill_9_during_the_call_with_on_unknown_retry_resubmits(self):
        fake, server, key, tid = self.kill_during_call("retry")
        out = wait_task(server, key, "unified", tid, timeout=20)
        self.assertTrue(out.ok, out)
        self.settle(fake, 2, wait=0.2)
        self.assert_image(server, out.urls[0], (1024, 1024))


class KeyTest(UpstreamCase):
    def serve_expecting_exit(self, table, env, text=None):
        d = tempfile.mkdtemp(prefix="ig-it-key-")
        try:
            cfg = os.path.join(d, "config.toml")
            with open(cfg, "w") as f:
                f.write(text if text is not None else config_text([("openai", table)]))
            e = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEGATE_") and k != KEY_ENV}
            e.update(env)
            proc = subprocess.Popen([BIN, "serve", "--config", cfg, "--listen", "127.0.0.1:0",
                                     "--data-dir", d, "--set", "server.port_file=" + os.path.join(d, "port")],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=e)
            try:
                out, _ = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                self.fail("serve kept running without its key: %s" % out.decode(errors="replace")[-500:])
            return proc.returncode, out.decode("utf-8", "replace")
        finally:
            import shutil
            shutil.rmtree(d, ignore_errors=True)

    def test_missing_key_variable_stops_start_up(self):
        rc, out = self.serve_expecting_exit(provider("https://127.0.0.1:9/v1",
                                                     api_key_env="IG_TEST_NO_SUCH_KEY_VAR"), {})
        self.assertNotEqual(rc, 0, out)
        self.assertIn("providers.openai", out)
        self.assertIn("IG_TEST_NO_SUCH_KEY_VAR", out)

    def test_providers_without_routing_stop_start_up(self):
        """Without [routing] every task would still go to the sandbox: fake images, silently."""
        text = config_text([("openai", provider("https://127.0.0.1:9/v1"))])
        text = text[:text.index("[routing]")]
        rc, out = self.serve_expecting_exit(None, {KEY_ENV: UPSTREAM_KEY}, text=text)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("providers.openai", out)
        self.assertIn("[routing]", out)

    def test_route_naming_no_provider_stops_start_up(self):
        text = config_text([("openai", provider("https://127.0.0.1:9/v1"))], routes=["openai", "nope"])
        rc, out = self.serve_expecting_exit(None, {KEY_ENV: UPSTREAM_KEY}, text=text)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("no provider is called nope", out)

    def test_missing_key_file_stops_start_up(self):
        path = "/nonexistent/ig-test/openai.key"
        rc, out = self.serve_expecting_exit(provider("https://127.0.0.1:9/v1", api_key_env=None,
                                                     api_key_file=path), {KEY_ENV: UPSTREAM_KEY})
        self.assertNotEqual(rc, 0, out)
        self.assertIn("providers.openai", out)
        self.assertIn(path, out)

    def test_key_never_leaks(self):
        secret = "sk-filekey-" + uuid.uuid4().hex
        fake = self.fake()
        # An upstream whose error messages echo the key it was given.
        fake.push("generations", fo.ok(),
                  fo.error(400, "Incorrect request for key %s" % secret, "invalid_request_error", None),
                  fo.error(400, "Incorrect request for key %s" % secret, "invalid_request_error", None))
        fd, keyfile = tempfile.mkstemp(prefix="ig-key-")
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        self.addCleanup(os.remove, keyfile)
        server, key = self.gateway([("openai", provider(fake.base_url, api_key_env=None, api_key_file=keyfile))],
                                   settings={"log.level": "debug"}, key_env=False)
        bodies = []
        for dialect in ("unified", "jobs"):
            tid = create(server, key, dialect)
            wait_task(server, key, dialect, tid)
            bodies.append(poll(server, key, dialect, tid).body)
        r = server.request("POST", "/openai/v1/images/generations", {"prompt": "x"}, key=key)
        bodies.append(r.body)
        self.assertEqual(fake.count(), 3)
        self.assertEqual({q.headers.get("authorization") for q in fake.requests}, {"Bearer " + secret})
        for b in bodies:
            self.assertNotIn(secret.encode(), b)
        server.stop()
        self.assertNotIn(secret, server.log_text())


class FakeSelfTest(unittest.TestCase):
    """The fixture itself (runs without imagegate)."""

    def test_fake_openai_self_test(self):
        self.assertTrue(fo.self_test())


if __name__ == "__main__":
    unittest.main()
