"""The web console's files under /console/ (#10): embedded in the binary, or read from
console.dir on every request; security headers on every answer, ETag revalidation, only GET and
HEAD, and nothing outside the console's own files."""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import ROOT, Server

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
SECURITY = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
TRAVERSALS = [
    "/console/../config.toml",
    "/console/%2e%2e/config.toml",
    "/console/pages/..%2f..%2fconfig.toml",
    "/console/%2e%2e%2fconfig.toml",
    "/console/./index.html",
    "/console//index.html",
    "/console/.hidden",
    "/console/pages/",
    "/console/a%5cb.js",
    "/console/%00.js",
]


class ConsoleChecks:
    """Assertions shared by both modes."""

    def assert_secure(self, r):
        for name, value in SECURITY.items():
            self.assertEqual(r.header(name), value, (name, r.status, r.headers))

    def assert_not_found(self, r):
        self.assertEqual(r.status, 404, r.body)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.json()["error"]["code"], "not_found", r.body)
        self.assertTrue(r.json()["error"]["message"], r.body)
        self.assert_secure(r)


class EmbeddedConsoleTest(unittest.TestCase, ConsoleChecks):
    """The files built into the binary (whatever console/ held at build time)."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_bare_console_path_redirects_to_the_directory(self):
        r = self.server.request("GET", "/console")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "/console/")
        self.assert_secure(r)

    def test_index_is_served_with_the_security_headers(self):
        if not os.path.exists(os.path.join(ROOT, "console", "index.html")):
            self.skipTest("console/index.html is not in this checkout")
        r = self.server.request("GET", "/console/")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        self.assertEqual(r.header("Cache-Control"), "no-cache")
        self.assertRegex(r.header("ETag"), r'^"[0-9a-f]{20}"$')
        self.assertIn(b"<", r.body)
        self.assert_secure(r)
        again = self.server.request("GET", "/console/index.html")
        self.assertEqual(again.body, r.body)
        self.assertEqual(again.header("ETag"), r.header("ETag"))
        # Revalidation: the same ETag gets 304 without a body.
        cached = self.server.request("GET", "/console/", headers={"If-None-Match": r.header("ETag")})
        self.assertEqual(cached.status, 304)
        self.assertEqual(cached.body, b"")
        self.assertEqual(cached.header("ETag"), r.header("ETag"))
        self.assert_secure(cached)
        # HEAD: the length GET would send, no body.
        head = self.server.request("HEAD", "/console/")
        self.assertEqual(head.status, 200)
        self.assertEqual(int(head.header("Content-Length")), len(r.body))
        self.assertEqual(head.body, b"")

    def test_unknown_file_is_404_in_the_admin_envelope(self):
        self.assert_not_found(self.server.request("GET", "/console/no-such-file.js"))

    def test_traversal_is_refused(self):
        for path in TRAVERSALS:
            r = self.server.request("GET", path)
            self.assertEqual(r.status, 404, (path, r.body))
            self.assert_secure(r)

    def test_only_get_and_head(self):
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            r = self.server.request(method, "/console/", body=b"x" if method != "OPTIONS" else None)
            self.assertEqual(r.status, 405, (method, r.body))
            self.assertEqual(r.header("Allow"), "GET, HEAD")
            self.assertEqual(r.json()["error"]["code"], "method_not_allowed")
            self.assert_secure(r)

    def test_requests_are_counted_under_the_console_route(self):
        self.server.request("GET", "/console/no-such-file.js")
        m = self.server.metrics()
        self.assertTrue(m.find("imagegate_http_requests_total", route="console"), m.text[:2000])


class DiskConsoleTest(unittest.TestCase, ConsoleChecks):
    """console.dir (IMAGEGATE_CONSOLE_DIR): files read from disk on every request."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="ig-console-")
        cls.dir = os.path.join(cls.root, "console")
        os.makedirs(os.path.join(cls.dir, "pages"))
        cls.write("index.html", b"<!doctype html><title>dev</title>")
        cls.write("pages/tasks.js", b"export async function render() {}\n")
        cls.write("style.css", b"body { color: black }\n")
        cls.write("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")
        cls.write("data.bin", bytes(range(256)))
        cls.write(".secret", b"SECRET-CONTENT")
        with open(os.path.join(cls.root, "outside.js"), "wb") as f:
            f.write(b"OUTSIDE-CONTENT")
        os.symlink(os.path.join(cls.root, "outside.js"), os.path.join(cls.dir, "escape.js"))
        os.symlink(cls.root, os.path.join(cls.dir, "up"))
        os.symlink(os.path.join(cls.dir, "style.css"), os.path.join(cls.dir, "inside.css"))
        os.mkfifo(os.path.join(cls.dir, "fifo.js"))
        cls.server = Server(env={"IMAGEGATE_CONSOLE_DIR": cls.dir}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def write(cls, name, data):
        with open(os.path.join(cls.dir, name), "wb") as f:
            f.write(data)

    def get(self, path, **kw):
        return self.server.request("GET", path, **kw)

    def test_files_and_their_types(self):
        cases = {
            "/console/": ("text/html; charset=utf-8", b"<!doctype html><title>dev</title>"),
            "/console/pages/tasks.js": ("text/javascript; charset=utf-8",
                                        b"export async function render() {}\n"),
            "/console/style.css": ("text/css; charset=utf-8", b"body { color: black }\n"),
            "/console/logo.svg": ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            "/console/data.bin": ("application/octet-stream", bytes(range(256))),
        }
        for path, (ctype, body) in cases.items():
            r = self.get(path)
            self.assertEqual(r.status, 200, (path, r.body))
            self.assertEqual(r.header("Content-Type"), ctype, path)
            self.assertEqual(r.body, body, path)
            self.assertEqual(r.header("Cache-Control"), "no-cache")
            self.assert_secure(r)

    def test_edits_are_served_without_a_restart(self):
        self.write("live.js", b"export const v = 1;\n")
        first = self.get("/console/live.js")
        self.assertEqual(first.body, b"export const v = 1;\n")
        self.assertEqual(self.get("/console/live.js", headers={
            "If-None-Match": first.header("ETag")}).status, 304)
        self.write("live.js", b"export const v = 2;\n")
        second = self.get("/console/live.js", headers={"If-None-Match": first.header("ETag")})
        self.assertEqual(second.status, 200)
        self.assertEqual(second.body, b"export const v = 2;\n")
        self.assertNotEqual(second.header("ETag"), first.header("ETag"))
        # A list of tags, a weak one among them, matches too.
        r = self.get("/console/live.js",
                     headers={"If-None-Match": '"x", W/%s' % second.header("ETag")})
        self.assertEqual(r.status, 304)
        os.remove(os.path.join(self.dir, "live.js"))
        self.assert_not_found(self.get("/console/live.js"))

    def test_nothing_outside_the_directory_and_only_regular_files(self):
        for path in TRAVERSALS + ["/console/escape.js", "/console/up/outside.js",
                                  "/console/fifo.js", "/console/pages", "/console/missing.js",
                                  "/console/.secret"]:
            r = self.get(path)
            self.assert_not_found(r)
            self.assertNotIn(b"OUTSIDE-CONTENT", r.body)
            self.assertNotIn(b"SECRET-CONTENT", r.body)
        # A link that stays inside the directory is followed.
        self.assertEqual(self.get("/console/inside.css").body, b"body { color: black }\n")

    def test_head_and_405(self):
        head = self.server.request("HEAD", "/console/style.css")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.header("Content-Length"), str(len(b"body { color: black }\n")))
        self.assertEqual(head.body, b"")
        r = self.server.request("POST", "/console/style.css", body=b"{}")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("Allow"), "GET, HEAD")
        self.assert_secure(r)

    def test_a_console_dir_that_is_not_a_directory_stops_the_start(self):
        server = Server(env={"IMAGEGATE_CONSOLE_DIR": os.path.join(self.root, "outside.js")})
        try:
            with self.assertRaises(RuntimeError):
                server.start()
            self.assertIn("console.dir", server.log_text())
        finally:
            server.cleanup()


