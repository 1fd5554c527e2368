// Reads a bucket with the official AWS SDK, as any S3 client would, and prints JSON on stdout:
// {"keys": [every key in the bucket], "objects": {KEY: {"size", "sha256", "contentLength",
// "etag"}}}
// for the keys named on the command line (a missing one maps to null).
//   S3_ENDPOINT=http://127.0.0.1:PORT node read_back.mjs BUCKET [KEY...]
import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  S3Client,
} from '@aws-sdk/client-s3';

const [bucket, ...keys] = process.argv.slice(2);
const client = new S3Client({
  endpoint: process.env.S3_ENDPOINT,
  region: process.env.S3_REGION || 'us-east-1',
  forcePathStyle: true,
  credentials: {
    accessKeyId: process.env.S3_ACCESS_KEY_ID || 'S3RVER',
    secretAccessKey: process.env.S3_SECRET_ACCESS_KEY || 'S3RVER',
  },
});

const all = [];
let token;
do {
  const page = await client.send(
    new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
  );
  for (const o of page.Contents ?? []) all.push(o.Key);
  token = page.IsTruncated ? page.NextContinuationToken : undefined;
} while (token);

const objects = {};
for (const key of keys) {
  try {
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = Buffer.from(await got.Body.transformToByteArray());
    objects[key] = {
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      contentLength: got.ContentLength,
      etag: got.ETag,
    };
  } catch (e) {
    if (!(e instanceof NoSuchKey)) throw e;
    objects[key] = null;
  }
}
process.stdout.write(JSON.stringify({ keys: all.sort(), objects }) + '\n');
