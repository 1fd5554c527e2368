"""Every documented validation rule of seeds 000/002 answered in the jobs envelope, and a
rejected request creates nothing."""
import os
import sqlite3
import unittest

from harness import Server

T2I = "gpt-image-2-text-to-image"
I2I = "gpt-image-2-image-to-image"
URL = "https://cdn.example.com/input.png"

CASES = [
    # (name, body (dict or raw str), status, message fragment)
    ("not json", "{", 400, "not valid JSON"),
    ("array body", "[]", 400, "must be a JSON object"),
    ("missing model", {"input": {"prompt": "x"}}, 400, "model is required"),
    ("model not string", {"model": 1, "input": {"prompt": "x"}}, 400, "model must be a string"),
    ("unknown model", {"model": "gpt-image-2", "input": {"prompt": "x"}}, 422,
     "model must be exactly"),
    ("missing input", {"model": T2I}, 400, "input is required"),
    ("input not object", {"model": T2I, "input": []}, 400, "input must be an object"),
    ("missing prompt", {"model": T2I, "input": {}}, 400, "input.prompt is required"),
    ("prompt not string", {"model": T2I, "input": {"prompt": 7}}, 400, "must be a string"),
    ("empty prompt", {"model": T2I, "input": {"prompt": ""}}, 422, "must not be empty"),
    ("prompt too long", {"model": T2I, "input": {"prompt": "a" * 20001}}, 422,
     "maximum is 20000"),
    ("bad aspect", {"model": T2I, "input": {"prompt": "x", "aspect_ratio": "2:1"}}, 422,
     "input.aspect_ratio must be one of"),
    ("bad resolution", {"model": T2I, "input": {"prompt": "x", "resolution": "3K"}}, 422,
     "input.resolution must be one of"),
    ("bad quality", {"model": T2I, "input": {"prompt": "x", "quality": "max"}}, 422,
     "input.quality"),
    ("bad format", {"model": T2I, "input": {"prompt": "x", "output_format": "bmp"}}, 422,
     "input.output_format"),
    ("i2i without urls", {"model": I2I, "input": {"prompt": "x"}}, 400,
     "input.input_urls is required"),
    ("i2i empty urls", {"model": I2I, "input": {"prompt": "x", "input_urls": []}}, 422,
     "at least one"),
    ("i2i urls not array", {"model": I2I, "input": {"prompt": "x", "input_urls": URL}}, 400,
     "must be an array"),
    ("i2i http url", {"model": I2I, "input": {"prompt": "x",
                                              "input_urls": ["http://cdn.example.com/a.png"]}},
     422, "must use https://"),
    ("i2i data url", {"model": I2I, "input": {"prompt": "x",
                                              "image_urls": ["data:image/png;base64,iVBOR"]}},
     422, "data: URLs are not supported"),
    ("i2i raw base64", {"model": I2I, "input": {"prompt": "x", "image_input": ["iVBORw0KGgo="]}},
     422, "is not a valid URL"),
    ("i2i auto 2K", {"model": I2I, "input": {"prompt": "x", "input_urls": [URL],
                                             "resolution": "2K"}}, 422, "only 1K"),
    ("i2i auto 4K", {"model": I2I, "input": {"prompt": "x", "input_urls": [URL],
                                             "aspect_ratio": "auto", "resolution": "4K"}},
     422, "only 1K"),
    ("i2i 4K 1:1", {"model": I2I, "input": {"prompt": "x", "input_urls": [URL],
                                            "aspect_ratio": "1:1", "resolution": "4K"}},
     422, "4K is not supported with aspect_ratio 1:1"),
    ("t2i with urls", {"model": T2I, "input": {"prompt": "x", "input_urls": [URL]}}, 422,
     "not supported by"),
]


class ValidationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.key = cls.server.create_key("validation")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def task_count(self):
        db = sqlite3.connect(os.path.join(self.server.data_dir, "imagegate.db"))
        n = db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
        db.close()
        return n

    def test_each_rule(self):
        before = self.task_count()
        for name, body, status, fragment in CASES:
            with self.subTest(name):
                headers = {"Content-Type": "application/json"}
                r = self.server.request("POST", "/api/v1/jobs/createTask", body=body,
                                        headers=headers, key=self.key)
                self.assertEqual(r.status, status, (name, r.body[:300]))
                env = r.json()
                self.assertEqual(env["code"], status)
                self.assertIn(fragment, env["msg"])
                self.assertIsNone(env["data"])
        self.assertEqual(self.task_count(), before, "a rejected request created a task")

    def test_wrong_method_and_unknown_endpoint(self):
        r = self.server.request("GET", "/api/v1/jobs/createTask", key=self.key)
        self.assertEqual(r.status, 405)
        self.assertEqual(r.json()["code"], 405)
        r = self.server.request("POST", "/api/v1/jobs/nothing", key=self.key)
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["code"], 404)
        r = self.server.request("GET", "/nowhere")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["error"]["code"], "not_found")


if __name__ == "__main__":
    unittest.main()
