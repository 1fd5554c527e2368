"""S3 result storage against a real S3-compatible server: s3rver (npm), started here on
127.0.0.1 behind a front that checks every request's Signature V4 with the AWS SDK's own signer
(tests/s3/server.mjs; key pair S3RVER/S3RVER). What imagegate stores is read
back with the official AWS SDK (@aws-sdk/client-s3, tests/s3/read_back.mjs), as any S3 client
sees it. Covers both `serve` modes, uploads of `openai` edits (one above 8 MiB, so a multipart
upload), the janitor, and S3 failing (bad credentials, the server gone)."""
import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import zlib

from harness import ROOT, Server, multipart, png_bytes, png_size, wait_for_file

S3_DIR = os.path.join(ROOT, "tests", "s3")
BUCKET = "imagegate"
HAVE_NODE = shutil.which("node") and shutil.which("npm")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def noise_png(width, height, seed):
    """An RGB PNG of random pixels: it does not compress, so its size is about 3*w*h bytes."""
    rng = random.Random(seed)
    rows = b"".join(b"\x00" + rng.randbytes(3 * width) for _ in range(height))
    return png_bytes(width, height, rows, level=1)


class S3Server:
    """s3rver (tests/s3/server.mjs) on a free port with an empty bucket."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ig-s3rver-")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "s3rver.log"), "wb")
        self.proc = subprocess.Popen(
            ["node", "server.mjs", os.path.join(self.dir, "data"), port_file, BUCKET],
            cwd=S3_DIR, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = int(wait_for_file(port_file, timeout=30, proc=self.proc))
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def read_back(self, *keys):
        """{"keys": [...], "objects": {key: {size, sha256, etag} | None}} by @aws-sdk/client-s3."""
        env = dict(os.environ, S3_ENDPOINT=self.endpoint)
        r = subprocess.run(["node", "read_back.mjs", BUCKET] + list(keys), cwd=S3_DIR, env=env,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("read_back.mjs failed: " + r.stderr[-2000:])
        return json.loads(r.stdout)

    def requests(self):
        """The front's request log: "METHOD URL signed" (or why the signature was refused)."""
        with open(os.path.join(self.dir, "data.requests.log")) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def s3_config(endpoint, signing_key_file, serve="signed", extra=""):
    return """
[results]
storage = "s3"
signing_key_file = "%s"
%s
[s3]
endpoint = "%s"
bucket = "imagegate"
region = "us-east-1"
path_style = true
access_key_env = "S3_ACCESS_KEY_ID"
secret_key_env = "S3_SECRET_ACCESS_KEY"
serve = "%s"
timeout_ms = 5000
""" % (signing_key_file, extra, endpoint, serve)


