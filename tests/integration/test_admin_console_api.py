"""The routes the web console reads (#10): the admin API's status, task detail and cancel,
accounts and ledger pages, usage per key and model, provider health; and a key's own usage,
task detail and filtered task list. Every route's errors too."""
import time
import unittest
import urllib.parse

from harness import Server, make_png_pixels, multipart, png_size

ADMIN_TOKEN = "console-admin-token-0123456789"
MICRO = 1_000_000
T2I = "gpt-image-2-text-to-image"


def micros(credits):
    return round(credits * MICRO)


def admin(server, method, path, body=None, token=ADMIN_TOKEN):
    headers = {"Authorization": "Bearer " + token} if token is not None else {}
    return server.request(method, path, body=body, headers=headers)


def admin_ok(tc, server, method, path, body=None, status=200):
    """The JSON of an admin answer that must have `status` (tc may be a class: plain assert)."""
    r = admin(server, method, path, body)
    if isinstance(tc, unittest.TestCase):
        tc.assertEqual(r.status, status, (method, path, r.body))
    else:
        assert r.status == status, (method, path, r.status, r.body)
    return r.json()


def new_key(tc, server, name, **fields):
    o = admin_ok(tc, server, "POST", "/admin/v1/keys", {"name": name, **fields}, status=201)
    return o["key"], o["id"], o["account_id"]


def create_job(server, key, prompt, model=T2I, **extra):
    body = {"model": model, "input": {"prompt": prompt, "resolution": "1K"}, **extra}
    r = server.request("POST", "/api/v1/jobs/createTask", body=body, key=key)
    assert r.status == 200 and r.json()["code"] == 200, (r.status, r.body)
    return r.json()["data"]["taskId"]


def create_unified(server, key, prompt, n=1):
    r = server.request("POST", "/v1/images/generations", key=key,
                       body={"model": "gpt-image-2", "prompt": prompt, "size": "1:1",
                             "resolution": "1K", "n": n})
    assert r.status == 200, (r.status, r.body)
    return r.json()["id"]


