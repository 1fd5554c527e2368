"""Test harness: runs the real imagegate binary on port 0 against a temp data dir.

Only the Python standard library is used. The binary is found through IMAGEGATE_BIN (set by
ctest) or build/imagegate.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("IMAGEGATE_BIN", os.path.join(ROOT, "build", "imagegate"))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


def wait_for_file(path, timeout=15.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path) as f:
                content = f.read().strip()
            if content:
                return content
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before writing %s" % (proc.returncode, path))
        time.sleep(0.02)
    raise TimeoutError("timed out waiting for " + path)


def png_size(data):
    """(width, height) from a PNG's IHDR; asserts the signature."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %r" % data[:16]
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class Server:
    """One imagegate process with its own data dir."""

    def __init__(self, data_dir=None, settings=None, env=None, config_text=None, config_file=None):
        """`config_text` (TOML) is written into the data dir and passed as --config, like a
        `config_file` path; `env` is added to the server's environment."""
        self.owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="ig-it-")
        self.settings = dict(settings or {})
        self.env = dict(env or {})
        self.config_file = config_file
        if config_text is not None:
            self.config_file = os.path.join(self.data_dir, "config-%d.toml" % time.time_ns())
            with open(self.config_file, "w") as f:
                f.write(config_text)
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.data_dir, "server-%d.log" % time.time_ns())

    def create_key(self, name="test"):
        out = subprocess.run([BIN, "keys", "create", "--name", name, "--data-dir", self.data_dir],
                             check=True, capture_output=True, text=True, timeout=30)
        key = out.stdout.strip()
        assert key.startswith("sk-"), out
        return key

    def start(self):
        port_file = os.path.join(self.data_dir, "port")
        if os.path.exists(port_file):
            os.remove(port_file)
        args = [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
                "--set", "server.port_file=" + port_file]
        if self.config_file:
            args += ["--config", self.config_file]
        defaults = {"sandbox.latency_ms": "100", "dispatcher.poll_ms": "50", "log.level": "info"}
        for k, v in {**defaults, **self.settings}.items():
            args += ["--set", "%s=%s" % (k, v)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEGATE_")}
        env.update(self.env)
        if getattr(self, "log", None) and not self.log.closed:
            self.log.close()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.port = int(wait_for_file(port_file, proc=self.proc))
        return self

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, needle, timeout=5.0):
        """The log text once it contains `needle`: the access line of a request is
        written just after its response, so a client can be faster than the log."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            if needle in text or time.monotonic() > deadline:
                return text
            time.sleep(0.02)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        if getattr(self, "log", None):
            self.log.close()

    def stop(self):
        self.kill(signal.SIGTERM)

    def cleanup(self):
        self.stop()
        if self.owns_dir and not os.environ.get("IG_KEEP_DATA"):
            shutil.rmtree(self.data_dir, ignore_errors=True)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None, key=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = "Bearer " + key
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        resp = Response(r.status, r.getheaders(), r.read())
        conn.close()
        return resp

    def metrics(self):
        """The /metrics samples (see parse_metrics)."""
        r = self.request("GET", "/metrics")
        assert r.status == 200, (r.status, r.body)
        return Metrics(r.body.decode("utf-8"))

    def tasks_show(self, task_id):
        """`imagegate tasks show ID --data-dir D`: the CompletedProcess (text)."""
        return subprocess.run([BIN, "tasks", "show", task_id, "--data-dir", self.data_dir],
                              capture_output=True, text=True, timeout=30)

    def get_url(self, url, headers=None, method="GET"):
        u = urllib.parse.urlsplit(url)
        assert u.port == self.port, url
        path = u.path + ("?" + u.query if u.query else "")
        return self.request(method, path, headers=headers)

    # --- the jobs dialect
    def create_job(self, key, body):
        return self.request("POST", "/api/v1/jobs/createTask", body=body, key=key)

    def record(self, key, task_id):
        return self.request("GET", "/api/v1/jobs/recordInfo?taskId=" + urllib.parse.quote(task_id),
                            key=key)

    def wait_job(self, key, task_id, timeout=60):
        deadline = time.monotonic() + timeout
        states = []
        while time.monotonic() < deadline:
            r = self.record(key, task_id)
            assert r.status == 200, (r.status, r.body)
            data = r.json()["data"]
            if not states or states[-1] != data["state"]:
                states.append(data["state"])
            if data["state"] in ("success", "fail"):
                return data, states
            time.sleep(0.05)
        raise TimeoutError("task %s not finished; states %s" % (task_id, states))


class HttpsFixture:
    """The local HTTPS image server of tests/fixtures, with a throwaway test CA."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ig-https-")
        self.ca_dir = os.path.join(self.dir, "ca")
        self.files = os.path.join(self.dir, "files")
        os.makedirs(self.files)
        subprocess.run(["bash", os.path.join(FIXTURES, "make-test-ca.sh"), self.ca_dir],
                       check=True, capture_output=True, timeout=60)
        self.ca_file = os.path.join(self.ca_dir, "ca.pem")
        self.proc = None
        self.port = None

    def add_file(self, name, data):
        with open(os.path.join(self.files, name), "wb") as f:
            f.write(data)

    def start(self):
        port_file = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(FIXTURES, "https_server.py"),
             "--cert", os.path.join(self.ca_dir, "server.pem"),
             "--key", os.path.join(self.ca_dir, "server.key"),
             "--dir", self.files, "--port", "0", "--port-file", port_file],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = int(wait_for_file(port_file, proc=self.proc))
        return self

    def url(self, path):
        return "https://127.0.0.1:%d/%s" % (self.port, path.lstrip("/"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def server_settings(self):
        """Settings that let imagegate fetch from this fixture (test-only allowance)."""
        return {"media.unsafe_allow_cidrs": "127.0.0.1/32", "media.extra_ca_file": self.ca_file}


def png_bytes(width, height, raw, alpha=False, level=6):
    """A PNG of 8-bit RGB (or RGBA) rows `raw` (each row led by its filter byte), built with
    zlib; no third-party modules."""
    import zlib

    def chunk(kind, payload):
        c = struct.pack(">I", len(payload)) + kind + payload
        return c + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, level))
            + chunk(b"IEND", b""))


