"""The `tasks`, `generations` and `unified` dialects end to end, cross-dialect queries,
listing, cancellation and inpainting masks."""
import json
import re
import time
import unittest

from harness import HttpsFixture, Server, decode_png, make_png, make_png_pixels, png_size

UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


def reference_pixel(x, y):
    return ((x * 4) % 256, (y * 4) % 256, (x * y) % 256)


class DialectsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.https = HttpsFixture()
        cls.https.add_file("ref.png", make_png_pixels(64, 64, reference_pixel))
        # Left half transparent (regenerate), right half opaque (keep).
        cls.https.add_file("mask.png", make_png_pixels(
            64, 64, lambda x, y: (0, 0, 0, 0 if x < 32 else 255), alpha=True))
        cls.https.add_file("opaque-mask.png", make_png(64, 64, (0, 0, 0)))
        cls.https.add_file("small-mask.png", make_png_pixels(
            32, 64, lambda x, y: (0, 0, 0, 0), alpha=True))
        cls.https.start()
        cls.server = Server(settings=cls.https.server_settings())
        cls.key = cls.server.create_key("dialects")
        cls.other = cls.server.create_key("other")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.https.stop()

    # --- helpers
    def post(self, path, body, key=None):
        return self.server.request("POST", path, body=body, key=key or self.key)

    def get(self, path, key=None):
        return self.server.request("GET", path, key=key or self.key)

    def poll(self, task_id, done, key=None, timeout=30):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            r = self.get("/v1/tasks/" + task_id, key=key)
            self.assertEqual(r.status, 200, r.body)
            body = r.json()
            seen.append(body)
            if done(body):
                return body, seen
            time.sleep(0.05)
        self.fail("task %s did not finish: %s" % (task_id, seen[-1:]))

    def download(self, url):
        r = self.server.get_url(url)
        self.assertEqual(r.status, 200)
        return r.body

    # --- tasks (seed 003)
    def test_tasks_dialect_flow(self):
        body = {"model": "gpt-image-2-image-to-image",
                "input": {"prompt": "a premium catalog image",
                          "input_urls": [self.https.url("ref.png")],
                          "aspect_ratio": "4:5", "resolution": "1K"},
                "callback": {"url": "https://example.com/hook", "when": "final"}}
        r = self.post("/v1/tasks", body)
        self.assertEqual(r.status, 200, r.body)
        env = r.json()
        self.assertEqual(env["code"], 200)
        self.assertEqual(env["message"], "success")
        task_id = env["data"]["taskId"]
        self.assertRegex(task_id, r"^tk-hiapi-[0-9A-HJKMNP-TV-Z]{26}$")
        final, seen = self.poll(task_id, lambda b: b["data"]["status"] in ("success", "fail"))
        self.assertIn(seen[0]["data"]["status"], ("queued", "handling", "success"))
        data = final["data"]
        self.assertEqual(data["status"], "success", data)
        self.assertEqual(data["taskId"], task_id)
        self.assertEqual(data["model"], "gpt-image-2-image-to-image")
        self.assertEqual(len(data["output"]), 1)
        self.assertEqual(data["output"][0]["type"], "image")
        self.assertGreater(data["output"][0]["expireAt"], time.time())
        self.assertEqual(png_size(self.download(data["output"][0]["url"])), (912, 1152))
        # Listed among the key's own tasks, not another key's.
        listed = self.get("/v1/tasks?page=1&page_size=100").json()
        self.assertEqual(listed["code"], 200)
        self.assertIn(task_id, json.dumps(listed))
        self.assertNotIn(task_id, json.dumps(self.get("/v1/tasks", key=self.other).json()))
        missing = self.get("/v1/tasks/" + task_id, key=self.other)
        self.assertEqual(missing.status, 404)
        self.assertEqual(missing.json()["code"], 404)

    def test_tasks_dialect_errors(self):
        r = self.post("/v1/tasks", {"model": "gpt-image-2-image-to-image",
                                    "input": {"prompt": "x"}})
        self.assertIn(r.status, (400, 422), r.body)
        env = r.json()
        self.assertEqual(env["code"], r.status)
        self.assertIsNone(env["data"])
        self.assertTrue(env["error_code"])
        r = self.post("/v1/tasks", {"model": "gpt-image-2-image-to-image",
                                    "input": {"prompt": "x", "input_urls": ["https://a/b.png"]},
                                    "callback": {"url": "http://insecure.example/cb"}})
        self.assertIn(r.status, (400, 422), r.body)
        r = self.server.request("POST", "/v1/tasks", body={"model": "x"})
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["code"], 401)

    # --- generations (seed 004)
    def test_generations_dialect_flow(self):
        r = self.post("/v1/images/generations",
                      {"model": "gpt-image-2", "callback_url": "https://example.com/webhook",
                       "input": {"prompt": "A cinematic night city poster",
                                 "aspect_ratio": "16:9", "resolution": "2k",
                                 "nsfw_checker": True}})
        self.assertEqual(r.status, 200, r.body)
        env = r.json()
        self.assertEqual((env["code"], env["msg"]), (200, "success"))
        task_id = env["data"]["taskId"]
        self.assertRegex(task_id, UUID)
        final, seen = self.poll(task_id, lambda b: b["status"] in ("completed", "failed"))
        self.assertIn(seen[0]["status"], ("pending", "processing", "completed"))
        self.assertEqual(final["status"], "completed", final)
        self.assertEqual(final["id"], task_id)
        self.assertEqual(final["model"], "gpt-image-2")
        self.assertEqual(final["output"]["metadata"]["model"], "gpt-image-2-text-to-image")
        urls = final["output"]["urls"]
        self.assertEqual(png_size(self.download(urls[0])), (2048, 1152))

    def test_generations_explicit_pixel_size_from_the_table(self):
        r = self.post("/v1/images/generations",
                      {"model": "gpt-image-2", "input": {"prompt": "wide", "aspect_ratio": "1881x836"}})
        self.assertEqual(r.status, 200, r.body)
        final, _ = self.poll(r.json()["data"]["taskId"],
                             lambda b: b["status"] in ("completed", "failed"))
        self.assertEqual(png_size(self.download(final["output"]["urls"][0])), (1881, 836))

    def test_generations_errors_use_its_table(self):
        r = self.post("/v1/images/generations", {"model": "dall-e-9", "input": {"prompt": "x"}})
        self.assertEqual(r.status, 404, r.body)
        self.assertEqual(r.json()["error"]["code"], "model_not_found")
        self.assertEqual(r.json()["error"]["type"], "invalid_request_error")
        r = self.post("/v1/images/generations", {"model": "gpt-image-2", "input": {}})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["code"], "invalid_request")
        r = self.server.request("POST", "/v1/images/generations",
                                body={"model": "gpt-image-2", "input": {"prompt": "x"}},
                                headers={"Authorization": "Bearer sk-nope"})
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"]["code"], "invalid_api_key")
        r = self.get("/v1/tasks/3ebe82c2-3abc-4015-9608-901baca54948")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["error"]["code"], "task_not_found")

    # --- unified (seed 001)
    def test_unified_dialect_flow_with_n_images(self):
        r = self.post("/v1/images/generations",
                      {"model": "gpt-image-2", "prompt": "two lighthouses", "size": "3:2",
                       "resolution": "2K", "quality": "low", "n": 2})
        self.assertEqual(r.status, 200, r.body)
        created = r.json()
        self.assertRegex(created["id"], r"^task-unified-\d+-[a-z0-9]{8}$")
        self.assertEqual(created["object"], "image.generation.task")
        self.assertEqual(created["status"], "pending")
        self.assertEqual(created["progress"], 0)
        self.assertEqual(created["type"], "image")
        self.assertTrue(created["task_info"]["can_cancel"])
        self.assertIn("credits_reserved", created["usage"])
        final, _ = self.poll(created["id"], lambda b: b["status"] in ("completed", "failed"))
        self.assertEqual(final["status"], "completed", final)
        self.assertEqual(final["progress"], 100)
        self.assertEqual(len(final["results"]), 2)
        for url in final["results"]:
            self.assertEqual(png_size(self.download(url)), (2512, 1680))
        self.assertNotEqual(self.download(final["results"][0]),
                            self.download(final["results"][1]))

    def test_unified_explicit_size(self):
        r = self.post("/v1/images/generations",
                      {"model": "gpt-image-2", "prompt": "uhd", "size": "3840×2160"})
        self.assertEqual(r.status, 200, r.body)
        final, _ = self.poll(r.json()["id"], lambda b: b["status"] in ("completed", "failed"))
        self.assertEqual(png_size(self.download(final["results"][0])), (3840, 2160))

    def test_unified_errors(self):
        r = self.post("/v1/images/generations",
                      {"model": "gpt-image-2", "prompt": "x", "size": "1000x1000"})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("16", r.json()["error"]["message"])
        r = self.post("/v1/images/generations", {"model": "gpt-image-2", "prompt": "x", "n": 11})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["param"], "n")
        r = self.get("/v1/tasks/task-unified-1-zzzzzzzz")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["error"]["code"], "task_not_found")
        r = self.get("/v1/tasks/task-unified-x")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["code"], "invalid_task_id")

    # --- any query path, the creating dialect's shape
    def test_a_task_answers_in_the_dialect_that_created_it(self):
        r = self.server.create_job(self.key, {"model": "gpt-image-2-text-to-image",
                                              "input": {"prompt": "jobs task"}})
        task_id = r.json()["data"]["taskId"]
        body = self.get("/v1/tasks/" + task_id).json()
        self.assertEqual(body["code"], 200)
        self.assertIn(body["data"]["state"], ("waiting", "success"))
        unified = self.post("/v1/images/generations", {"model": "gpt-image-2", "prompt": "u"})
        uid = unified.json()["id"]
        r = self.server.record(self.key, uid)
        self.assertEqual(r.json()["object"], "image.generation.task")

    # --- inpainting
    def test_mask_keeps_opaque_pixels_and_regenerates_transparent_ones(self):
        r = self.post("/v1/images/generations",
                      {"model": "gpt-image-2", "prompt": "replace the left half",
                       "image_urls": [self.https.url("ref.png")],
                       "mask_url": self.https.url("mask.png")})
        self.assertEqual(r.status, 200, r.body)
        final, _ = self.poll(r.json()["id"], lambda b: b["status"] in ("completed", "failed"))
        self.assertEqual(final["status"], "completed", final)
        w, h, channels, rows = decode_png(self.download(final["results"][0]))
        self.assertEqual((w, h), (64, 64))
        changed = 0
        for y in range(64):
            for x in range(64):
                px = rows[y][x][:3]
                if x >= 32:
                    self.assertEqual(px, reference_pixel(x, y), (x, y))
                elif px != reference_pixel(x, y):
                    changed += 1
        self.assertGreater(changed, 32 * 64 * 0.9)

    def test_bad_masks_fail_with_the_seed_messages(self):
        cases = {"opaque-mask.png": "Invalid mask image format - mask image missing alpha channel",
                 "small-mask.png": "Invalid mask image format - mask size does not match image size"}
        for mask, message in cases.items():
            r = self.post("/v1/images/generations",
                          {"model": "gpt-image-2", "prompt": "x",
                           "image_urls": [self.https.url("ref.png")],
                           "mask_url": self.https.url(mask)})
            self.assertEqual(r.status, 200, r.body)
            final, _ = self.poll(r.json()["id"], lambda b: b["status"] in ("completed", "failed"))
            self.assertEqual(final["status"], "failed", final)
            self.assertEqual(final["error"]["message"], message)

    def test_mask_without_reference_is_ignored(self):
        r = self.post("/v1/images/generations",
                      {"model": "gpt-image-2", "prompt": "no reference",
                       "mask_url": self.https.url("mask.png")})
        self.assertEqual(r.status, 200, r.body)
        final, _ = self.poll(r.json()["id"], lambda b: b["status"] in ("completed", "failed"))
        self.assertEqual(final["status"], "completed", final)
        self.assertEqual(png_size(self.download(final["results"][0])), (1024, 1024))


