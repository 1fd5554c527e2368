// The official `openai` npm SDK against imagegate's synchronous OpenAI dialect.
//
//   IMAGEGATE_BASE_URL  e.g. http://127.0.0.1:PORT/openai/v1
//   IMAGEGATE_KEY       a valid imagegate API key
//   IMAGEGATE_FIXTURES  a directory with input.png (64x64 RGB) and mask.png (64x64 RGBA,
//                       transparent left half)
//
// Run: cd tests/node && npm install && npm test   (Node 18 or 20; node:test is built in)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';

// Missing configuration fails every test loudly instead of skipping: a skipped run would pass.
function config() {
  const missing = ['IMAGEGATE_BASE_URL', 'IMAGEGATE_KEY', 'IMAGEGATE_FIXTURES'].filter(
    (name) => !process.env[name],
  );
  if (missing.length > 0) {
    throw new Error(`set ${missing.join(', ')} (see the header of this file)`);
  }
  return {
    baseURL: process.env.IMAGEGATE_BASE_URL,
    apiKey: process.env.IMAGEGATE_KEY,
    fixtures: process.env.IMAGEGATE_FIXTURES,
  };
}

// Generation is synchronous at this endpoint: allow it time, and never retry (a retry would
// hide a 5xx and generate twice).
function client(apiKey = config().apiKey) {
  return new OpenAI({ apiKey, baseURL: config().baseURL, maxRetries: 0, timeout: 180_000 });
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// Width and height from a PNG's IHDR chunk (always the first chunk).
function pngSize(bytes) {
  assert.ok(bytes.length >= 24, `too short for a PNG: ${bytes.length} bytes`);
  assert.ok(bytes.subarray(0, 8).equals(PNG_SIGNATURE), 'not a PNG signature');
  assert.equal(bytes.toString('latin1', 12, 16), 'IHDR', 'first chunk is not IHDR');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

function fixture(name) {
  return path.join(config().fixtures, name);
}

async function upload(name) {
  return toFile(fs.createReadStream(fixture(name)), name, { type: 'image/png' });
}

function checkUsage(usage) {
  assert.ok(usage, 'usage is missing');
  for (const field of ['input_tokens', 'output_tokens', 'total_tokens']) {
    assert.ok(Number.isInteger(usage[field]) && usage[field] >= 0, `usage.${field}`);
  }
  assert.ok(Number.isInteger(usage.input_tokens_details?.text_tokens), 'text_tokens');
  assert.ok(Number.isInteger(usage.input_tokens_details?.image_tokens), 'image_tokens');
  assert.ok(usage.output_tokens > 0, 'an image costs output tokens');
  assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
  assert.equal(
    usage.input_tokens,
    usage.input_tokens_details.text_tokens + usage.input_tokens_details.image_tokens,
  );
}

test('(a) images.generate returns a 1024x1024 PNG as b64_json, with usage', async () => {
  const res = await client().images.generate({
    model: 'gpt-image-2',
    prompt: 'a lighthouse on a cliff at dusk, oil painting',
    size: '1024x1024',
  });
  assert.ok(Number.isInteger(res.created) && res.created > 1_600_000_000, 'created (unix s)');
  assert.equal(res.data?.length, 1);
  assert.equal(res.data[0].url, undefined, 'GPT image models return no URL');
  const png = Buffer.from(res.data[0].b64_json, 'base64');
  assert.deepEqual(pngSize(png), { width: 1024, height: 1024 });
  assert.equal(res.size, '1024x1024');
  assert.equal(res.output_format, 'png');
  assert.ok(['low', 'medium', 'high'].includes(res.quality), `quality ${res.quality}`);
  assert.ok(['opaque', 'transparent'].includes(res.background), `background ${res.background}`);
  checkUsage(res.usage);
});

test('(b) images.edit with an image and a mask returns a PNG the size of the input', async () => {
  const input = pngSize(fs.readFileSync(fixture('input.png')));
  const res = await client().images.edit({
    model: 'gpt-image-2',
    image: await upload('input.png'),
    mask: await upload('mask.png'),
    prompt: 'paint the masked half a deep blue',
  });
  assert.equal(res.data?.length, 1);
  const png = Buffer.from(res.data[0].b64_json, 'base64');
  assert.deepEqual(pngSize(png), input);
  assert.equal(res.size, `${input.width}x${input.height}`);
  checkUsage(res.usage);
});

test('(b2) images.edit with an array of images (sent as image[]) and a mask', async () => {
  const input = pngSize(fs.readFileSync(fixture('input.png')));
  const res = await client().images.edit({
    model: 'gpt-image-2',
    image: [await upload('input.png'), await upload('input.png')],
    mask: await upload('mask.png'),
    prompt: 'blend the two pictures',
  });
  assert.equal(res.data?.length, 1);
  assert.deepEqual(pngSize(Buffer.from(res.data[0].b64_json, 'base64')), input);
});

test('(c) an invalid request throws a 400 APIError naming the parameter', async () => {
  await assert.rejects(
    client().images.generate({ model: 'gpt-image-2', prompt: 'too many', n: 11 }),
    (err) => {
      assert.ok(err instanceof OpenAI.APIError, `not an APIError: ${err}`);
      assert.ok(err instanceof OpenAI.BadRequestError, 'not a BadRequestError');
      assert.equal(err.status, 400);
      assert.equal(err.type, 'invalid_request_error');
      assert.equal(err.param, 'n');
      assert.equal(err.code, 'integer_above_max_value');
      assert.match(err.message, /^400 Invalid 'n': integer above maximum value/);
      return true;
    },
  );
});

test('(d) a bad API key throws AuthenticationError (401)', async () => {
  await assert.rejects(
    client('sk-imagegate-not-a-real-key').images.generate({ model: 'gpt-image-2', prompt: 'x' }),
    (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `not an AuthenticationError: ${err}`);
      assert.equal(err.status, 401);
      // What OpenAI answers for a wrong key.
      assert.equal(err.type, 'invalid_request_error');
      assert.equal(err.code, 'invalid_api_key');
      return true;
    },
  );
});
