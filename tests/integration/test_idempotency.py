"""Idempotency-Key on every create endpoint: the same key and body replay the first answer
(one task), another body is a 422, a second request while the first is being created gets a
409 or the replay, keys are per account, and a request that failed validation stores nothing."""

import json
import threading
import unittest

from harness import Server, make_png, multipart

GEN = "/v1/images/generations"


class IdempotencyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(settings={"sandbox.latency_ms": "300"}).start()
        cls.key = cls.server.create_key("a")
        cls.other = cls.server.create_key("b")  # another account

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def post(self, path, body, idem, key=None, headers=None):
        h = {"Idempotency-Key": idem} if idem is not None else {}
        h.update(headers or {})
        return self.server.request("POST", path, body, headers=h, key=key or self.key)

    def test_same_key_same_body_replays_one_task_in_every_dialect(self):
        cases = [
            ("/api/v1/jobs/createTask", {"model": "gpt-image-2-text-to-image",
                                         "input": {"prompt": "a"}}),
            ("/v1/tasks", {"model": "gpt-image-2/text-to-image", "input": {"prompt": "a"}}),
            (GEN, {"model": "gpt-image-2", "input": {"prompt": "a"}}),
            (GEN, {"model": "gpt-image-2", "prompt": "a"}),
        ]
        for i, (path, body) in enumerate(cases):
            with self.subTest(path=path, i=i):
                idem = "replay-%d" % i
                first = self.post(path, body, idem)
                self.assertEqual(first.status, 200, first.body)
                second = self.post(path, body, idem)
                self.assertEqual(second.status, 200, second.body)
                self.assertEqual(second.body, first.body)  # the same answer, byte for byte
                # Another body with the key: 422 in the dialect's envelope, nothing created.
                other = json.loads(json.dumps(body).replace('"a"', '"b"'))
                r = self.post(path, other, idem)
                self.assertEqual(r.status, 422, r.body)
                self.assertIn("Idempotency-Key", r.body.decode())

    def test_keys_are_per_account(self):
        body = {"model": "gpt-image-2", "input": {"prompt": "scoped"}}
        a = self.post(GEN, body, "shared")
        b = self.post(GEN, body, "shared", key=self.other)
        self.assertEqual(a.status, 200, a.body)
        self.assertEqual(b.status, 200, b.body)
        self.assertNotEqual(a.body, b.body)  # two tasks: one per account

    def test_a_request_that_failed_validation_stores_nothing(self):
        bad = {"model": "gpt-image-2", "input": {"prompt": ""}}
        r = self.post(GEN, bad, "validation")
        self.assertEqual(r.status, 400, r.body)
        good = {"model": "gpt-image-2", "input": {"prompt": "now valid"}}
        r = self.post(GEN, good, "validation")
        self.assertEqual(r.status, 200, r.body)

    def test_bad_keys_are_refused(self):
        body = {"model": "gpt-image-2", "input": {"prompt": "a"}}
        self.assertEqual(self.post(GEN, body, "x" * 256).status, 400)
        self.assertEqual(self.post(GEN, body, "has space").status, 400)
        self.assertEqual(self.post(GEN, body, "x" * 255).status, 200)

    def test_concurrent_first_requests_create_one_task(self):
        body = {"model": "gpt-image-2", "input": {"prompt": "race"}}
        results = []

        def go():
            results.append(self.post(GEN, body, "race"))

        threads = [threading.Thread(target=go) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ok = [r for r in results if r.status == 200]
        busy = [r for r in results if r.status == 409]
        self.assertEqual(len(ok) + len(busy), 12, [(r.status, r.body) for r in results])
        self.assertGreaterEqual(len(ok), 1)
        self.assertEqual(len({r.body for r in ok}), 1)  # every 200 names the same task
        for r in busy:
            self.assertEqual(r.header("Retry-After"), "1")
        # Afterwards the key replays.
        again = self.post(GEN, body, "race")
        self.assertEqual(again.status, 200)
        self.assertEqual(again.body, ok[0].body)

    def test_openai_generations_and_edits_replay(self):
        body = {"model": "gpt-image-2", "prompt": "sync", "size": "1024x1024"}
        first = self.post("/openai/v1/images/generations", body, "openai-1")
        self.assertEqual(first.status, 200, first.body[:300])
        second = self.post("/openai/v1/images/generations", body, "openai-1")
        self.assertEqual(second.status, 200, second.body[:300])
        self.assertEqual(first.json()["data"], second.json()["data"])
        self.assertEqual(first.json()["created"], second.json()["created"])
        r = self.post("/openai/v1/images/generations", dict(body, prompt="other"), "openai-1")
        self.assertEqual(r.status, 422, r.body)
        # Edits: a retried multipart body has a new boundary and is still the same request.
        png = make_png(1024, 1024)
        answers = []
        for _ in range(2):
            ctype, data = multipart([("model", "gpt-image-2"), ("prompt", "edit me")],
                                    [("image[]", "a.png", png)])
            answers.append(self.post("/openai/v1/images/edits", data, "openai-edit",
                                     headers={"Content-Type": ctype}))
        self.assertEqual(answers[0].status, 200, answers[0].body[:300])
        self.assertEqual(answers[1].status, 200, answers[1].body[:300])
        self.assertEqual(answers[0].json()["created"], answers[1].json()["created"])


if __name__ == "__main__":
    unittest.main()
