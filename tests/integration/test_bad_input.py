"""Bad input over HTTP in every dialect: malformed and non-object bodies, wrong JSON types,
out-of-range values, bad URLs and enums, duplicated and alias fields, huge and negative numbers,
unicode and NUL, deep nesting, broken multipart, and missing or wrong API keys.

Each rejection must come back with the right status in the envelope of the route's dialect
(parsed, with its documented code word), a non-empty message that names the offending field,
and must create nothing (the tasks table is counted before and after). The server must still
answer /healthz after every sweep. One server serves the whole class.

Expected answers come from the seeds (000/002 jobs, 003 tasks, 004 generations, 001 unified),
API-NOTES (openai) and docs/api.md. Cases where the server answers otherwise are the
regression tests at the end (they were server bugs when this sweep was written).
"""
import json
import os
import socket
import sqlite3
import unittest
import urllib.parse

from harness import Response, Server, make_png, make_png_pixels, multipart

T2I = "gpt-image-2-text-to-image"
I2I = "gpt-image-2-image-to-image"
GPT = "gpt-image-2"
# Passes every create-time URL rule; the fetcher refuses it at once (loopback), so an accepted
# task that names it fails fast without DNS or network.
OK_URL = "https://127.0.0.1:9/ref.png"
EMOJI = "\U0001F600"  # one code point, four UTF-8 bytes, two UTF-16 units

JOBS_CREATE = "/api/v1/jobs/createTask"
TASKS = "/v1/tasks"
GENERATIONS = "/v1/images/generations"
OPENAI_GEN = "/openai/v1/images/generations"
OPENAI_EDIT = "/openai/v1/images/edits"


class Raw:
    """A body sent byte for byte, with its own Content-Type (None: no Content-Type header)."""

    def __init__(self, data, content_type="application/json"):
        self.data = data if isinstance(data, bytes) else data.encode("utf-8")
        self.content_type = content_type


def encode(body):
    """(bytes, content type) of a case body; dicts and lists are sent as raw UTF-8 JSON."""
    if isinstance(body, Raw):
        return body.data, body.content_type
    if isinstance(body, bytes):
        return body, "application/json"
    return json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"


def nested(depth):
    return b"[" * depth + b"]" * depth


BAD_URLS = [
    # (name, url, message fragment)
    ("http scheme", "http://cdn.example.com/a.png", "https://"),
    ("data: URL", "data:image/png;base64,iVBORw0KGgo=", "data: URLs"),
    ("javascript: URL", "javascript:alert(1)", "https://"),
    ("ftp scheme", "ftp://cdn.example.com/a.png", "https://"),
    ("no host", "https:///a.png", "host"),
    ("scheme only", "https://", "host"),
    ("scheme-relative", "//cdn.example.com/a.png", "URL"),
    ("garbage", "not a url at all", "URL"),
    ("empty string", "", "empty"),
    ("credentials", "https://user:secret@cdn.example.com/a.png", "credentials"),
    ("NUL inside", "https://cdn.example.com/a\u0000.png", "URL"),
    ("raw base64", "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8", "URL"),
]


def structural_cases(valid):
    """Bodies every JSON create route must refuse with 400 before looking at any field.
    `valid` is a valid body of the route (used inside wrappers)."""
    valid_bytes = json.dumps(valid).encode()
    return [
        ("empty body", b"", 400, "JSON"),
        ("truncated JSON", valid_bytes[:-3], 400, "JSON"),
        ("trailing comma", b'{"model":"x",}', 400, "JSON"),
        ("single quotes", b"{'model':'x'}", 400, "JSON"),
        ("comment", b'{"model":"x" /* c */}', 400, "JSON"),
        ("two documents", valid_bytes + valid_bytes, 400, "JSON"),
        ("trailing garbage", valid_bytes + b" xyz", 400, "JSON"),
        ("NaN literal", b'{"n":NaN}', 400, "JSON"),
        ("invalid UTF-8 in a string", b'{"model":"\xff\xfe"}', 400, "JSON"),
        ("truncated UTF-8 sequence", b'{"prompt":"\xe2\x82"}', 400, "JSON"),
        ("lone surrogate escape", b'{"prompt":"\\ud800"}', 400, "JSON"),
        ("UTF-8 BOM before the object", b"\xef\xbb\xbf" + valid_bytes, 400, "JSON"),
        ("array body", b"[]", 400, "object"),
        ("array holding a valid body", b"[" + valid_bytes + b"]", 400, "object"),
        ("string body", b'"a prompt"', 400, "object"),
        ("number body", b"42", 400, "object"),
        ("negative float body", b"-1.5e3", 400, "object"),
        ("null body", b"null", 400, "object"),
        ("boolean body", b"true", 400, "object"),
        ("10000 nested arrays", nested(10000), 400, "JSON"),
        ("10000 nested objects", b'{"a":' * 10000 + b"1" + b"}" * 10000, 400, "JSON"),
        ("10000 unclosed arrays", b"[" * 10000, 400, "JSON"),
        ("form-urlencoded body", Raw(urllib.parse.urlencode({"model": "x", "prompt": "y"}),
                                     "application/x-www-form-urlencoded"), 400, "JSON"),
        ("multipart body", Raw(b"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n"
                               b"x\r\n--b--\r\n", "multipart/form-data; boundary=b"), 400, "JSON"),
        ("plain text body", Raw(b"draw a cat", "text/plain"), 400, "JSON"),
        ("no Content-Type, not JSON", Raw(b"model=x", None), 400, "JSON"),
    ]


# --- jobs (seeds 000 and 002): 400 structure and types, 422 rules, unknown model 422.

def job(input_=None, model=T2I, **top):
    body = {"model": model, "input": {"prompt": "a red fox"} if input_ is None else input_}
    body.update(top)
    return body


def i2i_job(**fields):
    inp = {"prompt": "restyle", "input_urls": [OK_URL]}
    inp.update(fields)
    return job(inp, model=I2I)


