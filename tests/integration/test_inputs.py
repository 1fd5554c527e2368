"""Input fetching: what is refused, and how the task reports it."""
import os
import time
import unittest

from harness import HttpsFixture, Server, make_png, png_bytes

I2I = "gpt-image-2-image-to-image"


class InputsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.https = HttpsFixture()
        cls.https.add_file("image.png", make_png(64, 64))
        cls.https.add_file("big.png", os.urandom(300_000))  # over the 200 kB cap set below
        cls.https.add_file("fake.png", b"<svg xmlns='http://www.w3.org/2000/svg'></svg>")
        cls.https.add_file("broken.png", make_png(64, 64)[:60])
        cls.https.start()
        settings = cls.https.server_settings()
        settings["media.input_max_bytes"] = "200000"
        cls.server = Server(settings=settings)
        cls.key = cls.server.create_key("inputs")
        cls.server.start()
        # The same fixture, but the gateway keeps its default (safe) configuration.
        cls.strict = Server(settings={"media.extra_ca_file": cls.https.ca_file})
        cls.strict_key = cls.strict.create_key("strict")
        cls.strict.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.strict.cleanup()
        cls.https.stop()

    def run_task(self, url, server=None, key=None):
        server = server or self.server
        key = key or self.key
        r = server.create_job(key, {"model": I2I, "input": {"prompt": "x", "input_urls": [url]}})
        self.assertEqual(r.status, 200, r.body)
        data, _ = server.wait_job(key, r.json()["data"]["taskId"])
        return data

    def assert_failed(self, data, code, fragment):
        self.assertEqual(data["state"], "fail", data)
        self.assertEqual(data["failCode"], code, data)
        self.assertIn(fragment, data["failMsg"])
        self.assertTrue(data["failMsg"].startswith("input_urls[0]: "), data["failMsg"])
        self.assertIsNone(data["resultJson"])

    def test_allowed_fetch_works(self):
        data = self.run_task(self.https.url("image.png"))
        self.assertEqual(data["state"], "success", data)

    def test_default_configuration_refuses_loopback(self):
        data = self.run_task(self.https.url("image.png"), self.strict, self.strict_key)
        self.assert_failed(data, "input_refused", "127.0.0.1")

    def test_private_and_special_addresses_are_refused(self):
        # Refused before any connection is attempted: the address is classified first.
        for host in ("10.0.0.1", "192.168.1.1", "169.254.169.254", "[::1]", "0.0.0.0",
                     "100.64.0.1", "localhost"):
            data = self.run_task("https://%s/image.png" % host, self.strict, self.strict_key)
            self.assert_failed(data, "input_refused", "")

    def test_redirect_to_a_refused_address_is_refused(self):
        data = self.run_task(self.https.url("redirect?to=https://10.1.2.3/x.png"))
        self.assert_failed(data, "input_refused", "")

    def test_redirect_to_http_is_refused(self):
        data = self.run_task(self.https.url("redirect?to=http://127.0.0.1/x.png"))
        self.assert_failed(data, "input_refused", "")

    def test_redirects_are_followed_up_to_three(self):
        self.assertEqual(self.run_task(self.https.url("redirect-chain/3"))["state"], "success")
        data = self.run_task(self.https.url("redirect-chain/4"))
        self.assertEqual(data["state"], "fail")
        self.assertEqual(data["failCode"], "input_fetch_failed")

    def test_wrong_type_is_refused(self):
        self.assert_failed(self.run_task(self.https.url("fake.png")), "input_invalid",
                           "unsupported image type")
        self.assert_failed(self.run_task(self.https.url("text")), "input_invalid", "")

    def test_truncated_image_is_refused(self):
        self.assert_failed(self.run_task(self.https.url("broken.png")), "input_invalid", "")

    def test_over_the_byte_cap_is_refused(self):
        self.assert_failed(self.run_task(self.https.url("big.png")), "input_too_large", "")
        # Declared too large: refused before the body is read.
        self.assert_failed(self.run_task(self.https.url("huge")), "input_too_large", "")
        # No length and a body that goes on: cut at the cap.
        self.assert_failed(self.run_task(self.https.url("endless")), "input_too_large", "")
        # A Content-Length smaller than what the server sends: only the declared bytes are read
        # (they are not an image); the 40 MB behind them never are.
        self.assert_failed(self.run_task(self.https.url("lying-length")), "input_invalid",
                           "unsupported image type")

    def test_missing_file_is_a_fetch_failure(self):
        self.assert_failed(self.run_task(self.https.url("missing.png")), "input_fetch_failed",
                           "404")


def noise_png(width, height):
    """A valid PNG of random pixels, stored uncompressed: about width * height * 3 bytes."""
    noise = os.urandom(width * 3)
    raw = b"".join(b"\x00" + noise[y % 7:] + noise[:y % 7] for y in range(height))
    return png_bytes(width, height, raw, level=0)


class DocumentByteLimitsTest(unittest.TestCase):
    """Each dialect keeps its document's per-image limit: 30 MB for jobs (seed 000), 50 MB for
    unified (seed 001). A 35 MB reference is too large for the one and fine for the other."""

    @classmethod
    def setUpClass(cls):
        cls.https = HttpsFixture()
        cls.big = noise_png(3500, 3400)
        assert 32 * 1024 * 1024 < len(cls.big) < 48 * 1024 * 1024, len(cls.big)
        cls.https.add_file("35mb.png", cls.big)
        cls.https.start()
        cls.server = Server(settings={**cls.https.server_settings(), "sandbox.latency_ms": "0"})
        cls.key = cls.server.create_key("limits")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.https.stop()

    def test_jobs_refuses_it(self):
        r = self.server.create_job(self.key, {"model": I2I, "input": {
            "prompt": "x", "input_urls": [self.https.url("35mb.png")]}})
        self.assertEqual(r.status, 200, r.body)
        data, _ = self.server.wait_job(self.key, r.json()["data"]["taskId"])
        self.assertEqual(data["state"], "fail", data)
        self.assertEqual(data["failCode"], "input_too_large", data)

    def test_unified_takes_it(self):
        r = self.server.request("POST", "/v1/images/generations", key=self.key, body={
            "model": "gpt-image-2", "prompt": "x", "image_urls": [self.https.url("35mb.png")]})
        self.assertEqual(r.status, 200, r.body)
        task_id = r.json()["id"]
        deadline = time.monotonic() + 60
        while True:
            body = self.server.request("GET", "/v1/tasks/" + task_id, key=self.key).json()
            if body["status"] in ("completed", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(body["status"], "completed", body)


if __name__ == "__main__":
    unittest.main()