def make_png(width, height, rgb=(200, 30, 60)):
    """A valid RGB PNG of one colour."""
    row = b"\x00" + bytes(rgb) * width
    return png_bytes(width, height, row * height)


def raw_exchange(port, payload, timeout=10.0, read_until_close=True):
    """Sends raw bytes, returns everything read until the server closes (or timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if payload:
            s.sendall(payload)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            chunks.append(b)
            if not read_until_close:
                break
        return b"".join(chunks)
    finally:
        s.close()


def make_png_pixels(width, height, pixel, alpha=False):
    """A PNG whose pixel (x, y) is pixel(x, y) -> (r, g, b) or (r, g, b, a) when alpha."""
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for x in range(width):
            raw.extend(bytes(pixel(x, y)))
    return png_bytes(width, height, bytes(raw), alpha)


def decode_png(data):
    """(width, height, channels, pixels) of an 8-bit non-interlaced PNG; pixels[y][x] is a tuple."""
    import zlib
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        payload = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", payload)
        elif kind == b"IDAT":
            idat += payload
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and interlace == 0, header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 1:
                line[x] = (line[x] + a) & 0xFF
            elif f == 2:
                line[x] = (line[x] + b) & 0xFF
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        rows.append([tuple(line[x * channels:(x + 1) * channels]) for x in range(width)])
        prev = line
    return width, height, channels, rows


def multipart(fields, files, boundary=None):
    """A multipart/form-data body: (content type, bytes). `fields` are (name, str or bytes),
    `files` (name, filename, bytes) sent as image/png."""
    boundary = boundary or "----imagegate" + uuid.uuid4().hex
    out = b""
    for name, value in fields:
        value = value if isinstance(value, bytes) else value.encode("utf-8")
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n'
                % (boundary, name)).encode() + value + b"\r\n"
    for name, filename, data in files:
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                "Content-Type: image/png\r\n\r\n" % (boundary, name, filename)).encode()
        out += data + b"\r\n"
    out += ("--%s--\r\n" % boundary).encode()
    return "multipart/form-data; boundary=" + boundary, out


class Metrics:
    """Prometheus text samples: `samples` is a list of (name, {label: value}, float)."""

    def __init__(self, text):
        import re
        self.text = text
        self.samples = []
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)', line)
            if not m:
                continue
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            self.samples.append((m.group(1), labels, float(m.group(4))))

    def find(self, name, **labels):
        """Samples of `name` whose labels include `labels`."""
        return [(n, l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(x) for k, x in labels.items())]

    def value(self, name, **labels):
        """The sum of the matching samples, None when there is none."""
        found = self.find(name, **labels)
        return sum(v for _, _, v in found) if found else None


def parse_task_show(text):
    """`imagegate tasks show` output: {"task", "state", "fail_code", "usage", "calls_count",
    "calls": [{"k", "attempt", "route", "kind", "upstream_id", "http_status", "duration_ms",
    "class", "code"}]}; fields that are missing stay absent."""
    import re
    out = {"calls": []}
    for line in text.splitlines():
        m = re.match(r"^task (\S+)$", line)
        if m:
            out["task"] = m.group(1)
            continue
        m = re.match(r"^(state|fail_code|usage|calls): (.*)$", line)
        if m:
            out["calls_count" if m.group(1) == "calls" else m.group(1)] = m.group(2).strip()
            continue
        m = re.match(r"^  call (\d+) (.*)$", line)
        if m:
            call = {"k": int(m.group(1))}
            call.update(dict(re.findall(r"(\w+)=(\S+)", m.group(2))))
            out["calls"].append(call)
    return out