class CancelTest(unittest.TestCase):
    def test_cancel_while_queued_and_while_running(self):
        server = Server(settings={"sandbox.latency_ms": "20000", "dispatcher.concurrency": "1"})
        key = server.create_key("cancel")
        server.start()
        try:
            ids = []
            for prompt in ("first", "second"):
                r = server.request("POST", "/v1/images/generations", key=key,
                                   body={"model": "gpt-image-2", "prompt": prompt})
                self.assertEqual(r.status, 200, r.body)
                ids.append(r.json()["id"])
            deadline = time.monotonic() + 10
            while server.request("GET", "/v1/tasks/" + ids[0], key=key).json()["status"] != "processing":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            for task_id in reversed(ids):  # the queued one, then the running one
                r = server.request("POST", "/v1/tasks/%s/cancel" % task_id, key=key)
                self.assertEqual(r.status, 200, r.body)
                body = r.json()
                self.assertEqual(body["status"], "failed")
                self.assertEqual(body["error"]["code"], "request_cancelled")
                self.assertFalse(body["task_info"]["can_cancel"])
            again = server.request("POST", "/v1/tasks/%s/cancel" % ids[0], key=key)
            self.assertEqual(again.status, 409, again.body)
            time.sleep(0.5)
            for task_id in ids:  # nothing runs them again
                self.assertEqual(
                    server.request("GET", "/v1/tasks/" + task_id, key=key).json()["status"],
                    "failed")
            bad = server.request("POST", "/v1/tasks/task-unified-x/cancel", key=key)
            self.assertIn(bad.status, (400, 404))
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