def wait_terminal(tc, server, task_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = admin_ok(tc, server, "GET", "/admin/v1/tasks/" + urllib.parse.quote(task_id))
        if t["state"] in ("succeeded", "failed", "cancelled"):
            return t
        time.sleep(0.05)
    raise TimeoutError(task_id)


def assert_admin_error(tc, r, status, code=None, param=None):
    tc.assertEqual(r.status, status, r.body)
    err = r.json()["error"]
    tc.assertTrue(err["message"], r.body)
    if code is not None:
        tc.assertEqual(err["code"], code, r.body)
    if param is not None:
        tc.assertEqual(err.get("param"), param, r.body)


def local_path(url):
    u = urllib.parse.urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


class ConsoleApiTest(unittest.TestCase):
    """One server with the sandbox (fast) and the admin token."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(settings={"admin.token": ADMIN_TOKEN}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_new_admin_routes_need_the_admin_token(self):
        key, _, account = new_key(self, self.server, "not admin")
        task = create_job(self.server, key, "guarded")
        for method, path in (("GET", "/admin/v1/status"), ("GET", "/admin/v1/tasks/" + task),
                             ("POST", "/admin/v1/tasks/%s/cancel" % task),
                             ("GET", "/admin/v1/accounts"),
                             ("GET", "/admin/v1/accounts/%d/ledger" % account),
                             ("GET", "/admin/v1/providers"),
                             ("GET", "/admin/v1/usage?group_by=model")):
            r = admin(self.server, method, path, token=None)
            assert_admin_error(self, r, 401, "unauthorized")
            self.assertEqual(r.header("WWW-Authenticate"), "Bearer")
            assert_admin_error(self, admin(self.server, method, path, token="wrong-token"), 401)
            assert_admin_error(self, admin(self.server, method, path, token=key), 403)
        wait_terminal(self, self.server, task)

    def test_status(self):
        key, _, _ = new_key(self, self.server, "status")
        wait_terminal(self, self.server, create_job(self.server, key, "counted"))
        s = admin_ok(self, self.server, "GET", "/admin/v1/status")
        self.assertEqual(s["version"], "0.1.0")
        self.assertIsInstance(s["uptime_s"], int)
        self.assertGreaterEqual(s["uptime_s"], 0)
        self.assertLessEqual(abs(s["started_at"] + s["uptime_s"] - time.time()), 5)
        self.assertEqual(set(s["tasks"]), {"queued", "running", "succeeded", "failed", "cancelled"})
        self.assertGreaterEqual(s["tasks"]["succeeded"], 1)
        self.assertEqual(s["queue_depth"], s["tasks"]["queued"])
        self.assertEqual(s["running"], s["tasks"]["running"])
        self.assertEqual([p["route"] for p in s["providers"]], ["sandbox"])
        sandbox = s["providers"][0]
        self.assertEqual((sandbox["kind"], sandbox["state"]), ("sandbox", "closed"))
        self.assertEqual(sandbox["families"], ["*"])
        self.assertGreaterEqual(sandbox["concurrency"], 1)

    def test_task_detail_of_a_succeeded_task(self):
        key, key_id, account = new_key(self, self.server, "detail", credits=100)
        task = create_job(self.server, key, "a lighthouse")
        t = wait_terminal(self, self.server, task)
        self.assertEqual(t["id"], task)
        self.assertEqual((t["key_id"], t["dialect"], t["model"], t["state"]),
                         (key_id, "jobs", T2I, "succeeded"))
        self.assertEqual(micros(t["price"]), 4_700_000)
        self.assertEqual(micros(t["charged"]), 4_700_000)
        self.assertEqual(t["settlement"], "captured")
        req = t["request"]
        self.assertEqual(req["prompt"], "a lighthouse")
        self.assertEqual((req["model"], req["mode"], req["resolution"], req["n"]),
                         (T2I, "text_to_image", "1K", 1))
        self.assertEqual(req["output_format"], "png")
        self.assertEqual(req["input_urls"], [])
        self.assertIsNone(req["mask_url"])
        self.assertIsNone(req["callback_url"])
        self.assertIn('"a lighthouse"', t["param"])
        # Results: signed URLs that work until expires_at.
        self.assertEqual(len(t["results"]), 1)
        result = t["results"][0]
        self.assertGreater(result["expires_at"], time.time())
        image = self.server.request("GET", local_path(result["url"]))
        self.assertEqual(image.status, 200)
        self.assertEqual(png_size(image.body), (result["width"], result["height"]))
        # The upstream calls and the timeline.
        self.assertEqual(len(t["calls"]), 1)
        call = t["calls"][0]
        self.assertEqual((call["attempt"], call["route"], call["kind"], call["class"]),
                         (1, "sandbox", "sandbox", "ok"))
        self.assertIsInstance(call["duration_ms"], int)
        self.assertGreaterEqual(call["started_at_ms"], t["created_at"] * 1000)
        whats = [e["what"] for e in t["events"]]
        for what in ("created", "claimed", "call", "captured", "succeeded"):
            self.assertIn(what, whats)
        self.assertEqual(whats[0], "created")
        ats = [e["at_ms"] for e in t["events"]]
        self.assertEqual(ats, sorted(ats))
        self.assertEqual(next(e for e in t["events"] if e["what"] == "call")["call"], 0)
        self.assertIsNone(t["callback"])
        # The ledger row of the hold names the task.
        ledger = admin_ok(self, self.server, "GET", "/admin/v1/accounts/%d/ledger" % account)
        self.assertIn(task, [row["task_id"] for row in ledger["data"]])

    def test_task_detail_errors(self):
        for path in ("/admin/v1/tasks/no-such-task", "/admin/v1/tasks/no-such-task/cancel"):
            method = "POST" if path.endswith("cancel") else "GET"
            assert_admin_error(self, admin(self.server, method, path), 404, "not_found")
        key, _, _ = new_key(self, self.server, "methods")
        task = create_job(self.server, key, "methods")
        for method, path in (("DELETE", "/admin/v1/tasks/" + task),
                             ("GET", "/admin/v1/tasks/%s/cancel" % task),
                             ("POST", "/admin/v1/tasks/%s/bogus" % task),
                             ("GET", "/admin/v1/tasks/")):
            assert_admin_error(self, admin(self.server, method, path), 404, "not_found")
        wait_terminal(self, self.server, task)
        # Ended: cancel is a conflict, and the task stays as it was.
        assert_admin_error(self, admin(self.server, "POST", "/admin/v1/tasks/%s/cancel" % task),
                           409, "conflict")
        self.assertEqual(admin_ok(self, self.server, "GET", "/admin/v1/tasks/" + task)["state"],
                         "succeeded")

    def test_an_uploaded_reference_is_shown_by_a_signed_url(self):
        key, _, _ = new_key(self, self.server, "uploads")
        image = make_png_pixels(64, 48, lambda x, y: (x * 4, y * 5, 90))
        ctype, body = multipart([("prompt", "repaint"), ("model", "gpt-image-2")],
                                [("image", "in.png", image)])
        r = self.server.request("POST", "/openai/v1/images/edits", body=body,
                                headers={"Content-Type": ctype}, key=key)
        self.assertEqual(r.status, 200, r.body)
        listed = admin_ok(self, self.server, "GET", "/admin/v1/tasks?dialect=openai&page_size=1")
        t = admin_ok(self, self.server, "GET", "/admin/v1/tasks/" + listed["data"][0]["id"])
        self.assertEqual(t["request"]["mode"], "image_to_image")
        self.assertEqual(len(t["request"]["input_urls"]), 1)
        url = t["request"]["input_urls"][0]
        self.assertIn("/files/", url)
        self.assertEqual(self.server.request("GET", local_path(url)).body, image)

    def test_dialect_filter_of_the_admin_list(self):
        key, key_id, _ = new_key(self, self.server, "dialects")
        jobs = create_job(self.server, key, "j")
        unified = create_unified(self.server, key, "u")
        for dialect, expected in (("jobs", jobs), ("unified", unified)):
            listed = admin_ok(self, self.server, "GET",
                              "/admin/v1/tasks?key_id=%d&dialect=%s" % (key_id, dialect))
            self.assertEqual([t["id"] for t in listed["data"]], [expected])
            self.assertEqual(listed["total"], 1)
        r = admin(self.server, "GET", "/admin/v1/tasks?dialect=klingon")
        assert_admin_error(self, r, 400, param="dialect")
        for t in (jobs, unified):
            wait_terminal(self, self.server, t)

    def test_accounts_are_paged(self):
        for i in range(3):
            new_key(self, self.server, "paged %d" % i, credits=i + 1)
        first = admin_ok(self, self.server, "GET", "/admin/v1/accounts?page_size=2")
        self.assertEqual(first["object"], "list")
        self.assertEqual((first["page"], first["page_size"]), (1, 2))
        self.assertGreaterEqual(first["total"], 3)
        self.assertEqual(len(first["data"]), 2)
        ids = [a["id"] for a in first["data"]]
        self.assertEqual(ids, sorted(ids))
        for field in ("id", "name", "metered", "balance", "total_purchased", "total_consumed",
                      "created_at"):
            self.assertIn(field, first["data"][0])
        seen = []
        pages = (first["total"] + 1) // 2
        for page in range(1, pages + 1):
            r = admin_ok(self, self.server, "GET", "/admin/v1/accounts?page_size=2&page=%d" % page)
            seen += [a["id"] for a in r["data"]]
        self.assertEqual(len(seen), first["total"])
        self.assertEqual(len(set(seen)), len(seen))
        beyond = admin_ok(self, self.server, "GET", "/admin/v1/accounts?page=%d" % (pages + 5))
        self.assertEqual(beyond["data"], [])
        for q in ("page=0", "page=x", "page_size=0", "page_size=501", "page=-1"):
            assert_admin_error(self, admin(self.server, "GET", "/admin/v1/accounts?" + q), 400)

    def test_keys_are_paged_and_searched_on_request(self):
        ids = [new_key(self, self.server, "pager %d acme" % i)[1] for i in range(3)]
        # No paging asked: every key, as before (no page fields).
        whole = admin_ok(self, self.server, "GET", "/admin/v1/keys")
        self.assertNotIn("total", whole)
        self.assertTrue(set(ids) <= {k["id"] for k in whole["data"]})
        everyone = len(whole["data"])
        first = admin_ok(self, self.server, "GET", "/admin/v1/keys?page=1&page_size=2")
        self.assertEqual((first["page"], first["page_size"], first["total"]), (1, 2, everyone))
        self.assertEqual(len(first["data"]), 2)
        self.assertEqual([k["id"] for k in first["data"]], sorted(k["id"] for k in first["data"]))
        self.assertNotIn("key", first["data"][0])  # never the secret
        found = admin_ok(self, self.server, "GET",
                         "/admin/v1/keys?q=" + urllib.parse.quote("PAGER 1 ACME"))
        self.assertEqual(found["total"], 1)
        self.assertEqual(found["data"][0]["id"], ids[1])
        prefix = found["data"][0]["prefix"]
        by_prefix = admin_ok(self, self.server, "GET", "/admin/v1/keys?q=" + prefix)
        self.assertIn(ids[1], [k["id"] for k in by_prefix["data"]])
        by_id = admin_ok(self, self.server, "GET", "/admin/v1/keys?q=%d" % ids[2])
        self.assertIn(ids[2], [k["id"] for k in by_id["data"]])
        none = admin_ok(self, self.server, "GET", "/admin/v1/keys?q=%25")  # "%" is literal
        self.assertEqual((none["total"], none["data"]), (0, []))
        assert_admin_error(self, admin(self.server, "GET", "/admin/v1/keys?page=0"), 400,
                           "invalid_request", "page")
        assert_admin_error(self, admin(self.server, "GET", "/admin/v1/keys?page_size=501"), 400,
                           "invalid_request", "page_size")
        assert_admin_error(self, admin(self.server, "GET", "/admin/v1/keys?q=" + "x" * 201), 400,
                           "invalid_request", "q")

    def test_ledger_has_the_running_balance(self):
        key, _, account = new_key(self, self.server, "ledger", credits=50)
        admin_ok(self, self.server, "POST", "/admin/v1/accounts/%d/credits" % account,
                 {"amount": -3, "reason": "goodwill reversal"})
        tasks = [create_job(self.server, key, "ledger %d" % i) for i in range(3)]
        for t in tasks:
            wait_terminal(self, self.server, t)
        full = admin_ok(self, self.server, "GET", "/admin/v1/accounts/%d/ledger" % account)
        # topup, adjust, and a hold and a capture per task
        self.assertEqual(full["total"], 2 + 2 * len(tasks))
        rows = full["data"]
        self.assertEqual(len(rows), full["total"])
        account_now = admin_ok(self, self.server, "GET", "/admin/v1/accounts/%d" % account)
        self.assertEqual(micros(rows[0]["balance_after"]), micros(account_now["balance"]))
        self.assertEqual(micros(full["balance"]), micros(account_now["balance"]))
        for newer, older in zip(rows, rows[1:]):
            self.assertEqual(micros(newer["balance_after"]) - micros(newer["amount"]),
                             micros(older["balance_after"]), (newer, older))
            self.assertGreaterEqual((newer["at"], newer["id"]), (older["at"], older["id"]))
        self.assertEqual(rows[-1]["kind"], "topup")
        self.assertEqual(micros(rows[-1]["balance_after"]), 50 * MICRO)
        self.assertEqual(rows[-2]["kind"], "adjust")
        self.assertEqual(rows[-2]["reason"], "goodwill reversal")
        self.assertIsNone(rows[-2]["task_id"])
        holds = [r for r in rows if r["kind"] == "hold"]
        self.assertEqual(sorted(r["task_id"] for r in holds), sorted(tasks))
        # Paged: the same rows, the same balances.
        paged = []
        for page in range(1, 5):
            r = admin_ok(self, self.server, "GET",
                         "/admin/v1/accounts/%d/ledger?page_size=3&page=%d" % (account, page))
            self.assertEqual(r["total"], full["total"])
            paged += r["data"]
        self.assertEqual(paged, rows)
        assert_admin_error(self, admin(self.server, "GET", "/admin/v1/accounts/999999/ledger"),
                           404, "not_found")
        assert_admin_error(self, admin(self.server, "GET",
                                       "/admin/v1/accounts/%d/ledger?page_size=1000" % account),
                           400, param="page_size")
        assert_admin_error(self, admin(self.server, "GET", "/admin/v1/accounts/abc/ledger"), 400)

    def test_usage_per_key_and_model(self):
        a, a_id, _ = new_key(self, self.server, "usage a")
        b, b_id, _ = new_key(self, self.server, "usage b")
        tasks = [create_job(self.server, a, "a1"), create_job(self.server, a, "a2"),
                 create_unified(self.server, b, "b1", n=2)]
        for t in tasks:
            wait_terminal(self, self.server, t)
        by_key = admin_ok(self, self.server, "GET", "/admin/v1/usage?group_by=key")
        self.assertEqual(by_key["group_by"], "key")
        rows = {r["key_id"]: r for r in by_key["data"] if r["key_id"] in (a_id, b_id)}
        self.assertEqual(rows[a_id]["tasks"], 2)
        self.assertEqual(rows[a_id]["images"], 2)
        self.assertEqual(micros(rows[a_id]["credits"]), 2 * 4_700_000)
        self.assertEqual(rows[b_id]["images"], 2)
        self.assertNotIn("model", rows[a_id])
        by_model = admin_ok(self, self.server, "GET",
                            "/admin/v1/usage?group_by=model&key_id=%d" % a_id)
        self.assertEqual([(r["model"], r["tasks"]) for r in by_model["data"]], [(T2I, 2)])
        only = admin_ok(self, self.server, "GET", "/admin/v1/usage?model=gpt-image-2&key_id=%d"
                        % b_id)
        self.assertEqual(sum(r["tasks"] for r in only["data"]), 1)
        self.assertNotIn("key_id", only["data"][0])
        none = admin_ok(self, self.server, "GET", "/admin/v1/usage?model=gpt-image-2&key_id=%d"
                        % a_id)
        self.assertEqual(none["data"], [])
        for q, param in (("group_by=provider", "group_by"), ("from=2026-01-10&to=2026-01-01", "from"),
                         ("from=2024-01-01&to=2026-01-01", "from"), ("model=" + "m" * 201, "model"),
                         ("from=yesterday", "from")):
            assert_admin_error(self, admin(self.server, "GET", "/admin/v1/usage?" + q), 400,
                               param=param)

    def test_providers(self):
        key, _, _ = new_key(self, self.server, "providers")
        for t in [create_job(self.server, key, "p%d" % i) for i in range(4)]:
            wait_terminal(self, self.server, t)
        p = admin_ok(self, self.server, "GET", "/admin/v1/providers")
        self.assertEqual(p["object"], "list")
        self.assertLessEqual(p["until"] - p["since"], 86_400)
        sandbox = next(r for r in p["data"] if r["route"] == "sandbox")
        self.assertTrue(sandbox["configured"])
        self.assertEqual((sandbox["kind"], sandbox["state"]), ("sandbox", "closed"))
        self.assertGreaterEqual(sandbox["requests"], 4)
        self.assertEqual(sandbox["requests"], sandbox["succeeded"] + sandbox["errors"] +
                         sandbox["cancelled"] + sandbox["unfinished"])
        self.assertIsInstance(sandbox["p50_ms"], int)
        self.assertGreaterEqual(sandbox["p95_ms"], sandbox["p50_ms"])
        self.assertGreaterEqual(sandbox["p50_ms"], 50)  # sandbox.latency_ms is 100
        self.assertLessEqual(abs(sandbox["last_call_at"] - time.time()), 60)
        # A window with no call: the route is still listed, with nothing measured.
        empty = admin_ok(self, self.server, "GET", "/admin/v1/providers?since=2020-01-01&until=2020-01-02")
        sandbox = next(r for r in empty["data"] if r["route"] == "sandbox")
        self.assertEqual((sandbox["requests"], sandbox["p50_ms"], sandbox["last_call_at"]),
                         (0, None, None))
        for q in ("since=yesterday", "until=x", "since=2020-01-02&until=2020-01-01"):
            assert_admin_error(self, admin(self.server, "GET", "/admin/v1/providers?" + q), 400)


class CancelTest(unittest.TestCase):
    """Slow sandbox: tasks are still running when the admin cancels them."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(settings={"admin.token": ADMIN_TOKEN,
                                      "sandbox.latency_ms": "20000"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_admin_cancels_anyones_running_task(self):
        key, _, account = new_key(self, self.server, "cancelled", credits=10)
        task = create_job(self.server, key, "never finishes")
        deadline = time.monotonic() + 10
        while admin_ok(self, self.server, "GET", "/admin/v1/tasks/" + task)["state"] != "running":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        t = admin_ok(self, self.server, "POST", "/admin/v1/tasks/%s/cancel" % task)
        self.assertEqual(t["id"], task)
        self.assertEqual(t["state"], "cancelled")
        self.assertEqual(t["fail_code"], "cancelled")
        self.assertEqual(t["settlement"], "refunded")
        self.assertEqual(t["charged"], 0)
        whats = [e["what"] for e in t["events"]]
        self.assertIn("refunded", whats)
        self.assertEqual(whats[-1], "cancelled")
        # The key sees it cancelled, and the credits are back.
        r = self.server.request("GET", "/api/v1/jobs/recordInfo?taskId=" + task, key=key)
        self.assertEqual(r.json()["data"]["state"], "fail")
        a = admin_ok(self, self.server, "GET", "/admin/v1/accounts/%d" % account)
        self.assertEqual(micros(a["balance"]), 10 * MICRO)
        assert_admin_error(self, admin(self.server, "POST", "/admin/v1/tasks/%s/cancel" % task),
                           409, "conflict")
        # The in-flight call ends as the run is abandoned: a cancellation, not the route's error.
        deadline = time.monotonic() + 10
        while True:
            t = admin_ok(self, self.server, "GET", "/admin/v1/tasks/" + task)
            self.assertEqual(len(t["calls"]), 1)
            if t["calls"][0]["class"] != "in_flight":
                break
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertEqual(t["calls"][0]["code"], "cancelled")
        p = admin_ok(self, self.server, "GET", "/admin/v1/providers")
        sandbox = next(r for r in p["data"] if r["route"] == "sandbox")
        self.assertGreaterEqual(sandbox["cancelled"], 1)
        self.assertEqual(sandbox["errors"], 0)

    def test_providers_count_unfinished_calls(self):
        key, _, _ = new_key(self, self.server, "in flight")
        task = create_job(self.server, key, "slow")
        deadline = time.monotonic() + 10
        while True:
            p = admin_ok(self, self.server, "GET", "/admin/v1/providers")
            sandbox = next(r for r in p["data"] if r["route"] == "sandbox")
            if sandbox["running"] >= 1:
                break
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertGreaterEqual(sandbox["unfinished"], 1)
        s = admin_ok(self, self.server, "GET", "/admin/v1/status")
        self.assertGreaterEqual(s["running"], 1)
        self.assertGreaterEqual(s["providers"][0]["running"], 1)
        admin_ok(self, self.server, "POST", "/admin/v1/tasks/%s/cancel" % task)


class FailingUpstreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(settings={"admin.token": ADMIN_TOKEN,
                                      "sandbox.failure_rate": "1.0"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_a_failed_task_and_the_errors_of_its_route(self):
        key, _, _ = new_key(self, self.server, "fails", credits=10)
        t = wait_terminal(self, self.server, create_job(self.server, key, "fails"))
        self.assertEqual(t["state"], "failed")
        self.assertEqual((t["settlement"], t["charged"]), ("refunded", 0))
        self.assertTrue(t["fail_code"])
        self.assertEqual(t["results"], [])
        self.assertNotEqual(t["calls"][-1]["class"], "ok")
        self.assertEqual(t["events"][-1]["what"], "failed")
        p = admin_ok(self, self.server, "GET", "/admin/v1/providers")
        sandbox = next(r for r in p["data"] if r["route"] == "sandbox")
        self.assertGreaterEqual(sandbox["errors"], 1)
        self.assertEqual(sandbox["succeeded"], 0)


class KeyRoutesTest(unittest.TestCase):
    """What a key (not the admin) reads: its usage, its task's detail, its filtered list."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(settings={"admin.token": ADMIN_TOKEN}).start()
        cls.key, cls.key_id, _ = new_key(cls, cls.server, "mine", credits=100)
        cls.other, _, _ = new_key(cls, cls.server, "theirs")
        cls.jobs = create_job(cls.server, cls.key, "mine 1")
        cls.unified = create_unified(cls.server, cls.key, "mine 2", n=2)
        cls.theirs = create_job(cls.server, cls.other, "theirs")
        for t in (cls.jobs, cls.unified, cls.theirs):
            wait_terminal(cls, cls.server, t)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def get(self, path, key=None):
        return self.server.request("GET", path, key=key or self.key)

    def test_own_usage(self):
        r = self.get("/v1/usage")
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual((body["object"], body["group_by"]), ("list", "day"))
        self.assertEqual(sum(d["tasks"] for d in body["data"]), 2)  # not the other key's
        self.assertEqual(sum(d["images"] for d in body["data"]), 3)
        self.assertIn(b'"credits":', r.body)
        by_model = self.get("/v1/usage?group_by=model").json()["data"]
        self.assertEqual(sorted((d["model"], d["tasks"]) for d in by_model),
                         [("gpt-image-2", 1), (T2I, 1)])
        only = self.get("/v1/usage?model=" + T2I).json()["data"]
        self.assertEqual(sum(d["tasks"] for d in only), 1)
        today = time.strftime("%Y-%m-%d", time.gmtime())
        r = self.get("/v1/usage?from=%s&to=%d" % (today, time.time() + 86_400))
        self.assertEqual(sum(d["tasks"] for d in r.json()["data"]), 2)

    def test_own_usage_errors(self):
        for q in ("group_by=key", "key_id=1&group_by=key", "from=soon", "from=2026-02-01&to=2026-01-01"):
            r = self.get("/v1/usage?" + q)
            self.assertEqual(r.status, 400, (q, r.body))
            self.assertTrue(r.json()["error"]["message"])
        # key_id is not the caller's to choose: ignored, the rows stay the caller's own.
        r = self.get("/v1/usage?key_id=999")
        self.assertEqual(sum(d["tasks"] for d in r.json()["data"]), 2)
        r = self.server.request("GET", "/v1/usage")
        self.assertEqual(r.status, 401)
        self.assertIn("error", r.json())
        r = self.server.request("POST", "/v1/usage", key=self.key, body={})
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("Allow"), "GET")
        r = self.get("/v1/usage", key=ADMIN_TOKEN)
        self.assertEqual(r.status, 401)

    def test_own_task_detail_without_operator_information(self):
        r = self.get("/v1/tasks/%s/detail" % self.unified)
        self.assertEqual(r.status, 200, r.body)
        t = r.json()
        self.assertEqual((t["id"], t["state"], t["dialect"]), (self.unified, "succeeded", "unified"))
        self.assertEqual(t["request"]["prompt"], "mine 2")
        self.assertEqual(len(t["results"]), 2)
        self.assertEqual(self.server.request("GET", local_path(t["results"][0]["url"])).status, 200)
        self.assertEqual(t["settlement"], "captured")
        self.assertGreater(t["charged"], 0)
        for hidden in ("calls", "callback", "upstream_route", "upstream_id"):
            self.assertNotIn(hidden, t)
        self.assertNotIn("call", [e["what"] for e in t["events"]])
        self.assertNotIn(b"sandbox", r.body)
        # The jobs dialect's id form works too.
        self.assertEqual(self.get("/v1/tasks/%s/detail" % self.jobs).json()["dialect"], "jobs")

    def test_own_task_detail_errors(self):
        r = self.get("/v1/tasks/%s/detail" % self.theirs)  # another key's task
        self.assertEqual(r.status, 404, r.body)
        self.assertEqual(self.get("/v1/tasks/no-such-task/detail").status, 404)
        r = self.server.request("GET", "/v1/tasks/%s/detail" % self.jobs)
        self.assertEqual(r.status, 401)
        r = self.server.request("POST", "/v1/tasks/%s/detail" % self.jobs, key=self.key, body={})
        self.assertEqual(r.status, 405)

    def test_own_list_filters(self):
        def ids(query):
            r = self.get("/v1/tasks?" + query)
            self.assertEqual(r.status, 200, (query, r.body))
            return sorted(t["taskId"] for t in r.json()["data"]["tasks"])

        r = self.get("/v1/tasks")
        self.assertEqual(r.json()["data"]["total"], 2)
        self.assertEqual(len(ids("state=succeeded")), 2)
        self.assertEqual(ids("state=failed"), [])
        self.assertEqual(len(ids("dialect=unified")), 1)
        self.assertEqual(len(ids("model=" + T2I)), 1)
        today = time.strftime("%Y-%m-%d", time.gmtime())
        self.assertEqual(len(ids("since=" + today)), 2)
        self.assertEqual(ids("until=2020-01-01"), [])
        r = self.get("/v1/tasks?dialect=unified&page_size=1")
        self.assertEqual(r.json()["data"]["total"], 1)
        for q in ("state=done", "dialect=x", "since=today", "until=1e9"):
            r = self.get("/v1/tasks?" + q)
            self.assertEqual(r.status, 400, (q, r.body))


if __name__ == "__main__":
    unittest.main()