def jobs_cases():
    cases = [
        ("model missing", {"input": {"prompt": "x"}}, 400, "model"),
        ("model null", {"model": None, "input": {"prompt": "x"}}, 400, "model"),
        ("model number", job(model=2), 400, "model"),
        ("model array", job(model=[T2I]), 400, "model"),
        ("model object", job(model={"id": T2I}), 400, "model"),
        ("model boolean", job(model=True), 400, "model"),
        ("model unknown", job(model="gpt-image-1"), 422, "model"),
        ("model of another dialect", job(model=GPT), 422, "model"),
        ("model wrong case", job(model=T2I.upper()), 422, "model"),
        ("model with NUL", job(model=T2I + "\u0000"), 422, "model"),
        ("model with trailing space", job(model=T2I + " "), 422, "model"),
        ("input string", {"model": T2I, "input": "a red fox"}, 400, "input"),
        ("input array", {"model": T2I, "input": [{"prompt": "x"}]}, 400, "input"),
        ("input number", {"model": T2I, "input": 1}, 400, "input"),
        ("input null", {"model": T2I, "input": None}, 400, "input"),
        ("prompt number", job({"prompt": 1}), 400, "input.prompt"),
        ("prompt array", job({"prompt": ["a", "b"]}), 400, "input.prompt"),
        ("prompt object", job({"prompt": {"text": "x"}}), 400, "input.prompt"),
        ("prompt boolean", job({"prompt": False}), 400, "input.prompt"),
        ("prompt whitespace only", job({"prompt": " \t\r\n "}), 422, "input.prompt"),
        ("prompt 20001 code points", job({"prompt": EMOJI * 20001}), 422, "input.prompt"),
        ("input_urls string", i2i_job(input_urls=OK_URL), 400, "input.input_urls"),
        ("input_urls object", i2i_job(input_urls={"0": OK_URL}), 400, "input.input_urls"),
        ("input_urls number", i2i_job(input_urls=1), 400, "input.input_urls"),
        ("input_urls element number", i2i_job(input_urls=[OK_URL, 7]), 400, "input.input_urls"),
        ("input_urls element null", i2i_job(input_urls=[None]), 400, "input.input_urls"),
        ("input_urls element array", i2i_job(input_urls=[[OK_URL]]), 400, "input.input_urls"),
        ("input_urls element object", i2i_job(input_urls=[{"url": OK_URL}]), 400,
         "input.input_urls"),
        ("input_urls empty", i2i_job(input_urls=[]), 422, "input.input_urls"),
        ("input_urls 17", i2i_job(input_urls=[OK_URL] * 17), 422, "input.input_urls"),
        ("input_urls 10000", i2i_job(input_urls=[OK_URL] * 10000), 422, "input.input_urls"),
        ("alias image_urls element number", job({"prompt": "x", "image_urls": [1]}, model=I2I),
         400, "input.image_urls"),
        ("alias image_input string", job({"prompt": "x", "image_input": OK_URL}, model=I2I),
         400, "input.image_input"),
        ("alias used when input_urls is null",
         job({"prompt": "x", "input_urls": None, "image_urls": ["http://a.example/x.png"]},
             model=I2I), 422, "input.image_urls[0]"),
        ("input_urls present but empty hides the alias",
         job({"prompt": "x", "input_urls": [], "image_urls": [OK_URL]}, model=I2I), 422,
         "input.input_urls"),
        ("text-to-image with an alias", job({"prompt": "x", "image_input": [OK_URL]}), 422,
         "input.image_input"),
        ("bad URL at index 1", i2i_job(input_urls=[OK_URL, "http://a.example/b.png"]), 422,
         "input.input_urls[1]"),
        ("aspect_ratio number", job({"prompt": "x", "aspect_ratio": 1.5}), 400,
         "input.aspect_ratio"),
        ("aspect_ratio array", job({"prompt": "x", "aspect_ratio": ["1:1"]}), 400,
         "input.aspect_ratio"),
        ("aspect_ratio not in the jobs list", job({"prompt": "x", "aspect_ratio": "2:1"}), 422,
         "input.aspect_ratio"),
        ("aspect_ratio pixel size", job({"prompt": "x", "aspect_ratio": "1024x1024"}), 422,
         "input.aspect_ratio"),
        ("aspect_ratio with NUL", job({"prompt": "x", "aspect_ratio": "1:1\u0000"}), 422,
         "input.aspect_ratio"),
        ("aspect_ratio empty", job({"prompt": "x", "aspect_ratio": ""}), 422,
         "input.aspect_ratio"),
        ("resolution number", job({"prompt": "x", "resolution": 1}), 400, "input.resolution"),
        ("resolution negative", job({"prompt": "x", "resolution": -4}), 400, "input.resolution"),
        ("resolution huge number", Raw(b'{"model":"%s","input":{"prompt":"x","resolution":'
                                       b'184467440737095516160000}}' % T2I.encode()), 400,
         "input.resolution"),
        ("resolution 8K", job({"prompt": "x", "resolution": "8K"}), 422, "input.resolution"),
        ("resolution 1080p", job({"prompt": "x", "resolution": "1080p"}), 422,
         "input.resolution"),
        ("resolution empty", job({"prompt": "x", "resolution": ""}), 422, "input.resolution"),
        ("quality number", job({"prompt": "x", "quality": 3}), 400, "input.quality"),
        ("quality unknown", job({"prompt": "x", "quality": "ultra"}), 422, "input.quality"),
        ("output_format number", job({"prompt": "x", "output_format": 1}), 400,
         "input.output_format"),
        ("output_format unknown", job({"prompt": "x", "output_format": "gif"}), 422,
         "input.output_format"),
        ("duplicated model, last one unknown",
         Raw(b'{"model":"%s","input":{"prompt":"x"},"model":"nope"}' % T2I.encode()), 422,
         "model"),
        ("duplicated prompt, last one a number",
         Raw(b'{"model":"%s","input":{"prompt":"x","prompt":5}}' % T2I.encode()), 400,
         "input.prompt"),
    ]
    for name, url, fragment in BAD_URLS:
        cases.append(("input_urls " + name, i2i_job(input_urls=[url]), 422,
                      ("input.input_urls[0]", fragment)))
    return cases


# --- tasks (seed 003): envelope {code,message,data:null,error_code}; 400 / 422 / 404.

def task(input_=None, model=I2I, **top):
    body = {"model": model,
            "input": {"prompt": "restyle", "input_urls": [OK_URL]} if input_ is None else input_}
    body.update(top)
    return body


def with_input(**fields):
    inp = {"prompt": "restyle", "input_urls": [OK_URL]}
    inp.update(fields)
    return task(inp)


def tasks_cases():
    cb = lambda **kw: task(callback=kw)  # noqa: E731
    cases = [
        ("model missing", {"input": {"prompt": "x"}}, 400, "model"),
        ("model number", task(model=3), 400, "model"),
        ("model array", task(model=[I2I]), 400, "model"),
        ("model unknown", task(model="gpt-image-3"), 404, "model"),
        ("model with NUL", task(model=I2I + "\u0000"), 404, "model"),
        ("input missing", {"model": I2I}, 400, "input"),
        ("input string", {"model": I2I, "input": "x"}, 400, "input"),
        ("input array", {"model": I2I, "input": []}, 400, "input"),
        ("prompt missing", task({"input_urls": [OK_URL]}), 400, "input.prompt"),
        ("prompt number", with_input(prompt=12), 400, "input.prompt"),
        ("prompt array", with_input(prompt=["x"]), 400, "input.prompt"),
        ("prompt whitespace only", with_input(prompt="\n\t "), 422, "input.prompt"),
        ("prompt 20001 code points", with_input(prompt=EMOJI * 20001), 422, "input.prompt"),
        ("input_urls missing", task({"prompt": "x"}), 400, "input.input_urls"),
        ("input_urls string", with_input(input_urls=OK_URL), 400, "input.input_urls"),
        ("input_urls object", with_input(input_urls={"a": OK_URL}), 400, "input.input_urls"),
        ("input_urls element number", with_input(input_urls=[1]), 400, "input.input_urls"),
        ("input_urls element null", with_input(input_urls=[OK_URL, None]), 400,
         "input.input_urls"),
        ("input_urls empty", with_input(input_urls=[]), 422, "input.input_urls"),
        ("input_urls 17", with_input(input_urls=[OK_URL] * 17), 422, "input.input_urls"),
        ("text-to-image with input_urls", task(model=T2I), 422, "input.input_urls"),
        ("aspect_ratio number", with_input(aspect_ratio=16), 400, "input.aspect_ratio"),
        ("aspect_ratio unknown", with_input(aspect_ratio="7:3"), 422, "input.aspect_ratio"),
        ("aspect_ratio pixel size", with_input(aspect_ratio="1024x1024"), 422,
         "input.aspect_ratio"),
        ("resolution number", with_input(resolution=2), 400, "input.resolution"),
        ("resolution unknown", with_input(resolution="3K"), 422, "input.resolution"),
        ("callback string", task(callback="https://hooks.example.com/cb"), 400, "callback"),
        ("callback array", task(callback=[{"url": "https://hooks.example.com/cb"}]), 400,
         "callback"),
        ("callback number", task(callback=1), 400, "callback"),
        ("callback without url", cb(when="final"), 400, "callback.url"),
        ("callback.url number", cb(url=443), 400, "callback.url"),
        ("callback.url array", cb(url=["https://hooks.example.com/cb"]), 400, "callback.url"),
        ("callback.url too long", cb(url="https://hooks.example.com/" + "a" * 2048), 422,
         "callback.url"),
        ("callback.when unknown", cb(url="https://hooks.example.com/cb", when="always"), 422,
         "callback.when"),
        ("callback.when wrong case", cb(url="https://hooks.example.com/cb", when="FINAL"), 422,
         "callback.when"),
        ("callback.when empty", cb(url="https://hooks.example.com/cb", when=""), 422,
         "callback.when"),
        ("callback.when number", cb(url="https://hooks.example.com/cb", when=1), 400,
         "callback.when"),
        ("callback.when array", cb(url="https://hooks.example.com/cb", when=["final"]), 400,
         "callback.when"),
        ("duplicated callback, last one a string",
         Raw(json.dumps(task(callback={"url": "https://hooks.example.com/cb"}))[:-1].encode()
             + b',"callback":"x"}'), 400, "callback"),
    ]
    for name, url, fragment in BAD_URLS:
        cases.append(("input_urls " + name, with_input(input_urls=[url]), 422,
                      ("input.input_urls[0]", fragment)))
        cases.append(("callback.url " + name, cb(url=url), 422, ("callback.url", fragment)))
    return cases


