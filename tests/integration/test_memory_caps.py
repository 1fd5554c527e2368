"""Process-wide memory caps: upload bodies (`server.upload_memory_bytes`) and the base64
answers of the `openai` dialect (`server.answer_memory_bytes`). Over a cap a request is
answered 503 with Retry-After in OpenAI's envelope; once the earlier request is done, the
same request fits."""
import http.client
import json
import os
import re
import socket
import threading
import time
import unittest

from harness import Server, multipart, png_bytes


def noise_png(width, height):
    """A PNG that does not compress: about width × height × 3 bytes."""
    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
    return png_bytes(width, height, rows, level=0)


def head(method, path, key, content_type, length, extra=b""):
    return (b"%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\n"
            b"Content-Length: %d\r\n%s\r\n" % (method.encode(), path.encode(), key.encode(),
                                               content_type.encode(), length, extra))


def begin(sock):
    """The response on `sock`, its status line and headers read (the body not yet)."""
    r = http.client.HTTPResponse(sock)
    r.begin()
    return r


class UploadMemoryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Two uploads of about 200 kB do not fit in 300 kB.
        cls.server = Server(settings={"server.upload_memory_bytes": "300000",
                                      "sandbox.latency_ms": "1500"})
        cls.key = cls.server.create_key("uploads")
        cls.server.start()
        cls.content_type, cls.body = multipart([("prompt", "hold")],
                                               [("image", "a.png", noise_png(256, 256))])
        assert 150000 < len(cls.body) < 300000, len(cls.body)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def upload_head(self):
        return head("POST", "/openai/v1/images/edits", self.key, self.content_type,
                    len(self.body))

    def upload(self):
        return self.server.request("POST", "/openai/v1/images/edits", body=self.body,
                                   headers={"Content-Type": self.content_type}, key=self.key,
                                   timeout=60)

    def test_an_upload_over_the_cap_is_503_until_the_one_being_read_is_done(self):
        first = socket.create_connection(("127.0.0.1", self.server.port), timeout=60)
        self.addCleanup(first.close)
        first.sendall(self.upload_head() + self.body[:1000])  # and the rest later
        time.sleep(0.5)  # the server reads the header and starts on the body
        # The first body is being read: a second one does not fit. It is refused from its
        # header, before its body is read.
        second = socket.create_connection(("127.0.0.1", self.server.port), timeout=60)
        self.addCleanup(second.close)
        second.sendall(self.upload_head())
        r = begin(second)
        self.assertEqual(r.status, 503)
        self.assertEqual(r.getheader("Retry-After"), "1")
        error = json.loads(r.read())["error"]
        self.assertEqual(error["type"], "server_error")
        self.assertEqual(error["message"],
                         "the server is receiving too many uploads at once; retry in a moment")

        first.sendall(self.body[1000:])
        r = begin(first)
        self.assertEqual(r.status, 200)
        self.assertEqual(len(json.loads(r.read())["data"]), 1)
        # Done: the same upload fits again.
        r = self.upload()
        self.assertEqual(r.status, 200, r.body)

    def test_a_request_waiting_for_its_images_holds_no_upload_memory(self):
        answers = {}

        def upload(name):
            answers[name] = self.upload()

        created = len(re.findall(r"task=\S+ created", self.server.log_text()))
        first = threading.Thread(target=upload, args=("first",))
        first.start()
        self.addCleanup(first.join, 60)
        deadline = time.monotonic() + 10
        while len(re.findall(r"task=\S+ created", self.server.log_text())) == created:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        # The first one's images take 1.5 s; its body is stored and let go of meanwhile.
        self.assertTrue(first.is_alive())
        upload("second")
        first.join(60)
        self.assertEqual(answers["first"].status, 200, answers["first"].body)
        self.assertEqual(answers["second"].status, 200, answers["second"].body)


class AnswerMemoryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # 1 MB: a 9 MB answer (ten 4K PNGs) takes all of it, alone; set by environment.
        cls.server = Server(settings={"sandbox.latency_ms": "0"},
                            env={"IMAGEGATE_SERVER_ANSWER_MEMORY_BYTES": "1000000"})
        cls.key = cls.server.create_key("answers")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def generate(self, body, headers=None):
        return self.server.request("POST", "/openai/v1/images/generations", body=body,
                                   headers=headers, key=self.key, timeout=60)

    def test_an_answer_over_the_cap_is_503_until_the_one_being_sent_is_done(self):
        # A client that reads slowly: its answer, far larger than the socket buffers, stays in
        # the server's hands.
        big = json.dumps({"prompt": "big", "n": 10, "size": "3840x2160"}).encode()
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(slow.close)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.settimeout(120)
        slow.connect(("127.0.0.1", self.server.port))
        slow.sendall(head("POST", "/openai/v1/images/generations", self.key, "application/json",
                          len(big)) + big)
        held = begin(slow)
        self.assertEqual(held.status, 200)

        small = {"prompt": "small", "size": "1024x1024"}
        retry = {"Idempotency-Key": "small-1"}
        r = self.generate(small, retry)
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.header("Retry-After"), "1")
        error = r.json()["error"]
        self.assertEqual(error["type"], "server_error")
        task = re.match(r"the images of task (\S+) are ready, but the server is sending too many "
                        r"images at once; retry in a moment with the same Idempotency-Key, or "
                        r"get them from GET /v1/tasks/(\S+)$", error["message"])
        self.assertIsNotNone(task, error["message"])
        self.assertEqual(task.group(1), task.group(2))
        # What the message offers works: the task, with its result URL.
        shown = self.server.request("GET", "/v1/tasks/" + task.group(1), key=self.key)
        self.assertEqual(shown.status, 200, shown.body)
        self.assertEqual(shown.json()["status"], "completed", shown.body)

        self.assertEqual(len(json.loads(held.read())["data"]), 10)
        # Sent: the retry fits, and is answered from the same task.
        r = self.generate(small, retry)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(len(r.json()["data"]), 1)
        log = self.server.log_text()
        self.assertEqual(len(re.findall(r"task=%s created" % re.escape(task.group(1)), log)), 1)


if __name__ == "__main__":
    unittest.main()
