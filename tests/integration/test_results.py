"""Signed result URLs: expiry, tampering, HEAD, Range, the janitor."""
import http.client
import json
import os
import socket
import threading
import time
import unittest
import urllib.parse

from harness import Server, png_size

T2I = "gpt-image-2-text-to-image"


class ResultsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.key = cls.server.create_key("results")
        cls.server.start()
        r = cls.server.create_job(cls.key, {"model": T2I, "input": {"prompt": "result"}})
        data, _ = cls.server.wait_job(cls.key, r.json()["data"]["taskId"])
        cls.data = data
        cls.url = json.loads(data["resultJson"])["resultUrls"][0]

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def parts(self):
        u = urllib.parse.urlsplit(self.url)
        return u.path, dict(urllib.parse.parse_qsl(u.query))

    def fetch(self, path, query, **kw):
        return self.server.request(kw.pop("method", "GET"),
                                   path + "?" + urllib.parse.urlencode(query), **kw)

    def test_url_expires_24h_after_completion(self):
        _, q = self.parts()
        expires = int(q["expires"])
        self.assertEqual(expires, self.data["completeTime"] // 1000 + 86400)

    def test_get_head_and_range(self):
        path, q = self.parts()
        full = self.fetch(path, q)
        self.assertEqual(full.status, 200)
        self.assertEqual(full.header("Content-Type"), "image/png")
        self.assertEqual(full.header("Accept-Ranges"), "bytes")
        self.assertEqual(png_size(full.body), (1024, 1024))
        head = self.fetch(path, q, method="HEAD")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.body, b"")
        self.assertEqual(int(head.header("Content-Length")), len(full.body))
        part = self.fetch(path, q, headers={"Range": "bytes=0-15"})
        self.assertEqual(part.status, 206)
        self.assertEqual(part.body, full.body[:16])
        self.assertEqual(part.header("Content-Range"), "bytes 0-15/%d" % len(full.body))
        tail = self.fetch(path, q, headers={"Range": "bytes=-10"})
        self.assertEqual(tail.status, 206)
        self.assertEqual(tail.body, full.body[-10:])
        bad = self.fetch(path, q, headers={"Range": "bytes=%d-" % (len(full.body) + 5)})
        self.assertEqual(bad.status, 416)

    def test_keep_alive_answers_stay_in_step_with_the_file_sent_from_disk(self):
        # The body is sent with sendfile after the header: several full and partial answers
        # on one connection must each be exactly their bytes, and the file on disk the same.
        path, q = self.parts()
        target = path + "?" + urllib.parse.urlencode(q)
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            bodies = []
            for headers in ({}, {"Range": "bytes=100-"}, {}, {"Range": "bytes=5-9"}):
                conn.request("GET", target, headers=headers)
                r = conn.getresponse()
                bodies.append((r.status, r.read()))
            full = bodies[0][1]
            self.assertEqual([s for s, _ in bodies], [200, 206, 200, 206])
            self.assertEqual(bodies[1][1], full[100:])
            self.assertEqual(bodies[2][1], full)
            self.assertEqual(bodies[3][1], full[5:10])
            key = path.split("/files/", 1)[1]
            with open(os.path.join(self.server.data_dir, "results", key), "rb") as f:
                self.assertEqual(f.read(), full)
        finally:
            conn.close()

    def test_tampered_urls_are_403(self):
        path, q = self.parts()
        sig = q["signature"]
        flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
        self.assertEqual(self.fetch(path, {**q, "signature": flipped}).status, 403)
        self.assertEqual(self.fetch(path, {**q, "expires": str(int(q["expires"]) + 1)}).status,
                         403)
        other = path.replace("-1.png", "-2.png")
        self.assertNotEqual(other, path)
        self.assertEqual(self.fetch(other, q).status, 403)
        self.assertEqual(self.fetch(path, {"expires": q["expires"]}).status, 403)
        self.assertEqual(self.server.request("GET", path).status, 403)


class ClientGoneTest(unittest.TestCase):
    def test_a_client_that_leaves_mid_download_does_not_stop_the_server(self):
        # The body goes out with sendfile(2): writing to a connection its client has reset
        # raises SIGPIPE, whose default action ends the process without a word.
        server = Server()
        self.addCleanup(server.cleanup)
        key = server.create_key("gone")
        server.start()
        r = server.create_job(key, {"model": T2I, "input": {"prompt": "big"}})
        data, _ = server.wait_job(key, r.json()["data"]["taskId"])
        url = urllib.parse.urlsplit(json.loads(data["resultJson"])["resultUrls"][0])
        # A result far larger than the socket buffers, so the server is still sending when the
        # client resets the connection.
        big = os.urandom(48 << 20)
        with open(os.path.join(server.data_dir, "results", url.path.split("/files/", 1)[1]),
                  "wb") as f:
            f.write(big)
        target = url.path + "?" + url.query
        request = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode()

        def leave_midway(seed):
            # Reads part of the answer at full speed, then closes with bytes unread: a reset
            # while the server is sending, as a client cut off (or wrk at its deadline) does.
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            try:
                s.sendall(request)
                want = (64 << 10) << (seed % 7)  # 64 KiB .. 4 MiB
                got = 0
                while got < want:
                    chunk = s.recv(256 << 10)
                    if not chunk:
                        break
                    got += len(chunk)
            finally:
                s.close()

        for round_ in range(25):
            threads = [threading.Thread(target=leave_midway, args=(round_ + i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertIsNone(server.proc.poll(), "the server ended in round %d" % round_)
        time.sleep(0.3)
        self.assertIsNone(server.proc.poll(), "the server ended")
        self.assertEqual(server.request("GET", "/healthz").status, 200)
        whole = server.request("GET", target)
        self.assertEqual(whole.status, 200)
        self.assertEqual(whole.body, big)


class ExpiryTest(unittest.TestCase):
    def test_expired_url_is_403_and_the_janitor_deletes_the_file(self):
        server = Server(settings={"results.ttl_s": "2", "results.janitor_interval_s": "1"})
        key = server.create_key("expiry")
        server.start()
        try:
            r = server.create_job(key, {"model": T2I, "input": {"prompt": "short-lived"}})
            task_id = r.json()["data"]["taskId"]
            data, _ = server.wait_job(key, task_id)
            url = json.loads(data["resultJson"])["resultUrls"][0]
            self.assertEqual(server.get_url(url).status, 200)
            result_dir = os.path.join(server.data_dir, "results", task_id)
            self.assertTrue(os.listdir(result_dir))
            time.sleep(3.5)
            r = server.get_url(url)
            self.assertEqual(r.status, 403)
            self.assertIn(b"expired", r.body)
            deadline = time.monotonic() + 5
            while os.path.exists(result_dir) and os.listdir(result_dir) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertFalse(os.path.exists(result_dir) and os.listdir(result_dir))
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