# --- generations (seed 004): {error:{code,message,type}}; every value problem is 400.

def gen(input_=None, model=GPT, **top):
    body = {"model": model, "input": {"prompt": "a poster"} if input_ is None else input_}
    body.update(top)
    return body


def gen_in(**fields):
    inp = {"prompt": "a poster"}
    inp.update(fields)
    return gen(inp)


def generations_cases():
    cases = [
        ("model missing", {"input": {"prompt": "x"}}, 400, "model"),
        ("model number", gen(model=2), 400, "model"),
        ("model object", gen(model={"name": GPT}), 400, "model"),
        ("model unknown", gen(model="dall-e-3"), 404, "dall-e-3"),
        ("model of another dialect", gen(model=T2I), 404, T2I),
        ("input string", {"model": GPT, "input": "a poster"}, 400, "input"),
        ("input array", {"model": GPT, "input": [{"prompt": "x"}]}, 400, "input"),
        ("input number", {"model": GPT, "input": 0}, 400, "input"),
        ("input null", {"model": GPT, "input": None}, 400, "input"),
        ("input empty", gen({}), 400, "input.prompt"),
        ("prompt number", gen_in(prompt=5), 400, "input.prompt"),
        ("prompt array", gen_in(prompt=["a"]), 400, "input.prompt"),
        ("prompt whitespace, no images", gen_in(prompt="   "), 400, "input.prompt"),
        ("prompt 20001 code points", gen_in(prompt=EMOJI * 20001), 400, "input.prompt"),
        ("image_urls string", gen_in(image_urls=OK_URL), 400, "input.image_urls"),
        ("image_urls object", gen_in(image_urls={"0": OK_URL}), 400, "input.image_urls"),
        ("image_urls element number", gen_in(image_urls=[OK_URL, 5]), 400, "input.image_urls"),
        ("image_urls element bool", gen_in(image_urls=[True]), 400, "input.image_urls"),
        ("image_urls 17", gen_in(image_urls=[OK_URL] * 17), 400, "input.image_urls"),
        ("image_urls empty and no prompt", gen({"image_urls": []}), 400, "input"),
        ("aspect_ratio number", gen_in(aspect_ratio=1.5), 400, "input.aspect_ratio"),
        ("aspect_ratio unknown ratio", gen_in(aspect_ratio="7:3"), 400, "input.aspect_ratio"),
        ("aspect_ratio not a multiple of 16", gen_in(aspect_ratio="1000x1008"), 400,
         "input.aspect_ratio"),
        ("aspect_ratio edge over 3840", gen_in(aspect_ratio="3856x1024"), 400,
         "input.aspect_ratio"),
        ("aspect_ratio ratio over 3:1", gen_in(aspect_ratio="3840x1264"), 400,
         "input.aspect_ratio"),
        ("aspect_ratio under the pixel budget", gen_in(aspect_ratio="512x512"), 400,
         "input.aspect_ratio"),
        ("aspect_ratio over the pixel budget", gen_in(aspect_ratio="3840x3840"), 400,
         "input.aspect_ratio"),
        ("aspect_ratio zero size", gen_in(aspect_ratio="0x0"), 400, "input.aspect_ratio"),
        ("aspect_ratio negative size", gen_in(aspect_ratio="-1024x1024"), 400,
         "input.aspect_ratio"),
        ("aspect_ratio huge size", gen_in(aspect_ratio="99999999999x1024"), 400,
         "input.aspect_ratio"),
        ("aspect_ratio empty", gen_in(aspect_ratio=""), 400, "input.aspect_ratio"),
        ("resolution number", gen_in(resolution=1), 400, "input.resolution"),
        ("resolution unknown", gen_in(resolution="8k"), 400, "input.resolution"),
        ("nsfw_checker string", gen_in(nsfw_checker="true"), 400, "input.nsfw_checker"),
        ("nsfw_checker number", gen_in(nsfw_checker=1), 400, "input.nsfw_checker"),
        ("callback_url number", gen(callback_url=443), 400, "callback_url"),
        ("callback_url object", gen(callback_url={"url": "https://hooks.example.com"}), 400,
         "callback_url"),
        ("callback_url too long", gen(callback_url="https://hooks.example.com/" + "a" * 2048),
         400, "callback_url"),
        ("duplicated input, last one a number",
         Raw(b'{"model":"gpt-image-2","input":{"prompt":"x"},"input":5}'), 400, "input"),
    ]
    for name, url, fragment in BAD_URLS:
        cases.append(("image_urls " + name, gen_in(image_urls=[url]), 400,
                      ("input.image_urls[0]", fragment)))
        cases.append(("callback_url " + name, gen(callback_url=url), 400,
                      ("callback_url", fragment)))
    return cases


# --- unified (seed 001): flat body; {error:{code,message,type,param}}; value problems 400.

def uni(**fields):
    body = {"model": GPT, "prompt": "a lighthouse"}
    body.update(fields)
    return body