@unittest.skipUnless(shutil.which("cmake") and shutil.which("c++"), "needs cmake and c++")
class EmbedScriptTest(unittest.TestCase):
    """cmake/embed_console.cmake: any bytes, any number of files (none too), compiled."""

    PROGRAM = r"""
#include <cstdio>
#include "api/console_assets.hpp"
int main() {
  for (const auto& a : ig::api::console_assets()) {
    std::printf("%.*s %zu %.*s\n", int(a.path.size()), a.path.data(), a.bytes.size(),
                int(a.etag.size()), a.etag.data());
    std::FILE* f = std::fopen(("out/" + std::string(a.path.substr(a.path.rfind('/') + 1))).c_str(), "wb");
    std::fwrite(a.bytes.data(), 1, a.bytes.size(), f);
    std::fclose(f);
  }
}
"""

    def build(self, console):
        work = tempfile.mkdtemp(prefix="ig-embed-")
        self.addCleanup(shutil.rmtree, work, True)
        out = os.path.join(work, "assets.cpp")
        subprocess.run(["cmake", "-DCONSOLE_DIR=" + console, "-DOUTPUT=" + out, "-P",
                        os.path.join(ROOT, "cmake", "embed_console.cmake")],
                       check=True, capture_output=True, timeout=60)
        main = os.path.join(work, "main.cpp")
        with open(main, "w") as f:
            f.write("#include <string>\n" + self.PROGRAM)
        exe = os.path.join(work, "dump")
        subprocess.run(["c++", "-std=c++20", "-Wall", "-Wextra", "-Werror",
                        "-I", os.path.join(ROOT, "src"), main, out, "-o", exe],
                       check=True, capture_output=True, timeout=120)
        os.makedirs(os.path.join(work, "out"))
        listing = subprocess.run([exe], cwd=work, check=True, capture_output=True, text=True,
                                 timeout=30).stdout
        return work, listing

    def test_any_bytes_survive(self):
        console = tempfile.mkdtemp(prefix="ig-embed-src-")
        self.addCleanup(shutil.rmtree, console, True)
        os.makedirs(os.path.join(console, "pages"))
        data = bytes(range(256)) * 5 + b'"\\\n??=\x00'
        files = {"index.html": b"<p>hi</p>", "pages/odd.bin": data, "empty.css": b""}
        for name, content in files.items():
            with open(os.path.join(console, name), "wb") as f:
                f.write(content)
        with open(os.path.join(console, ".swp"), "wb") as f:
            f.write(b"editor")
        work, listing = self.build(console)
        lines = sorted(listing.splitlines())
        self.assertEqual([l.split()[0] for l in lines], ["empty.css", "index.html", "pages/odd.bin"])
        for name, content in files.items():
            with open(os.path.join(work, "out", os.path.basename(name)), "rb") as f:
                self.assertEqual(f.read(), content, name)

    def test_an_empty_console(self):
        console = tempfile.mkdtemp(prefix="ig-embed-src-")
        self.addCleanup(shutil.rmtree, console, True)
        _, listing = self.build(console)
        self.assertEqual(listing, "")
        _, listing = self.build(os.path.join(console, "absent"))
        self.assertEqual(listing, "")


if __name__ == "__main__":
    unittest.main()
