"""create → poll → download through the `jobs` dialect, for both models."""
import json
import os
import sqlite3
import time
import unittest

from harness import HttpsFixture, Server, make_png, png_size


class JobsFlowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.https = HttpsFixture()
        cls.https.add_file("input.png", make_png(640, 480, (10, 120, 240)))
        cls.https.add_file("other.png", make_png(640, 480, (250, 200, 10)))
        cls.https.add_file("tall.png", make_png(300, 600))
        cls.https.start()
        cls.server = Server(settings=cls.https.server_settings())
        cls.key = cls.server.create_key("flow")
        cls.other_key = cls.server.create_key("other")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.https.stop()

    def create(self, body, key=None):
        r = self.server.create_job(key or self.key, body)
        self.assertEqual(r.status, 200, r.body)
        env = r.json()
        self.assertEqual(env["code"], 200)
        self.assertEqual(env["msg"], "success")
        return env["data"]["taskId"]

    def download(self, url):
        r = self.server.get_url(url)
        self.assertEqual(r.status, 200, r.body[:200])
        self.assertEqual(r.header("Content-Type"), "image/png")
        return r.body

    def test_text_to_image_walkthrough(self):
        body = {"model": "gpt-image-2-text-to-image",
                "input": {"prompt": "A cinematic product photo of a transparent speaker",
                          "aspect_ratio": "16:9", "resolution": "1K"}}
        task_id = self.create(body)
        self.assertRegex(task_id, r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        first = self.server.record(self.key, task_id).json()["data"]
        self.assertEqual(first["state"], "waiting")
        self.assertIsNone(first["resultJson"])
        self.assertIsNone(first["costTime"])
        data, states = self.server.wait_job(self.key, task_id)
        self.assertEqual(states[0], "waiting")
        self.assertEqual(data["state"], "success", data)
        self.assertEqual(data["model"], "gpt-image-2-text-to-image")
        self.assertEqual(json.loads(data["param"]), body)
        self.assertIsInstance(data["param"], str)
        self.assertIsNone(data["failCode"])
        self.assertIsNone(data["failMsg"])
        self.assertEqual(data["costTime"], data["completeTime"] - data["createTime"])
        self.assertIsInstance(data["resultJson"], str)
        urls = json.loads(data["resultJson"])["resultUrls"]
        self.assertEqual(len(urls), 1)
        self.assertEqual(png_size(self.download(urls[0])), (1360, 768))

    def test_every_ratio_and_tier_gives_the_resolved_size(self):
        cases = {("1:1", "2K"): (2048, 2048), ("9:16", "1K"): (768, 1360),
                 ("21:9", "4K"): (3840, 1632), ("4:5", "1K"): (912, 1152),
                 ("auto", "1K"): (1024, 1024)}
        ids = {}
        for (ratio, res), size in cases.items():
            ids[self.create({"model": "gpt-image-2-text-to-image",
                             "input": {"prompt": "size " + ratio, "aspect_ratio": ratio,
                                       "resolution": res}})] = size
        for task_id, size in ids.items():
            data, _ = self.server.wait_job(self.key, task_id)
            self.assertEqual(data["state"], "success", data)
            url = json.loads(data["resultJson"])["resultUrls"][0]
            self.assertEqual(png_size(self.download(url)), size)

    def test_image_to_image_walkthrough(self):
        body = {"model": "gpt-image-2-image-to-image",
                "input": {"prompt": "Turn this into a studio advertisement",
                          "input_urls": [self.https.url("input.png")], "aspect_ratio": "3:2",
                          "resolution": "1K"}}
        data, _ = self.server.wait_job(self.key, self.create(body))
        self.assertEqual(data["state"], "success", data)
        out = self.download(json.loads(data["resultJson"])["resultUrls"][0])
        self.assertEqual(png_size(out), (1248, 832))
        # The output is built from the reference: another reference gives other bytes.
        body["input"]["input_urls"] = [self.https.url("other.png")]
        data2, _ = self.server.wait_job(self.key, self.create(body))
        out2 = self.download(json.loads(data2["resultJson"])["resultUrls"][0])
        self.assertNotEqual(out, out2)

    def test_image_to_image_auto_follows_the_reference_shape(self):
        for alias in ("image_urls", "image_input"):
            body = {"model": "gpt-image-2-image-to-image",
                    "input": {"prompt": "restyle", alias: [self.https.url("tall.png")]}}
            data, _ = self.server.wait_job(self.key, self.create(body))
            self.assertEqual(data["state"], "success", data)
            out = self.download(json.loads(data["resultJson"])["resultUrls"][0])
            self.assertEqual(png_size(out), (720, 1456))

    def test_same_request_same_bytes_different_prompt_different_bytes(self):
        def run(prompt):
            body = {"model": "gpt-image-2-text-to-image",
                    "input": {"prompt": prompt, "aspect_ratio": "1:1"}}
            data, _ = self.server.wait_job(self.key, self.create(body))
            return self.download(json.loads(data["resultJson"])["resultUrls"][0])
        a, b, c = run("red fox"), run("red fox"), run("blue whale")
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)

    def test_output_format_is_carried_through(self):
        body = {"model": "gpt-image-2-text-to-image",
                "input": {"prompt": "jpeg please", "output_format": "jpeg", "quality": "low"}}
        data, _ = self.server.wait_job(self.key, self.create(body))
        url = json.loads(data["resultJson"])["resultUrls"][0]
        r = self.server.get_url(url)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "image/jpeg")
        self.assertEqual(r.body[:3], b"\xff\xd8\xff")

    def test_another_keys_task_is_not_found(self):
        task_id = self.create({"model": "gpt-image-2-text-to-image", "input": {"prompt": "mine"}})
        r = self.server.record(self.other_key, task_id)
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["code"], 404)
        self.assertIsNone(r.json()["data"])
        r = self.server.record(self.key, "3ebe82c2-3abc-4015-9608-901baca54948")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["code"], 404)
        r = self.server.request("GET", "/api/v1/jobs/recordInfo", key=self.key)
        self.assertEqual(r.status, 400)

    def test_request_id_is_echoed_or_generated(self):
        r = self.server.request("GET", "/healthz", headers={"X-Request-ID": "abc-123"})
        self.assertEqual(r.header("X-Request-ID"), "abc-123")
        r = self.server.request("GET", "/healthz")
        self.assertTrue(r.header("X-Request-ID"))
        r = self.server.create_job(self.key, {"model": "x"})
        self.assertTrue(r.header("X-Request-ID"))
        needle = "request_id=" + r.header("X-Request-ID")
        self.assertIn(needle, self.server.wait_log(needle))
        # A created task's id is logged with the request that created it.
        r = self.server.request("POST", "/api/v1/jobs/createTask", key=self.key,
                                body={"model": "gpt-image-2-text-to-image",
                                      "input": {"prompt": "traced"}},
                                headers={"X-Request-ID": "trace-me-1"})
        needle = "request_id=trace-me-1 task=%s created" % r.json()["data"]["taskId"]
        self.assertIn(needle, self.server.wait_log(needle))


