// The S3 component under Node.js, transpiled by jco (run.sh does that): the same calls an
// app makes, against the S3 server named by AWS_ENDPOINT_URL and friends. Exits non-zero,
// saying why, on any mismatch.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { storage } from './out/storage.js';

const { Store } = storage;
const env = (name) => process.env[name] ?? assert.fail(`${name} is not set`);
const store = Store.open({
  bucket: env('S3_BUCKET'),
  endpointUrl: env('AWS_ENDPOINT_URL'),
  region: env('AWS_REGION'),
  accessKeyId: env('AWS_ACCESS_KEY_ID'),
  secretAccessKey: env('AWS_SECRET_ACCESS_KEY'),
  prefix: `node-${process.pid}/`,
});
// Records take every field that isn't an `option`: lists empty, records of options `{}`.
const plain = { metadata: [], attributes: {}, tags: [] };
const sha = (bytes) => createHash('sha256').update(bytes).digest('hex');

// put with a content type and metadata, then info and get-bytes.
const report = new TextEncoder().encode('Quarterly report\n'.repeat(1000));
const stored = store.put('docs/report.txt', report, { ...plain, contentType: 'text/plain', metadata: [['original-name', 'report.txt']] });
assert.equal(stored.size, BigInt(report.length));
const info = store.info('docs/report.txt', { conditions: {} });
assert.equal(info.contentType, 'text/plain');
assert.deepEqual(info.metadata, [['original-name', 'report.txt']]);
assert.equal(sha(store.getBytes('docs/report.txt')), sha(report));

// A multipart upload written piece by piece, and a checked streaming read back.
const big = new Uint8Array(12 * 1024 * 1024).map((_, i) => (i * 7919) % 251);
const writer = store.writer('docs/big.bin', plain);
for (let at = 0; at < big.length; at += 1 << 20) writer.write(big.subarray(at, at + (1 << 20)));
assert.equal(writer.finish().size, BigInt(big.length));
// Fetched in parallel ranges (12 MiB: two 8 MiB parts), read back in order and checked.
const body = store.get('docs/big.bin', { conditions: {}, parallel: true });
const hash = createHash('sha256');
for (let chunk = body.read(1n << 20n); chunk.length > 0; chunk = body.read(1n << 20n)) hash.update(chunk);
assert.equal(hash.digest('hex'), sha(big));

// list by prefix, keys relative to the store's prefix.
const listing = store.list('docs/', {});
const keys = [];
// Entries: files (and, with a delimiter, folders).
for (let page = listing.nextPage(); page !== undefined; page = listing.nextPage()) keys.push(...page.map((e) => e.val.key));
assert.deepEqual(keys, ['docs/big.bin', 'docs/report.txt']);

// A presigned URL, fetched by Node's own HTTP client.
const url = store.url('docs/report.txt', { expiresIn: 600n });
const fetched = new Uint8Array(await (await fetch(url)).arrayBuffer());
assert.equal(sha(fetched), sha(report));

// Typed errors, never exceptions of another kind.
assert.throws(() => store.getBytes('docs/missing'), (e) => e.payload?.tag === 'not-found');
assert.throws(() => store.put('../escape', report, plain), (e) => e.payload?.tag === 'invalid-key');

store.deleteMany(['docs/report.txt', 'docs/big.bin']);
assert.equal(store.exists('docs/report.txt'), false);
console.log('node: put, info, get-bytes, writer (multipart), parallel checked read, list, presigned URL, typed errors, delete-many: ok');