def unified_cases():
    cases = [
        ("model missing", {"prompt": "x"}, 400, "model"),
        ("model number", uni(model=2), 400, "model"),
        ("model array", uni(model=[GPT]), 400, "model"),
        ("model unknown", uni(model="dall-e-3"), 404, "model"),
        ("model of another dialect", uni(model=T2I), 404, "model"),
        ("model with NUL", uni(model=GPT + "\u0000"), 404, "model"),
        ("prompt missing", {"model": GPT}, 400, "prompt"),
        ("prompt null", uni(prompt=None), 400, "prompt"),
        ("prompt number", uni(prompt=1), 400, "prompt"),
        ("prompt array", uni(prompt=["x"]), 400, "prompt"),
        ("prompt object", uni(prompt={}), 400, "prompt"),
        ("prompt whitespace only", uni(prompt="\r\n\t "), 400, "prompt"),
        ("prompt 32001 code points", uni(prompt=EMOJI * 32001), 400, "prompt"),
        ("prompt 32001 code points as escapes", Raw(json.dumps(uni(prompt=EMOJI * 32001))),
         400, "prompt"),
        ("image_urls string", uni(image_urls=OK_URL), 400, "image_urls"),
        ("image_urls object", uni(image_urls={"a": OK_URL}), 400, "image_urls"),
        ("image_urls element number", uni(image_urls=[1]), 400, "image_urls"),
        ("image_urls element null", uni(image_urls=[None]), 400, "image_urls"),
        ("image_urls element array", uni(image_urls=[[OK_URL]]), 400, "image_urls"),
        ("image_urls empty", uni(image_urls=[]), 400, "image_urls"),
        ("image_urls 17", uni(image_urls=[OK_URL] * 17), 400, "image_urls"),
        ("image_urls 100000", uni(image_urls=[""] * 100000), 400, "image_urls"),
        ("bad URL at index 3", uni(image_urls=[OK_URL] * 3 + ["javascript:x"]), 400,
         "image_urls[3]"),
        ("mask_url number", uni(image_urls=[OK_URL], mask_url=1), 400, "mask_url"),
        ("mask_url array", uni(image_urls=[OK_URL], mask_url=[OK_URL]), 400, "mask_url"),
        ("size number", uni(size=1024), 400, "size"),
        ("size array", uni(size=[1024, 1024]), 400, "size"),
        ("size unknown ratio", uni(size="7:5"), 400, "size"),
        ("size not a multiple of 16", uni(size="1000x1008"), 400, "size"),
        ("size edge over 3840", uni(size="3856x1024"), 400, "size"),
        ("size edge under 16", uni(size="8x1024"), 400, "size"),
        ("size ratio over 3:1", uni(size="3840x1264"), 400, "size"),
        ("size under the pixel budget", uni(size="512x512"), 400, "size"),
        ("size over the pixel budget", uni(size="3840x3840"), 400, "size"),
        ("size zero", uni(size="0x0"), 400, "size"),
        ("size negative", uni(size="-1024x1024"), 400, "size"),
        ("size huge", uni(size="99999999999x1024"), 400, "size"),
        ("size float", uni(size="1024.0x1024"), 400, "size"),
        ("size empty", uni(size=""), 400, "size"),
        ("size with NUL", uni(size="1:1\u0000"), 400, "size"),
        ("resolution number", uni(size="1:1", resolution=4), 400, "resolution"),
        ("resolution unknown", uni(size="1:1", resolution="8K"), 400, "resolution"),
        ("quality number", uni(quality=1), 400, "quality"),
        ("quality unknown", uni(quality="ultra"), 400, "quality"),
        ("quality auto (not in seed 001)", uni(quality="auto"), 400, "quality"),
        ("n 0", uni(n=0), 400, "n"),
        ("n 11", uni(n=11), 400, "n"),
        ("n -1", uni(n=-1), 400, "n"),
        ("n 1.5", uni(n=1.5), 400, "n"),
        ("n string", uni(n="2"), 400, "n"),
        ("n boolean", uni(n=True), 400, "n"),
        ("n array", uni(n=[1]), 400, "n"),
        ("n 1e30", uni(n=1e30), 400, "n"),
        ("n 2^64-1", uni(n=2 ** 64 - 1), 400, "n"),
        ("n 2^64", uni(n=2 ** 64), 400, "n"),
        ("n -2^63", uni(n=-2 ** 63), 400, "n"),
        ("n 2^32+1", uni(n=2 ** 32 + 1), 400, "n"),
        ("n 1e400", Raw(b'{"model":"gpt-image-2","prompt":"x","n":1e400}'), 400, "n"),
        ("n -0.0", Raw(b'{"model":"gpt-image-2","prompt":"x","n":-0.0}'), 400, "n"),
        ("callback_url number", uni(callback_url=1), 400, "callback_url"),
        ("callback_url 2049 characters",
         uni(callback_url="https://hooks.example.com/" + "a" * (2049 - 26)), 400,
         "callback_url"),
        ("duplicated n, last one 50", Raw(b'{"model":"gpt-image-2","prompt":"x","n":1,"n":50}'),
         400, "n"),
        ("duplicated model, last one unknown",
         Raw(b'{"model":"gpt-image-2","prompt":"x","model":"nope"}'), 404, "model"),
    ]
    for name, url, fragment in BAD_URLS:
        cases.append(("image_urls " + name, uni(image_urls=[url]), 400,
                      ("image_urls[0]", fragment)))
        cases.append(("mask_url " + name, uni(image_urls=[OK_URL], mask_url=url), 400,
                      ("mask_url", fragment)))
        cases.append(("callback_url " + name, uni(callback_url=url), 400,
                      ("callback_url", fragment)))
    return cases


# --- openai generations (API-NOTES): {error:{message,type,param,code}}; everything 400.

def oai(**fields):
    body = {"model": GPT, "prompt": "a fox"}
    body.update(fields)
    return body


def openai_cases():
    # (name, body, status, param, code)
    return [
        ("model number", oai(model=1), 400, "model", "invalid_type"),
        ("model unknown", oai(model="dall-e-3"), 404, None, "model_not_found"),
        ("prompt missing", {"model": GPT}, 400, "prompt", "missing_required_parameter"),
        ("prompt number", oai(prompt=1), 400, "prompt", "invalid_type"),
        ("prompt array", oai(prompt=["x"]), 400, "prompt", "invalid_type"),
        ("prompt whitespace only", oai(prompt="  "), 400, "prompt", "empty_string"),
        ("prompt 32001 code points", oai(prompt=EMOJI * 32001), 400, "prompt",
         "string_above_max_length"),
        ("unknown parameter", oai(foo=1), 400, "foo", "unknown_parameter"),
        ("edits-only parameter", oai(input_fidelity="high"), 400, "input_fidelity",
         "unknown_parameter"),
        ("image on generations", oai(image="x"), 400, "image", "unknown_parameter"),
        ("n 0", oai(n=0), 400, "n", "integer_below_min_value"),
        ("n 11", oai(n=11), 400, "n", "integer_above_max_value"),
        ("n -5", oai(n=-5), 400, "n", "integer_below_min_value"),
        ("n 1.5", oai(n=1.5), 400, "n", "invalid_type"),
        ("n string", oai(n="2"), 400, "n", "invalid_type"),
        ("n boolean", oai(n=True), 400, "n", "invalid_type"),
        ("n 2^64-1", oai(n=2 ** 64 - 1), 400, "n", "integer_above_max_value"),
        ("n 1e30", oai(n=1e30), 400, "n", "invalid_type"),
        ("quality unknown", oai(quality="ultra"), 400, "quality", "invalid_value"),
        ("quality number", oai(quality=3), 400, "quality", "invalid_type"),
        ("output_format unknown", oai(output_format="gif"), 400, "output_format",
         "invalid_value"),
        ("output_format array", oai(output_format=["png"]), 400, "output_format",
         "invalid_type"),
        ("output_compression 101", oai(output_format="jpeg", output_compression=101), 400,
         "output_compression", "integer_above_max_value"),
        ("output_compression -1", oai(output_format="webp", output_compression=-1), 400,
         "output_compression", "integer_below_min_value"),
        ("output_compression with png", oai(output_compression=50), 400, "output_compression",
         "invalid_value"),
        ("background unknown", oai(background="green"), 400, "background", "invalid_value"),
        ("background transparent with jpeg", oai(background="transparent",
                                                 output_format="jpeg"), 400, "background",
         "invalid_value"),
        ("moderation unknown", oai(moderation="high"), 400, "moderation", "invalid_value"),
        ("stream true", oai(stream=True), 400, "stream", "invalid_value"),
        ("stream string", oai(stream="false"), 400, "stream", "invalid_type"),
        ("partial_images 4", oai(partial_images=4), 400, "partial_images",
         "integer_above_max_value"),
        ("response_format url", oai(response_format="url"), 400, "response_format",
         "invalid_value"),
        ("response_format unknown", oai(response_format="png"), 400, "response_format",
         "invalid_value"),
        ("user number", oai(user=1), 400, "user", "invalid_type"),
        ("size number", oai(size=1024), 400, "size", "invalid_type"),
        ("size word", oai(size="big"), 400, "size", "invalid_value"),
        ("size not a multiple of 16", oai(size="1000x1008"), 400, "size", "invalid_value"),
        ("size edge over 3840", oai(size="3856x1024"), 400, "size", "invalid_value"),
        ("size ratio over 3:1", oai(size="3840x1264"), 400, "size", "invalid_value"),
        ("size under the pixel budget", oai(size="512x512"), 400, "size", "invalid_value"),
        ("size over the pixel budget", oai(size="3840x3840"), 400, "size", "invalid_value"),
        ("size zero edge", oai(size="0x1024"), 400, "size", "invalid_value"),
        ("size huge", oai(size="99999999999x1"), 400, "size", "invalid_value"),
        ("size with NUL", oai(size="1024x1024\u0000"), 400, "size", "invalid_value"),
        ("duplicated n, last one 50", Raw(b'{"prompt":"x","n":1,"n":50}'), 400, "n",
         "integer_above_max_value"),
    ]


# --- openai edits: the images they upload

def pixel(x, y):
    return ((x * 4) % 256, (y * 4) % 256, 128)


IMAGE = make_png_pixels(64, 64, pixel)
MASK = make_png_pixels(64, 64, lambda x, y: (0, 0, 0, 0 if y < 32 else 255), alpha=True)