class SandboxFailureTest(unittest.TestCase):
    def test_a_failed_generation_is_reported_in_the_record(self):
        server = Server(settings={"sandbox.failure_rate": "1.0"})
        key = server.create_key("failing")
        server.start()
        try:
            r = server.create_job(key, {"model": "gpt-image-2-text-to-image",
                                        "input": {"prompt": "doomed"}})
            self.assertEqual(r.status, 200)
            data, states = server.wait_job(key, r.json()["data"]["taskId"])
            self.assertEqual(data["state"], "fail")
            self.assertEqual(data["failCode"], "generation_failed")
            self.assertTrue(data["failMsg"])
            self.assertIsNone(data["resultJson"])
            self.assertEqual(data["costTime"], data["completeTime"] - data["createTime"])
        finally:
            server.cleanup()


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.key = cls.server.create_key("auth")
        cls.disabled = cls.server.create_key("disabled")
        db = sqlite3.connect(os.path.join(cls.server.data_dir, "imagegate.db"))
        db.execute("UPDATE api_keys SET disabled = 1 WHERE name = 'disabled'")
        db.commit()
        db.close()
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_keys_are_stored_only_as_hashes(self):
        db = sqlite3.connect(os.path.join(self.server.data_dir, "imagegate.db"))
        rows = db.execute("SELECT secret_hash, prefix FROM api_keys").fetchall()
        db.close()
        import hashlib
        hashes = [r[0] for r in rows]
        self.assertIn(hashlib.sha256(self.key.encode()).hexdigest(), hashes)
        dump = open(os.path.join(self.server.data_dir, "imagegate.db"), "rb").read()
        self.assertNotIn(self.key.encode(), dump)
        self.assertGreaterEqual(len(self.key), 3 + 43)  # sk- + 32 bytes in base64url

    def test_every_api_route_needs_a_valid_key(self):
        body = {"model": "gpt-image-2-text-to-image", "input": {"prompt": "x"}}
        for headers in ({}, {"Authorization": "Bearer sk-unknown"},
                        {"Authorization": "Basic abc"}, {"Authorization": "Bearer nope"},
                        {"Authorization": "Bearer " + self.disabled}):
            for method, path, b in (("POST", "/api/v1/jobs/createTask", body),
                                    ("GET", "/api/v1/jobs/recordInfo?taskId=x", None)):
                r = self.server.request(method, path, body=b, headers=headers)
                self.assertEqual(r.status, 401, (headers, path))
                env = r.json()
                self.assertEqual(env["code"], 401)
                self.assertIsNone(env["data"])
                self.assertTrue(env["msg"])

    def test_valid_key_passes(self):
        r = self.server.create_job(self.key, {"model": "gpt-image-2-text-to-image",
                                              "input": {"prompt": "ok"}})
        self.assertEqual(r.status, 200, r.body)


if __name__ == "__main__":
    unittest.main()
