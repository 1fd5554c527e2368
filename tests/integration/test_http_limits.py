"""Header, body and time limits of the HTTP server; keep-alive; health and metrics."""
import http.client
import json
import socket
import time
import unittest

from harness import Server, raw_exchange


class HttpLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(settings={"server.request_timeout_ms": "800",
                                      "server.idle_timeout_ms": "1500"})
        cls.key = cls.server.create_key("limits")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def status_of(self, raw):
        line = raw.split(b"\r\n", 1)[0]
        self.assertTrue(line.startswith(b"HTTP/1.1 "), raw[:100])
        return int(line.split()[1])

    def test_header_block_over_16k_is_431(self):
        req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n")
        raw = raw_exchange(self.server.port, req)
        self.assertEqual(self.status_of(raw), 431)

    def test_header_block_under_16k_is_fine(self):
        req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * 15000
               + b"\r\n\r\n")
        self.assertEqual(self.status_of(raw_exchange(self.server.port, req)), 200)

    def test_declared_body_over_1mib_is_413_without_reading_it(self):
        head = (b"POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Bearer " + self.key.encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n")
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        s.sendall(head)  # no body sent at all: the answer must not wait for it
        raw = s.recv(65536)
        s.close()
        self.assertEqual(self.status_of(raw), 413)
        self.assertIn(b'"code":413', raw)

    def test_chunked_body_over_1mib_is_413(self):
        head = (b"POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
        chunk = b"%x\r\n" % (64 * 1024) + b"a" * (64 * 1024) + b"\r\n"
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        s.sendall(head)
        try:
            for _ in range(20):  # 1.25 MiB: past the limit, within the lingering drain
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        raw = self.read_all(s)
        s.close()
        self.assertEqual(self.status_of(raw), 413)

    def test_slow_request_is_408(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes the header
        start = time.monotonic()
        raw = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            raw += b
        s.close()
        self.assertEqual(self.status_of(raw), 408)
        self.assertLess(time.monotonic() - start, 5)

    def read_all(self, s):
        raw = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                raw += b
        except (ConnectionResetError, socket.timeout):
            pass
        return raw

    def test_a_slow_but_steady_body_is_read(self):
        # 100 kB over ~1.5 s: longer than the 800 ms header deadline, well within the body's
        # (800 ms + size at 64 KiB/s).
        body = b'{"model":"gpt-image-2-text-to-image","input":{"prompt":"steady"}}' + b" " * 100000
        head = (b"POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Authorization: Bearer " + self.key.encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        s.sendall(head)
        step = len(body) // 10 + 1
        for i in range(0, len(body), step):
            time.sleep(0.15)
            s.sendall(body[i:i + step])
        raw = self.read_all(s)
        s.close()
        self.assertEqual(self.status_of(raw), 200, raw[:300])
        self.assertIn(b'"taskId"', raw)

    def test_a_stalled_body_is_408(self):
        head = (b"POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Bearer " + self.key.encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        s.sendall(head + b'{"model":')  # and nothing more
        raw = self.read_all(s)
        s.close()
        self.assertEqual(self.status_of(raw), 408)
        self.assertIn(b'"code":408', raw)

    def test_an_upload_without_a_key_is_refused_before_its_body(self):
        for auth in (b"", b"Authorization: Bearer sk-not-a-key\r\n"):
            with self.subTest(auth=auth):
                head = (b"POST /openai/v1/images/edits HTTP/1.1\r\nHost: x\r\n" + auth +
                        b"Content-Type: multipart/form-data; boundary=b\r\n"
                        b"Content-Length: 50000000\r\n\r\n")
                s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
                s.sendall(head)  # the 50 MB never follow
                raw = s.recv(65536)
                s.close()
                self.assertEqual(self.status_of(raw), 401, raw[:300])
                envelope = json.loads(raw.split(b"\r\n\r\n", 1)[1])
                self.assertIn("message", envelope["error"])
                self.assertEqual(envelope["error"]["type"], "invalid_request_error")

    def test_idle_connection_is_closed_quietly(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        self.assertEqual(s.recv(100), b"")  # closed after the idle timeout, nothing sent
        s.close()

    def test_malformed_request_is_400(self):
        raw = raw_exchange(self.server.port, b"THIS IS NOT HTTP\r\n\r\n")
        self.assertEqual(self.status_of(raw), 400)

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        for i in range(20):
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
        conn.close()

    def test_health_ready_and_metrics(self):
        self.assertEqual(self.server.request("GET", "/healthz").status, 200)
        self.assertEqual(self.server.request("GET", "/readyz").status, 200)
        self.server.request("GET", "/api/v1/jobs/recordInfo?taskId=x")  # a 401 to count
        m = self.server.request("GET", "/metrics")
        self.assertEqual(m.status, 200)
        text = m.body.decode()
        self.assertIn('imagegate_http_requests_total{route="jobs_record",status="401"}', text)
        self.assertIn('imagegate_http_request_duration_seconds_bucket{route="healthz",le="+Inf"}',
                      text)
        self.assertIn('imagegate_tasks{state="queued"}', text)
        self.assertIn("imagegate_queue_depth ", text)


if __name__ == "__main__":
    unittest.main()
