// A local S3-compatible server for the tests: s3rver on an internal port, behind a front on
// 127.0.0.1 (port 0 unless S3RVER_PORT) that checks every request's AWS Signature V4 with the
// official AWS SDK's signer (@smithy/signature-v4), since s3rver itself only looks at the
// access key id of a V4 request. A wrong signature, a body that does not match its
// x-amz-content-sha256, or an expired presigned URL is answered 403 as S3 would. The key pair is
// s3rver's: S3RVER / S3RVER. Writes the front's port to PORT_FILE, logs each request to
// DATA_DIR.requests.log, and serves until SIGTERM.
//   node server.mjs DATA_DIR PORT_FILE [BUCKET]
// Faults, for the fault suite: while the file DATA_DIR.fault holds `500`, every request is
// answered 500 InternalError (after its body is read); while it holds `drop`, every request's
// connection is closed without an answer; `500 GET` (or `drop PUT`, …) does so to that method's
// requests only. Read on each request: write or delete it at any time.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import S3rver from 's3rver';

const [dir, portFile, bucket = 'imagegate'] = process.argv.slice(2);
if (!dir || !portFile) {
  console.error('usage: node server.mjs DATA_DIR PORT_FILE [BUCKET]');
  process.exit(2);
}
const SECRETS = { S3RVER: 'S3RVER' };
// One line per request ("METHOD URL verdict"), for tests that check which calls were made.
const requestLog = `${dir.replace(/\/+$/, '')}.requests.log`;
const faultFile = `${dir.replace(/\/+$/, '')}.fault`;

function currentFault() {
  try {
    return fs.readFileSync(faultFile, 'utf8').trim();
  } catch {
    return '';
  }
}

fs.mkdirSync(dir, { recursive: true });
const s3rver = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dir,
  silent: true,
  configureBuckets: [{ name: bucket }],
});
const inner = await s3rver.run();

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : null;
}

function s3Error(res, status, code, message) {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// Why the request's signature is not what the AWS SDK computes for it, or null when it is.
async function checkSignature(req, body) {
  const url = new URL(req.url, 'http://placeholder');
  const rawPath = req.url.split('?')[0];
  const query = {};
  for (const [k, v] of url.searchParams) {
    if (k !== 'X-Amz-Signature') query[k] = k in query ? [].concat(query[k], v) : v;
  }
  const presigned = url.searchParams.has('X-Amz-Signature');
  let credential;
  let signedHeaders;
  let provided;
  let date;
  if (presigned) {
    credential = url.searchParams.get('X-Amz-Credential');
    signedHeaders = url.searchParams.get('X-Amz-SignedHeaders');
    provided = url.searchParams.get('X-Amz-Signature');
    date = url.searchParams.get('X-Amz-Date');
  } else {
    const m = /^AWS4-HMAC-SHA256 Credential=([^,]+),\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]+)$/.exec(
      req.headers.authorization || '',
    );
    if (!m) return 'no AWS4-HMAC-SHA256 Authorization header';
    [, credential, signedHeaders, provided] = m;
    date = req.headers['x-amz-date'];
  }
  const [accessKeyId, , region, service] = (credential || '').split('/');
  if (!(accessKeyId in SECRETS)) return 'unknown access key ' + accessKeyId;
  const signingDate = parseAmzDate(date);
  if (!signingDate) return 'no X-Amz-Date';
  const headers = {};
  for (const name of signedHeaders.split(';')) headers[name] = req.headers[name] ?? '';
  if (!presigned) {
    const declared = req.headers['x-amz-content-sha256'];
    if (declared !== 'UNSIGNED-PAYLOAD' && declared !== createHash('sha256').update(body).digest('hex')) {
      return 'the body does not match x-amz-content-sha256';
    }
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: SECRETS[accessKeyId] },
    region,
    service,
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false, // S3 signs the path as sent, encoded once
    applyChecksum: false,
  });
  const request = { method: req.method, protocol: 'http:', hostname: 'placeholder', path: rawPath, query, headers };
  let expected;
  if (presigned) {
    const expiresIn = Number(url.searchParams.get('X-Amz-Expires'));
    if (signingDate.getTime() + expiresIn * 1000 < Date.now()) return 'expired';
    delete request.query['X-Amz-Algorithm'];
    delete request.query['X-Amz-Credential'];
    delete request.query['X-Amz-Date'];
    delete request.query['X-Amz-Expires'];
    delete request.query['X-Amz-SignedHeaders'];
    // S3 presigned URLs sign UNSIGNED-PAYLOAD: given as this header, neither signed nor
    // moved into the query, the signer takes it for the payload's hash.
    request.headers = { ...headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
    const signed = await signer.presign(request, {
      signingDate,
      expiresIn,
      unsignableHeaders: new Set(['x-amz-content-sha256']),
      unhoistableHeaders: new Set([...Object.keys(headers), 'x-amz-content-sha256']),
    });
    expected = signed.query['X-Amz-Signature'];
  } else {
    const signed = await signer.sign(request, { signingDate });
    expected = /Signature=([0-9a-f]+)/.exec(signed.headers.authorization)[1];
  }
  return expected === provided ? null : 'signature mismatch';
}

const front = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const [kind, method] = currentFault().split(/\s+/);
    const fault = !method || method === req.method ? kind : '';
    if (fault === 'drop') {
      fs.appendFileSync(requestLog, `${req.method} ${req.url} fault: dropped\n`);
      return req.socket.destroy();
    }
    if (fault === '500') {
      fs.appendFileSync(requestLog, `${req.method} ${req.url} fault: 500\n`);
      return s3Error(res, 500, 'InternalError', 'We encountered an internal error. Please try again.');
    }
    let why;
    try {
      why = await checkSignature(req, body);
    } catch (e) {
      why = 'cannot check: ' + e.message;
    }
    fs.appendFileSync(requestLog, `${req.method} ${req.url} ${why || 'signed'}\n`);
    if (why === 'expired') return s3Error(res, 403, 'AccessDenied', 'Request has expired');
    if (why) return s3Error(res, 403, 'SignatureDoesNotMatch', why);
    const headers = { ...req.headers, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    const upstream = http.request(
      { host: '127.0.0.1', port: inner.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (e) => s3Error(res, 502, 'InternalError', e.message));
    upstream.end(body);
  });
});
front.listen(Number(process.env.S3RVER_PORT || 0), '127.0.0.1', () => {
  fs.writeFileSync(portFile, `${front.address().port}\n`);
});
const stop = async () => {
  front.close();
  await s3rver.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