def fetch(url, headers=None):
    """(status, headers, body) of a plain GET to any URL (S3's presigned ones too)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@unittest.skipUnless(HAVE_NODE, "Node.js is not installed")
class S3StorageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run(["bash", os.path.join(S3_DIR, "setup.sh")], check=True, timeout=600)
        cls.s3 = S3Server()
        cls.shared = tempfile.mkdtemp(prefix="ig-s3-shared-")
        # The URL-signing secret every node shares (results.signing_key_file).
        cls.signing_key_file = os.path.join(cls.shared, "url-signing.key")
        cls.secret = "0123456789abcdef" * 4
        with open(cls.signing_key_file, "w") as f:
            f.write(cls.secret + "\n")
        cls.servers = []

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.cleanup()
        cls.s3.cleanup()
        shutil.rmtree(cls.shared, ignore_errors=True)

    def start(self, serve="signed", extra="", secret="S3RVER", endpoint=None, settings=None):
        server = Server(config_text=s3_config(endpoint or self.s3.endpoint, self.signing_key_file,
                                              serve, extra),
                        env={"S3_ACCESS_KEY_ID": "S3RVER", "S3_SECRET_ACCESS_KEY": secret},
                        settings=settings)
        self.servers.append(server)
        key = server.create_key("s3")
        server.start()
        return server, key

    def create(self, server, key, prompt="a lighthouse at dusk"):
        r = server.create_job(key, {"model": "gpt-image-2-text-to-image",
                                    "input": {"prompt": prompt, "aspect_ratio": "1:1"}})
        self.assertEqual(r.status, 200, r.body)
        task = r.json()["data"]["taskId"]
        data, _ = server.wait_job(key, task)
        return task, data

    def result_urls(self, data):
        return json.loads(data["resultJson"])["resultUrls"]

    def test_signed_urls_stream_from_s3_on_any_node(self):
        a, key_a = self.start()
        b, _ = self.start()  # another node: same bucket, same signing key, its own database
        task, data = self.create(a, key_a)
        self.assertEqual(data["state"], "success", data)
        [url] = self.result_urls(data)
        self.assertTrue(url.startswith(a.base + "/files/%s/" % task), url)
        r = a.get_url(url)
        self.assertEqual(r.status, 200, r.body[:200])
        self.assertEqual(png_size(r.body), (1024, 1024))
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))

        key = urllib.parse.urlsplit(url).path[len("/files/"):]
        seen = self.s3.read_back(key)
        self.assertIn(key, seen["keys"])
        self.assertEqual(seen["objects"][key]["sha256"], sha256(r.body))

        # The same signed URL on the other node, which never saw the task.
        other = b.request("GET", urllib.parse.urlsplit(url).path + "?" +
                          urllib.parse.urlsplit(url).query)
        self.assertEqual(other.status, 200)
        self.assertEqual(other.body, r.body)
        ranged = a.get_url(url, headers={"Range": "bytes=100-199"})
        self.assertEqual(ranged.status, 206)
        self.assertEqual(ranged.body, r.body[100:200])
        self.assertEqual(ranged.header("Content-Range"), "bytes 100-199/%d" % len(r.body))
        self.assertEqual(a.get_url(url, method="HEAD").header("Content-Length"), str(len(r.body)))
        tampered = url.replace("signature=", "signature=0")
        self.assertEqual(a.get_url(tampered).status, 403)

    def test_presigned_urls_are_the_buckets_with_the_same_expiry(self):
        server, key = self.start(serve="presigned")
        task, data = self.create(server, key, "a red fox")
        self.assertEqual(data["state"], "success", data)
        [url] = self.result_urls(data)
        parts = urllib.parse.urlsplit(url)
        self.assertEqual("%s://%s" % (parts.scheme, parts.netloc), self.s3.endpoint)
        self.assertTrue(parts.path.startswith("/%s/%s/" % (BUCKET, task)), url)
        q = dict(urllib.parse.parse_qsl(parts.query))
        self.assertEqual(q["X-Amz-Algorithm"], "AWS4-HMAC-SHA256")
        signed_at = time.mktime(time.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ")) - time.timezone
        expires_at = signed_at + int(q["X-Amz-Expires"])
        self.assertEqual(int(q["X-Amz-Expires"]), 86400)
        self.assertEqual(int(expires_at), data["completeTime"] // 1000 + 86400)

        status, _, body = fetch(url)  # straight from the bucket, which checks the signature
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(png_size(body), (1024, 1024))
        key_in_bucket = parts.path[len("/%s/" % BUCKET):]
        self.assertEqual(self.s3.read_back(key_in_bucket)["objects"][key_in_bucket]["sha256"],
                         sha256(body))
        bad = url[:-1] + ("0" if url[-1] != "0" else "1")
        self.assertEqual(fetch(bad)[0], 403)
        # Stable: the same task renders the same URL on every read.
        again = self.result_urls(server.record(key, task).json()["data"])
        self.assertEqual(again, [url])

    def test_openai_edit_uploads_go_to_the_bucket_multipart_above_8_mib(self):
        server, key = self.start(settings={"server.max_upload_bytes": str(64 * 1024 * 1024)})
        image = noise_png(1800, 1700, seed=7)  # about 9.2 MB: two parts
        self.assertGreater(len(image), 8 * 1024 * 1024)
        ctype, body = multipart([("model", "gpt-image-2"), ("prompt", "sharpen it")],
                                [("image", "big.png", image)])
        r = server.request("POST", "/openai/v1/images/edits", body=body,
                           headers={"Content-Type": ctype}, key=key, timeout=120)
        self.assertEqual(r.status, 200, r.body[:300])
        png = base64.b64decode(r.json()["data"][0]["b64_json"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")

        seen = self.s3.read_back()
        uploads = [k for k in seen["keys"] if k.startswith("uploads/") and k.endswith("/image-1")]
        match = None
        for k in uploads:
            o = self.s3.read_back(k)["objects"][k]
            if o["sha256"] == sha256(image):
                match = (k, o)
        self.assertIsNotNone(match, "the upload is not in the bucket: %s" % uploads)
        k, o = match
        self.assertEqual(o["size"], len(image))
        calls = self.s3.requests()
        self.assertIn("POST /%s/%s?uploads" % (BUCKET, k), calls)
        for part in (1, 2):
            self.assertRegex(calls, r"PUT /%s/%s\?partNumber=%d&uploadId=\S+ signed"
                             % (BUCKET, k, part))
        self.assertNotRegex(calls, r"PUT /%s/%s\?partNumber=3" % (BUCKET, k))
        self.assertRegex(calls, r"POST /%s/%s\?uploadId=\S+ signed" % (BUCKET, k))

        # Served back through a signed URL made with the shared key: streamed in chunks.
        path = "/files/" + k
        expires = int(time.time()) + 600
        sig = hmac.new(self.secret.encode(), ("%s\n%d" % (path, expires)).encode(),
                       hashlib.sha256).hexdigest()
        got = server.request("GET", "%s?expires=%d&signature=%s" % (path, expires, sig))
        self.assertEqual(got.status, 200)
        self.assertEqual(got.header("Transfer-Encoding"), "chunked")
        self.assertEqual(sha256(got.body), sha256(image))
        ranged = server.request("GET", "%s?expires=%d&signature=%s" % (path, expires, sig),
                                headers={"Range": "bytes=8388600-8388615"})
        self.assertEqual(ranged.status, 206)
        self.assertEqual(ranged.body, image[8388600:8388616])

    def test_janitor_deletes_expired_objects(self):
        server, key = self.start(settings={"results.ttl_s": "2",
                                           "results.janitor_interval_s": "1"})
        task, data = self.create(server, key, "short lived")
        self.assertEqual(data["state"], "success", data)
        [url] = self.result_urls(data)
        object_key = urllib.parse.urlsplit(url).path[len("/files/"):]
        deadline = time.monotonic() + 20
        keys = self.s3.read_back()["keys"]
        while object_key in keys and time.monotonic() < deadline:
            time.sleep(1)
            keys = self.s3.read_back()["keys"]
        self.assertNotIn(object_key, keys, "the janitor left an expired object")
        self.assertIn("janitor deleted", server.wait_log("janitor deleted"))
        self.assertRegex(self.s3.requests(), r"GET /%s/\?list-type=2\S* signed" % BUCKET)
        self.assertRegex(self.s3.requests(), r"POST /%s/\?delete= signed" % BUCKET)
        server.stop()  # its janitor would empty the bucket under the other tests

    def test_bad_credentials_fail_the_task_cleanly(self):
        server, key = self.start(secret="not-the-secret")
        task, data = self.create(server, key, "never stored")
        self.assertEqual(data["state"], "fail", data)
        self.assertEqual(server.request("GET", "/healthz").status, 200)
        log = server.log_text()
        self.assertIn("SignatureDoesNotMatch", log)
        self.assertNotIn(task, " ".join(self.s3.read_back()["keys"]))

    def test_unreachable_s3_is_a_clean_error(self):
        # A port where nothing listens: start-up warns, tasks fail, the server keeps answering.
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = "http://127.0.0.1:%d" % s.getsockname()[1]
        server, key = self.start(endpoint=dead)
        self.assertIn("is not reachable now", server.wait_log("is not reachable now"))
        task, data = self.create(server, key, "nowhere to go")
        self.assertEqual(data["state"], "fail", data)
        path = "/files/%s/a1-1.png" % task
        expires = int(time.time()) + 600
        sig = hmac.new(self.secret.encode(), ("%s\n%d" % (path, expires)).encode(),
                       hashlib.sha256).hexdigest()
        r = server.request("GET", "%s?expires=%d&signature=%s" % (path, expires, sig))
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(server.request("GET", "/healthz").status, 200)


if __name__ == "__main__":
    unittest.main()
