"""The synchronous `openai` dialect: Images API generations (JSON) and edits (multipart), by
hand and through the official `openai` npm package."""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from harness import ROOT, Server, decode_png, make_png_pixels, multipart, png_size


def pixel(x, y):
    return ((x * 4) % 256, (y * 4) % 256, 128)


class OpenAITest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.key = cls.server.create_key("openai")
        cls.server.start()
        cls.image = make_png_pixels(64, 64, pixel)
        cls.mask = make_png_pixels(64, 64, lambda x, y: (0, 0, 0, 0 if y < 32 else 255),
                                   alpha=True)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def generate(self, body, key=None):
        return self.server.request("POST", "/openai/v1/images/generations", body=body,
                                   key=key or self.key)

    def edit(self, fields, files):
        ctype, body = multipart(fields, files)
        return self.server.request("POST", "/openai/v1/images/edits", body=body,
                                   headers={"Content-Type": ctype}, key=self.key)

    def test_generation_answers_with_the_image(self):
        r = self.generate({"model": "gpt-image-2", "prompt": "a red fox", "size": "1536x1024",
                           "quality": "high"})
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertIsInstance(body["created"], int)
        self.assertEqual(len(body["data"]), 1)
        image = base64.b64decode(body["data"][0]["b64_json"])
        self.assertEqual(png_size(image), (1536, 1024))
        self.assertEqual(body["size"], "1536x1024")
        self.assertEqual(body["quality"], "high")
        self.assertEqual(body["output_format"], "png")
        self.assertGreater(body["usage"]["output_tokens"], 0)
        self.assertEqual(body["usage"]["total_tokens"],
                         body["usage"]["input_tokens"] + body["usage"]["output_tokens"])

    def test_transparent_background_gives_an_alpha_channel(self):
        r = self.generate({"model": "gpt-image-2", "prompt": "a sticker", "size": "1024x1024",
                           "background": "transparent"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["background"], "transparent")
        image = base64.b64decode(r.json()["data"][0]["b64_json"])
        self.assertEqual(image[25], 6, "PNG colour type 6: RGBA")  # IHDR colour type byte
        r = self.generate({"model": "gpt-image-2", "prompt": "a sticker", "size": "1024x1024"})
        image = base64.b64decode(r.json()["data"][0]["b64_json"])
        self.assertEqual(image[25], 2, "PNG colour type 2: RGB")

    def test_generation_errors_in_openai_shape(self):
        r = self.generate({"model": "gpt-image-2", "prompt": "x", "n": 11})
        self.assertEqual(r.status, 400, r.body)
        err = r.json()["error"]
        self.assertEqual(err["type"], "invalid_request_error")
        self.assertEqual(err["param"], "n")
        self.assertIn("message", err)
        r = self.generate({"model": "gpt-image-2"})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"]["param"], "prompt")
        r = self.generate({"model": "gpt-image-2", "prompt": "x"}, key="sk-wrong")
        self.assertEqual(r.status, 401)
        self.assertIn("error", r.json())

    def test_edit_with_mask_keeps_the_opaque_half(self):
        r = self.edit([("prompt", "new sky"), ("model", "gpt-image-2")],
                      [("image", "in.png", self.image), ("mask", "mask.png", self.mask)])
        self.assertEqual(r.status, 200, r.body)
        out = base64.b64decode(r.json()["data"][0]["b64_json"])
        w, h, _, rows = decode_png(out)
        self.assertEqual((w, h), (64, 64))
        for y in range(32, 64):
            for x in range(64):
                self.assertEqual(rows[y][x][:3], pixel(x, y))
        changed = sum(1 for y in range(32) for x in range(64) if rows[y][x][:3] != pixel(x, y))
        self.assertGreater(changed, 32 * 64 * 0.9)

    def test_edit_with_several_images_and_errors(self):
        r = self.edit([("prompt", "combine")],
                      [("image[]", "a.png", self.image), ("image[]", "b.png", self.image)])
        self.assertEqual(r.status, 200, r.body)
        r = self.edit([("prompt", "no image")], [])
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"]["param"], "image")
        opaque = make_png_pixels(64, 64, lambda x, y: (0, 0, 0))
        r = self.edit([("prompt", "x")], [("image", "a.png", self.image),
                                           ("mask", "m.png", opaque)])
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"]["message"],
                         "Invalid mask image format - mask image missing alpha channel")
        r = self.server.request("POST", "/openai/v1/images/edits", body=b"garbage",
                                headers={"Content-Type": "multipart/form-data; boundary=x"},
                                key=self.key)
        self.assertEqual(r.status, 400)


@unittest.skipUnless(shutil.which("node") and shutil.which("npm"), "Node.js is not installed")
class DrainTest(unittest.TestCase):
    def test_a_waiting_generation_is_answered_503_at_the_drain_deadline(self):
        server = Server(settings={"sandbox.latency_ms": "30000", "server.drain_timeout_ms": "800"})
        self.addCleanup(server.cleanup)
        key = server.create_key("drain")
        server.start()
        answer = {}

        def generate():
            answer["r"] = server.request("POST", "/openai/v1/images/generations",
                                         body={"prompt": "slow"}, key=key)

        t = threading.Thread(target=generate)
        t.start()
        self.assertRegex(server.wait_log(" created"), r"task=\S+ created")
        start = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        t.join(15)
        self.assertFalse(t.is_alive())
        elapsed = time.monotonic() - start
        r = answer["r"]  # an answer, not a connection closed under the request
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.header("Retry-After"), "1")
        error = r.json()["error"]
        self.assertEqual(error["type"], "server_error")
        self.assertEqual(error["message"], "the server is shutting down; retry the request")
        self.assertGreaterEqual(elapsed, 0.7)  # it could have had its image until the deadline
        self.assertLess(elapsed, 5)  # not the 30 s of the generation
        self.assertEqual(server.proc.wait(timeout=30), 0)
        self.assertIn("drained", server.log_text())


class OfficialClientTest(unittest.TestCase):
    """tests/node: the official `openai` npm package, unchanged, with baseURL → /openai/v1."""

    def test_official_openai_package(self):
        node_dir = os.path.join(ROOT, "tests", "node")
        if not os.path.isdir(os.path.join(node_dir, "node_modules", "openai")):
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=node_dir, check=True, timeout=600)
        server = Server()
        key = server.create_key("node")
        server.start()
        fixtures = tempfile.mkdtemp(prefix="ig-node-")
        try:
            with open(os.path.join(fixtures, "input.png"), "wb") as f:
                f.write(make_png_pixels(64, 64, pixel))
            with open(os.path.join(fixtures, "mask.png"), "wb") as f:
                f.write(make_png_pixels(64, 64, lambda x, y: (0, 0, 0, 0 if x < 32 else 255),
                                        alpha=True))
            env = dict(os.environ, IMAGEGATE_BASE_URL=server.base + "/openai/v1",
                       IMAGEGATE_KEY=key, IMAGEGATE_FIXTURES=fixtures)
            tests = [f for f in os.listdir(node_dir) if f.endswith(".test.mjs")]
            self.assertTrue(tests)
            r = subprocess.run(["node", "--test"] + tests, cwd=node_dir, env=env,
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            server.cleanup()
            shutil.rmtree(fixtures, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