def edit_cases():
    """(name, content type, body, status, param, code) rejected before any task exists."""
    ctype, good = multipart([("prompt", "x")], [("image", "a.png", IMAGE)])
    boundary = ctype.split("boundary=")[1]
    cases = []

    def form(name, fields, files, status=400, param=None, code=None):
        ct, body = multipart(fields, files)
        cases.append((name, ct, body, status, param, code))

    def raw(name, content_type, body, status=400, param=None, code=None):
        cases.append((name, content_type, body, status, param, code))

    raw("no Content-Type", None, good)
    raw("JSON Content-Type", "application/json", b'{"prompt":"x"}')
    raw("JSON body under a multipart Content-Type", ctype, b'{"prompt":"x"}')
    raw("text/plain Content-Type", "text/plain", good)
    raw("multipart/mixed Content-Type", "multipart/mixed; boundary=" + boundary, good)
    raw("missing boundary", "multipart/form-data", good)
    raw("empty boundary", "multipart/form-data; boundary=", good)
    raw("boundary over 70 characters", "multipart/form-data; boundary=" + "b" * 71, good)
    raw("boundary with a forbidden character", "multipart/form-data; boundary=a{b}", good)
    raw("boundary twice", ctype + "; boundary=other", good)
    raw("unterminated quoted boundary", 'multipart/form-data; boundary="abc', good)
    raw("boundary absent from the body", "multipart/form-data; boundary=zzzz", good)
    raw("empty body", ctype, b"")
    raw("truncated in half", ctype, good[: len(good) // 2])
    raw("truncated before the closing boundary", ctype, good[:-8])
    raw("no parts", "multipart/form-data; boundary=x", b"--x--\r\n")
    raw("part without Content-Disposition", ctype,
        ("--%s\r\nContent-Type: text/plain\r\n\r\nx\r\n--%s--\r\n" % (boundary, boundary))
        .encode())
    raw("part without a name", ctype,
        ('--%s\r\nContent-Disposition: form-data; filename="a.png"\r\n\r\nx\r\n--%s--\r\n'
         % (boundary, boundary)).encode())
    raw("Content-Disposition attachment", ctype,
        ('--%s\r\nContent-Disposition: attachment; name="prompt"\r\n\r\nx\r\n--%s--\r\n'
         % (boundary, boundary)).encode())
    raw("base64 transfer encoding", ctype,
        ('--%s\r\nContent-Disposition: form-data; name="prompt"\r\n'
         "Content-Transfer-Encoding: base64\r\n\r\neA==\r\n--%s--\r\n"
         % (boundary, boundary)).encode())
    raw("bare LF line endings", ctype, good.replace(b"\r\n", b"\n"))
    raw("part name not UTF-8", ctype,
        ('--%s\r\nContent-Disposition: form-data; name="' % boundary).encode() + b"\xff\xfe"
        + ('"\r\n\r\nx\r\n--%s--\r\n' % boundary).encode())
    form("no image part", [("prompt", "x")], [], param="image",
         code="missing_required_parameter")
    form("only a mask", [("prompt", "x")], [("mask", "m.png", MASK)], param="image",
         code="missing_required_parameter")
    form("no prompt", [], [("image", "a.png", IMAGE)], param="prompt",
         code="missing_required_parameter")
    form("17 images", [("prompt", "x")], [("image[]", "a.png", IMAGE)] * 17, param="image",
         code="array_above_max_length")
    form("17 images mixing image and image[]", [("prompt", "x")],
         [("image", "a.png", IMAGE)] + [("image[]", "b.png", IMAGE)] * 16, param="image",
         code="array_above_max_length")
    form("empty image file", [("prompt", "x")], [("image", "a.png", b"")], param="image",
         code="empty_file")
    form("empty mask file", [("prompt", "x")], [("image", "a.png", IMAGE), ("mask", "m.png", b"")],
         param="mask", code="empty_file")
    form("mask of 4 MiB", [("prompt", "x")],
         [("image", "a.png", IMAGE), ("mask", "m.png", b"\x00" * (4 * 1024 * 1024))],
         param="mask", code="file_too_large")
    form("two masks", [("prompt", "x")],
         [("image", "a.png", IMAGE), ("mask", "m.png", MASK), ("mask", "n.png", MASK)],
         param="mask")
    form("unknown field", [("prompt", "x"), ("foo", "bar")], [("image", "a.png", IMAGE)],
         param="foo", code="unknown_parameter")
    form("generations-only field", [("prompt", "x"), ("moderation", "low")],
         [("image", "a.png", IMAGE)], param="moderation", code="unknown_parameter")
    form("duplicated prompt", [("prompt", "x"), ("prompt", "y")], [("image", "a.png", IMAGE)],
         param="prompt")
    form("prompt whitespace only", [("prompt", " \t ")], [("image", "a.png", IMAGE)],
         param="prompt", code="empty_string")
    form("prompt 32001 code points", [("prompt", EMOJI * 32001)], [("image", "a.png", IMAGE)],
         param="prompt", code="string_above_max_length")
    form("prompt not UTF-8", [("prompt", b"\xff\xfe\xfd")], [("image", "a.png", IMAGE)],
         param="prompt", code="invalid_value")
    form("n 0", [("prompt", "x"), ("n", "0")], [("image", "a.png", IMAGE)], param="n",
         code="integer_below_min_value")
    form("n 11", [("prompt", "x"), ("n", "11")], [("image", "a.png", IMAGE)], param="n",
         code="integer_above_max_value")
    form("n -3", [("prompt", "x"), ("n", "-3")], [("image", "a.png", IMAGE)], param="n",
         code="integer_below_min_value")
    form("n 1.5", [("prompt", "x"), ("n", "1.5")], [("image", "a.png", IMAGE)], param="n",
         code="invalid_type")
    form("n word", [("prompt", "x"), ("n", "two")], [("image", "a.png", IMAGE)], param="n",
         code="invalid_type")
    form("n 2^64", [("prompt", "x"), ("n", str(2 ** 64))], [("image", "a.png", IMAGE)],
         param="n", code="invalid_type")
    form("quality unknown", [("prompt", "x"), ("quality", "max")], [("image", "a.png", IMAGE)],
         param="quality", code="invalid_value")
    form("input_fidelity unknown", [("prompt", "x"), ("input_fidelity", "max")],
         [("image", "a.png", IMAGE)], param="input_fidelity", code="invalid_value")
    form("output_format unknown", [("prompt", "x"), ("output_format", "bmp")],
         [("image", "a.png", IMAGE)], param="output_format", code="invalid_value")
    form("size not a multiple of 16", [("prompt", "x"), ("size", "1000x1000")],
         [("image", "a.png", IMAGE)], param="size", code="invalid_value")
    form("size ratio over 3:1", [("prompt", "x"), ("size", "3840x1264")],
         [("image", "a.png", IMAGE)], param="size", code="invalid_value")
    form("stream true", [("prompt", "x"), ("stream", "true")], [("image", "a.png", IMAGE)],
         param="stream", code="invalid_value")
    form("stream word", [("prompt", "x"), ("stream", "yes")], [("image", "a.png", IMAGE)],
         param="stream", code="invalid_type")
    return cases


def fragments(field):
    """A case's expected message fragments: a string, or a tuple whose first item is the field."""
    return field if isinstance(field, tuple) else (field,)


def utf8_json(raw):
    """The parsed body; raises unless it is valid UTF-8 JSON (RFC 8259 §8.1)."""
    return json.loads(raw.decode("utf-8"))


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.key = cls.server.create_key("bad-input")
        cls.other = cls.server.create_key("bad-input-other")
        cls.server.start()
        cls.db_path = os.path.join(cls.server.data_dir, "imagegate.db")

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    # --- helpers
    def task_count(self):
        db = sqlite3.connect(self.db_path, timeout=10)
        try:
            return db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
        finally:
            db.close()

    def rows_after(self, row_id):
        db = sqlite3.connect(self.db_path, timeout=10)
        try:
            return db.execute("SELECT row_id, id, dialect, state, fail_code FROM tasks "
                              "WHERE row_id > ? ORDER BY row_id", (row_id,)).fetchall()
        finally:
            db.close()

    def last_row_id(self):
        db = sqlite3.connect(self.db_path, timeout=10)
        try:
            return db.execute("SELECT COALESCE(MAX(row_id), 0) FROM tasks").fetchone()[0]
        finally:
            db.close()

    def send(self, method, path, body=None, key="default", content_type="application/json",
             headers=None):
        """A request; body is a case body (dict, list, bytes or Raw) or None."""
        h = dict(headers or {})
        data = None
        if isinstance(body, bytes):
            data = body
        elif body is not None:
            data, content_type = encode(body)
        if data is not None and content_type is not None:
            h["Content-Type"] = content_type
        if key == "default":
            key = self.key
        return self.server.request(method, path, body=data, headers=h, key=key)

    def raw_response(self, payload):
        """Sends raw bytes and reads one response (headers, then Content-Length bytes)."""
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        raw = b""
        try:
            s.sendall(payload)
            while True:
                head, sep, rest = raw.partition(b"\r\n\r\n")
                if sep:
                    lengths = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")]
                    if lengths and len(rest) >= lengths[0]:
                        break
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
        finally:
            s.close()
        head, _, rest = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 "), raw[:200])
        return Response(int(head.split()[1]), [], rest)

    def assert_alive(self):
        self.assertIsNone(self.server.proc.poll(), "the server exited")
        r = self.server.request("GET", "/healthz", timeout=5)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"ok\n")

    def parsed(self, r):
        try:
            return utf8_json(r.body)
        except (UnicodeDecodeError, ValueError) as e:
            self.fail("status %d: the body is not UTF-8 JSON (%s): %r" % (r.status, e, r.body[:300]))

    def cancel_quietly(self, task_id):
        r = self.server.request("POST", "/v1/tasks/%s/cancel" % urllib.parse.quote(task_id),
                                key=self.key)
        self.assertIn(r.status, (200, 409), r.body[:300])

    # --- one envelope checker per dialect: (response, status, field) -> the error object
    def check_jobs(self, r, status, field, _code=None):
        env = self.parsed(r)
        self.assertEqual(r.status, status, env)
        self.assertEqual(set(env), {"code", "msg", "data"}, env)
        self.assertEqual(env["code"], status, env)  # seed 000/002: HTTP status == code
        self.assertIsNone(env["data"])
        self.assertIsInstance(env["msg"], str)
        self.assertTrue(env["msg"].strip(), env)
        for fragment in fragments(field) if field else ():
            self.assertIn(fragment, env["msg"])
        return env

    TASKS_WORDS = {400: {"INVALID_REQUEST"}, 401: {"UNAUTHORIZED"},
                   404: {"MODEL_NOT_FOUND", "TASK_NOT_FOUND"}, 405: {"METHOD_NOT_ALLOWED"},
                   413: {"PAYLOAD_TOO_LARGE"}, 422: {"VALIDATION_FAILED"}}

    def check_tasks(self, r, status, field, _code=None):
        env = self.parsed(r)
        self.assertEqual(r.status, status, env)
        self.assertEqual(set(env), {"code", "message", "data", "error_code"}, env)
        self.assertEqual(env["code"], status, env)
        self.assertIsNone(env["data"])
        self.assertIn(env["error_code"], self.TASKS_WORDS[status], env)
        self.assertIsInstance(env["message"], str)
        self.assertTrue(env["message"].strip(), env)
        for fragment in fragments(field) if field else ():
            self.assertIn(fragment, env["message"])
        return env

    # Seed 004's error table.
    GENERATIONS_WORDS = {400: {("invalid_request", "invalid_request_error")},
                         401: {("invalid_api_key", "authentication_error")},
                         404: {("model_not_found", "invalid_request_error"),
                               ("task_not_found", "invalid_request_error"),
                               ("not_found", "invalid_request_error")},  # no such route
                         405: {("method_not_allowed", "invalid_request_error")},
                         413: {("payload_too_large", "invalid_request_error")}}

    def check_generations(self, r, status, field, _code=None):
        env = self.parsed(r)
        self.assertEqual(r.status, status, env)
        self.assertEqual(set(env), {"error"}, env)
        err = env["error"]
        self.assertEqual(set(err), {"code", "message", "type"}, env)
        self.assertIn((err["code"], err["type"]), self.GENERATIONS_WORDS[status], env)
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"].strip(), env)
        for fragment in fragments(field) if field else ():
            self.assertIn(fragment, err["message"])
        return err

    # API-NOTES (EvoLink): {"error":{"code","message","type","param"}}.
    UNIFIED_WORDS = {400: {("invalid_parameters", "invalid_request_error"),
                           ("invalid_task_id", "invalid_request_error")},
                     401: {("unauthorized", "authentication_error")},
                     404: {("model_not_found", "invalid_request_error"),
                           ("task_not_found", "invalid_request_error")}}

    def check_unified(self, r, status, field, _code=None):
        env = self.parsed(r)
        self.assertEqual(r.status, status, env)
        self.assertEqual(set(env), {"error"}, env)
        err = env["error"]
        self.assertEqual(set(err), {"code", "message", "type", "param"}, env)
        self.assertIn((err["code"], err["type"]), self.UNIFIED_WORDS[status], env)
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"].strip(), env)
        for fragment in fragments(field) if field else ():
            self.assertIn(fragment, err["message"])
        if field:
            self.assertIsInstance(err["param"], str, env)
            self.assertTrue(err["param"].startswith(fragments(field)[0].split("[")[0]), env)
        return err

    # API-NOTES (OpenAI): {"error":{"message","type","param","code"}}.
    def check_openai(self, r, status, param, code=None):
        env = self.parsed(r)
        self.assertEqual(r.status, status, env)
        self.assertEqual(set(env), {"error"}, env)
        err = env["error"]
        self.assertEqual(set(err), {"message", "type", "param", "code"}, env)
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"].strip(), env)
        if status == 401:
            self.assertEqual(err["code"], "invalid_api_key", env)
        elif status < 500:
            self.assertEqual(err["type"], "invalid_request_error", env)
        if param:  # OpenAI names the field in `param`; its messages often quote only the value
            self.assertEqual(err["param"], param, env)
        if code:
            self.assertEqual(err["code"], code, env)
        return err

    def sweep(self, path, cases, check):
        for case in cases:
            name, body, status, field = case[:4]
            extra = case[4] if len(case) > 4 else None
            with self.subTest(name):
                before = self.task_count()
                r = self.send("POST", path, body)
                check(r, status, field, extra)
                self.assertEqual(self.task_count(), before, "a rejected request created a task")
        self.assert_alive()

    # --- the sweeps, one per dialect
    def test_jobs_create_refuses_bad_bodies(self):
        self.sweep(JOBS_CREATE, structural_cases(job()) + jobs_cases(), self.check_jobs)

    def test_tasks_create_refuses_bad_bodies(self):
        self.sweep(TASKS, structural_cases(task()) + tasks_cases(), self.check_tasks)

    def test_generations_create_refuses_bad_bodies(self):
        # A body that is not a JSON object cannot say which dialect it is: the path's
        # documented dialect (seed 004, generations) answers.
        self.sweep(GENERATIONS, structural_cases(gen()) + generations_cases(),
                   self.check_generations)

    def test_unified_create_refuses_bad_bodies(self):
        self.sweep(GENERATIONS, unified_cases(), self.check_unified)

    def test_openai_generations_refuse_bad_bodies(self):
        # Structural errors name no parameter: status, envelope and message only.
        cases = [(n, b, s, None, None) for n, b, s, _f in structural_cases(oai())]
        cases += openai_cases()
        self.sweep(OPENAI_GEN, cases, self.check_openai)

    def test_openai_edits_refuse_bad_multipart(self):
        for name, ctype, body, status, param, code in edit_cases():
            with self.subTest(name):
                before = self.task_count()
                h = {"Content-Type": ctype} if ctype is not None else {}
                r = self.server.request("POST", OPENAI_EDIT, body=body, headers=h, key=self.key)
                self.check_openai(r, status, param, code)
                self.assertEqual(self.task_count(), before, "a rejected request created a task")
        self.assert_alive()

    def test_openai_edits_with_unusable_uploads(self):
        """Uploads that are not usable images are refused before a task exists: 400 naming
        `image`/`mask`, and no task row."""
        opaque = make_png(64, 64, (0, 0, 0))
        small = make_png_pixels(32, 32, lambda x, y: (0, 0, 0, 0), alpha=True)
        cases = [
            ("image is not an image", [("image", "a.png", b"hello, not an image at all")],
             "image", "image"),
            ("second image truncated", [("image[]", "a.png", IMAGE),
                                        ("image[]", "b.png", IMAGE[:40])], "image", "image"),
            ("mask without alpha", [("image", "a.png", IMAGE), ("mask", "m.png", opaque)],
             "mask", "Invalid mask image format - mask image missing alpha channel"),
            ("mask of another size", [("image", "a.png", IMAGE), ("mask", "m.png", small)],
             "mask", "Invalid mask image format - mask size does not match image size"),
        ]
        for name, files, param, fragment in cases:
            with self.subTest(name):
                mark = self.last_row_id()
                ctype, body = multipart([("prompt", "x")], files)
                r = self.server.request("POST", OPENAI_EDIT, body=body,
                                        headers={"Content-Type": ctype}, key=self.key)
                err = self.check_openai(r, 400, param)
                self.assertIn(fragment, err["message"])
                self.assertEqual(self.rows_after(mark), [])
        self.assert_alive()

    def test_oversized_bodies_are_413_in_each_dialect(self):
        routes = [(JOBS_CREATE, 2 << 20, self.check_jobs),
                  (TASKS, 2 << 20, self.check_tasks),
                  (GENERATIONS, 2 << 20, self.check_generations),
                  (OPENAI_GEN, 2 << 20, self.check_openai),
                  (OPENAI_EDIT, 1 << 30, self.check_openai)]
        for path, length, check in routes:
            with self.subTest(path):
                before = self.task_count()
                head = ("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n\r\n" % (path, self.key, length)).encode()
                resp = self.raw_response(head)
                check(resp, 413, None)
                self.assertEqual(self.task_count(), before)
        self.assert_alive()

    # --- unicode: limits are code points; NUL and other code points survive untouched
    def test_limits_count_code_points_and_accept_the_boundary(self):
        accepted = [
            ("unified 32000 emoji as UTF-8", GENERATIONS, uni(prompt=EMOJI * 32000)),
            ("unified 32000 emoji as surrogate escapes", GENERATIONS,
             Raw(json.dumps(uni(prompt=EMOJI * 32000)))),
            ("unified 31999 ASCII + 1 emoji", GENERATIONS, uni(prompt="a" * 31999 + EMOJI)),
            ("unified n 10", GENERATIONS, uni(n=10)),
            ("unified 16 image URLs", GENERATIONS, uni(image_urls=[OK_URL] * 16)),
            ("unified 3840x2160", GENERATIONS, uni(size="3840x2160")),
            ("unified 3:1 exactly, U+00D7 separator", GENERATIONS, uni(size="3840\u00d71280")),
            ("unified callback_url of 2048 characters", GENERATIONS,
             uni(callback_url="https://hooks.example.com/" + "a" * (2048 - 26))),
            ("jobs 20000 emoji", JOBS_CREATE, job({"prompt": EMOJI * 20000})),
            ("jobs 16 input_urls", JOBS_CREATE, i2i_job(input_urls=[OK_URL] * 16)),
            ("tasks 20000 CJK", TASKS, with_input(prompt="\u4e2d" * 20000)),
            ("generations 20000 emoji", GENERATIONS, gen_in(prompt=EMOJI * 20000)),
            ("generations 16 image_urls", GENERATIONS, gen_in(image_urls=[OK_URL] * 16)),
            ("generations table size that is no multiple of 16", GENERATIONS,
             gen_in(aspect_ratio="1881x836")),
        ]
        for name, path, body in accepted:
            with self.subTest(name):
                before = self.task_count()
                r = self.send("POST", path, body)
                self.assertEqual(r.status, 200, r.body[:300])
                env = self.parsed(r)
                task_id = env["id"] if "id" in env else env["data"]["taskId"]
                self.cancel_quietly(task_id)
                self.assertEqual(self.task_count(), before + 1)
        with self.subTest("openai 32000 emoji"):
            r = self.send("POST", OPENAI_GEN, oai(prompt=EMOJI * 32000, quality="low"))
            self.assertEqual(r.status, 200, r.body[:300])
            self.assertEqual(len(self.parsed(r)["data"]), 1)
        self.assert_alive()

    def test_unicode_and_nul_round_trip_in_param(self):
        prompt = "a\u0000b \U0001F600 \u00e9\u4e2d\u202e\ufeff \u0007 \\ \" \u2028"
        r = self.send("POST", JOBS_CREATE, job({"prompt": prompt, "aspect_ratio": "1:1"}))
        self.assertEqual(r.status, 200, r.body)
        task_id = self.parsed(r)["data"]["taskId"]
        self.cancel_quietly(task_id)
        rec = self.parsed(self.server.record(self.key, task_id))
        param = json.loads(rec["data"]["param"])
        self.assertEqual(param["input"]["prompt"], prompt)
        self.assertEqual(param["model"], T2I)

    # --- API keys: every route answers 401 in its own envelope and creates nothing
    def test_missing_or_invalid_key_is_401_on_every_route(self):
        uid = "task-unified-1795329112-abcdefgh"
        tk = "tk-01M80Z97EVPZ3HXHTNTFRAH76F"
        gid = "3ebe82c2-3abc-4015-9608-901baca54948"
        ctype, edit_body = multipart([("prompt", "x")], [("image", "a.png", IMAGE)])
        routes = [
            ("POST", JOBS_CREATE, job(), self.check_jobs),
            ("GET", "/api/v1/jobs/recordInfo?taskId=" + gid, None, self.check_jobs),
            ("GET", "/api/v1/jobs/recordInfo", None, self.check_jobs),
            ("POST", TASKS, task(), self.check_tasks),
            ("GET", TASKS, None, self.check_tasks),
            ("GET", TASKS + "?page=0", None, self.check_tasks),
            ("GET", TASKS + "/" + tk, None, self.check_tasks),
            ("POST", TASKS + "/" + tk + "/cancel", None, self.check_tasks),
            ("POST", GENERATIONS, gen(), self.check_generations),
            ("POST", GENERATIONS, b"not json", self.check_generations),
            ("GET", TASKS + "/" + gid, None, self.check_generations),
            ("POST", TASKS + "/" + gid + "/cancel", None, self.check_generations),
            ("POST", GENERATIONS, uni(), self.check_unified),
            ("GET", TASKS + "/" + uid, None, self.check_unified),
            ("GET", TASKS + "/task-unified-malformed", None, self.check_unified),
            ("POST", TASKS + "/" + uid + "/cancel", None, self.check_unified),
            ("POST", OPENAI_GEN, oai(), self.check_openai),
            ("POST", OPENAI_EDIT, Raw(edit_body, ctype), self.check_openai),
        ]
        keys = [
            ("no Authorization header", None, {}),
            ("unknown key", "sk-" + "0" * 40, {}),
            ("key without sk- prefix", "pk-" + self.key[3:], {}),
            ("valid key with one character changed", self.key[:-1] + (
                "a" if self.key[-1] != "a" else "b"), {}),
            ("Basic scheme", None, {"Authorization": "Basic " + self.key}),
            ("Bearer without a token", None, {"Authorization": "Bearer "}),
            ("bare key without a scheme", None, {"Authorization": self.key}),
            ("another header", None, {"X-API-Key": self.key}),
        ]
        for method, path, body, check in routes:
            for key_name, key, headers in keys:
                with self.subTest(route="%s %s" % (method, path[:60]), key=key_name):
                    before = self.task_count()
                    r = self.send(method, path, body, key=key, headers=headers)
                    check(r, 401, None)
                    self.assertEqual(self.task_count(), before)
        self.assert_alive()

    def test_bad_ids_and_list_queries(self):
        cases = [
            ("GET", "/api/v1/jobs/recordInfo", 400, self.check_jobs, "taskId"),
            ("GET", "/api/v1/jobs/recordInfo?taskId=", 400, self.check_jobs, "taskId"),
            ("GET", "/api/v1/jobs/recordInfo?taskid=x", 400, self.check_jobs, "taskId"),
            ("GET", "/api/v1/jobs/recordInfo?taskId=%00", 404, self.check_jobs, None),
            ("GET", "/api/v1/jobs/recordInfo?taskId=" + "a" * 5000, 404, self.check_jobs, None),
            ("GET", "/api/v1/jobs/recordInfo?taskId=%27%20OR%201%3D1%20--", 404,
             self.check_jobs, None),
            ("GET", "/v1/tasks?page=abc", 400, self.check_tasks, "page"),
            ("GET", "/v1/tasks?page=0", 400, self.check_tasks, "page"),
            ("GET", "/v1/tasks?page=-1", 400, self.check_tasks, "page"),
            ("GET", "/v1/tasks?page=1.5", 400, self.check_tasks, "page"),
            ("GET", "/v1/tasks?page=99999999999", 400, self.check_tasks, "page"),
            ("GET", "/v1/tasks?page_size=0", 400, self.check_tasks, "page_size"),
            ("GET", "/v1/tasks?page_size=101", 400, self.check_tasks, "page_size"),
            ("GET", "/v1/tasks?size=1000", 400, self.check_tasks, "page_size"),
            ("GET", "/v1/tasks/tk-", 404, self.check_tasks, None),
            ("GET", "/v1/tasks/tk-" + "Z" * 5000, 404, self.check_tasks, None),
            ("POST", "/v1/tasks/tk-nope/cancel", 404, self.check_tasks, None),
            ("GET", "/v1/tasks/%00", 404, self.check_generations, None),
            ("GET", "/v1/tasks/..%2F..%2Fetc%2Fpasswd", 404, self.check_generations, None),
            ("POST", "/v1/tasks//cancel", 404, self.check_generations, None),
            ("GET", "/v1/tasks/task-unified-", 400, self.check_unified, None),
            ("GET", "/v1/tasks/task-unified-12-ABCDEFGH", 400, self.check_unified, None),
            ("POST", "/v1/tasks/task-unified-x/cancel", 400, self.check_unified, None),
        ]
        for method, path, status, check, field in cases:
            with self.subTest("%s %s" % (method, path[:60])):
                before = self.task_count()
                r = self.send(method, path)
                check(r, status, field)
                self.assertEqual(self.task_count(), before)
        # A huge page is an empty page, not an overflow.
        r = self.send("GET", "/v1/tasks?page=2147483647&page_size=100")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.parsed(r)["data"]["tasks"], [])
        self.assert_alive()

    def test_another_keys_task_is_404_not_cancelled(self):
        r = self.send("POST", JOBS_CREATE, job())
        self.assertEqual(r.status, 200, r.body)
        task_id = self.parsed(r)["data"]["taskId"]
        r = self.send("POST", "/v1/tasks/%s/cancel" % task_id, key=self.other)
        self.check_generations(r, 404, None)
        r = self.send("GET", "/api/v1/jobs/recordInfo?taskId=" + task_id, key=self.other)
        self.check_jobs(r, 404, None)
        self.cancel_quietly(task_id)

    # --- regressions: server bugs this sweep found, now fixed
    def test_echoed_text_is_cut_on_a_character_boundary(self):
        """Error messages echo client text cut to N bytes (model to 100, URL to 200, task id
        to 128): a multi-byte character across the cut must not leave half a UTF-8 sequence
        in the body."""
        model = "a" * 99 + "\u00e9"       # byte 100 is the first byte of é
        url = "a" * 199 + "\u00e9"        # byte 200 likewise
        task_id = "a" * 127 + "\u00e9"    # byte 128 likewise
        cases = [
            ("unified model", "POST", GENERATIONS, uni(model=model), self.check_unified, 404),
            ("generations model", "POST", GENERATIONS, gen(model=model),
             self.check_generations, 404),
            ("tasks model", "POST", TASKS, task(model=model), self.check_tasks, 404),
            ("unified image URL", "POST", GENERATIONS, uni(image_urls=[url]),
             self.check_unified, 400),
            ("jobs input URL", "POST", JOBS_CREATE, i2i_job(input_urls=[url]),
             self.check_jobs, 422),
            ("tasks callback URL", "POST", TASKS, task(callback={"url": url}),
             self.check_tasks, 422),
            ("generations callback URL", "POST", GENERATIONS, gen(callback_url=url),
             self.check_generations, 400),
            ("jobs taskId", "GET", "/api/v1/jobs/recordInfo?taskId=" + urllib.parse.quote(task_id),
             None, self.check_jobs, 404),
            ("tasks id", "GET", "/v1/tasks/" + urllib.parse.quote("tk-" + task_id[3:]), None,
             self.check_tasks, 404),
        ]
        for name, method, path, body, check, status in cases:
            with self.subTest(name):
                check(self.send(method, path, body), status, None)

    def test_percent_decoded_bytes_are_not_echoed_raw(self):
        """A percent-encoded byte that is not UTF-8 (%FF) in a path or query must not reach
        the error message verbatim: the body stays valid UTF-8 JSON."""
        cases = [
            ("/api/v1/jobs/recordInfo?taskId=%FF%FE", "GET", self.check_jobs, 404),
            ("/api/v1/jobs/nothing%FF", "POST", self.check_jobs, 404),
            ("/v1/tasks/tk-%FF", "GET", self.check_tasks, 404),
            ("/v1/tasks/tk-%FF/cancel", "POST", self.check_tasks, 404),
            ("/v1/tasks/%FF%FE", "GET", self.check_generations, 404),
            ("/v1/nothing%FF", "GET", self.check_generations, 404),
        ]
        for path, method, check, status in cases:
            with self.subTest(path):
                check(self.send(method, path), status, None)

    def test_unknown_routes_are_not_called_missing_tasks(self):
        """An endpoint that does not exist is a 404 `not_found`, not a `task_not_found`."""
        err = self.check_generations(self.send("GET", "/v1/balance"), 404, None)
        self.assertEqual(err["code"], "not_found")
        r = self.send("GET", "/openai/v1/models")
        self.assertEqual(r.status, 404)
        self.assertIsNone(self.parsed(r)["error"]["code"])
        r = self.send("GET", "/api/v1/jobs/nothing")
        self.assertEqual(self.parsed(r)["code"], 404)

    def test_list_query_is_percent_decoded_once(self):
        """GET /v1/tasks must decode its query once: `%20` is part of a value (so `0 ` and
        `abc ` are bad pages), and `%26`/`%3D` cannot smuggle in another parameter."""
        for query in ("page=0%20", "page=abc%20", "page_size=1%26page_size%3D2"):
            with self.subTest(query):
                self.check_tasks(self.send("GET", "/v1/tasks?" + query), 400, "page")

    def test_openai_edit_garbage_mask_blames_the_mask(self):
        """A mask upload that is not an image is answered with param "mask", the offending
        field, in words about fields the client sent."""
        ctype, body = multipart([("prompt", "x")], [("image", "a.png", IMAGE),
                                                     ("mask", "m.png", b"not a png")])
        r = self.server.request("POST", OPENAI_EDIT, body=body, headers={"Content-Type": ctype},
                                key=self.key)
        self.check_openai(r, 400, "mask")

    def test_zz_server_survived_the_sweep(self):
        self.assert_alive()
        r = self.server.request("GET", "/readyz", timeout=5)
        self.assertEqual(r.status, 200)
        log = self.server.log_text()
        # A sanitizer's report, not the start-up line's "malloc: system (AddressSanitizer's)".
        for needle in ("terminate called", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:", "Assertion", "Segmentation"):
            self.assertNotIn(needle, log)


if __name__ == "__main__":
    unittest.main()
