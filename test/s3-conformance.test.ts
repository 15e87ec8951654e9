/**
 * The conformance suite, single-key and batched, on S3 storage (a real SeaweedFS on loopback), for
 * both connector kinds, and what the S3 backend promises beyond it: quotas,
 * checksums, stable listings, and typed errors for a bad configuration.
 */
import { describe, expect, it } from 'vitest';
import {
  type Connector,
  CorruptError,
  FS_CONNECTOR,
  InvalidArgumentError,
  InvalidPathError,
  loadConnector,
  NATIVE_FS,
  type OpenOptions,
  QuotaExceededError,
  StorageIoError,
} from '../host/index.js';
import { conformance } from './conformance.js';
import { batchConformance } from './conformance-batch.js';
import { bytes, rejectsWith, sha256 } from './helpers.js';
import { startStore } from './s3/seaweed.js';

const store = await startStore();

/** A tenant root string becomes its prefix in the bucket. */
const prefixOf = (root: string) => root.replace(/^\/+/, '');
// S3 keys hold at most 1024 bytes: prefix + layout + the key escaped (a non-ASCII byte takes 3).
const view = { objects: (root: string) => store.keys(prefixOf(root)), local: false, maxKeyBytes: 300 };

conformance('sandboxed fs connector on S3', (root, limits) => loadConnector(FS_CONNECTOR, { storage: store.storage(prefixOf(root)), limits, cacheDir: false }), view);
conformance('native fs fast path on S3', (root, limits) => loadConnector(NATIVE_FS, { storage: store.storage(prefixOf(root)), limits }), view);
batchConformance('sandboxed fs connector on S3', (root, limits) => loadConnector(FS_CONNECTOR, { storage: store.storage(prefixOf(root)), limits, cacheDir: false }), 180_000);
batchConformance('native fs fast path on S3', (root, limits) => loadConnector(NATIVE_FS, { storage: store.storage(prefixOf(root)), limits }), 180_000);

let n = 0;
const prefix = () => `s3-extra/${process.pid}/t${++n}`;

describe.each([
  ['sandboxed', (o: OpenOptions) => loadConnector(FS_CONNECTOR, { ...o, cacheDir: false })],
  ['native', (o: OpenOptions) => loadConnector(NATIVE_FS, o)],
] as [string, (o: OpenOptions) => Promise<Connector>][])('S3 storage, %s connector', (_, open) => {
  it('enforces byte and object quotas exactly on one node, counting replacements once', async () => {
    await using c = await open({ storage: store.storage(prefix()), quota: { bytes: 10_000, objects: 3 } });
    await c.put('a', bytes(4000));
    await c.put('a', bytes(6000)); // a replacement: 6000 stored, not 10 000
    await c.put('b', bytes(4000));
    await rejectsWith(c.put('c', bytes(1)), QuotaExceededError, 'ERR_KVBOX_QUOTA');
    expect(await c.exists('c')).toBe(false);
    await c.put('c', bytes(0));
    await rejectsWith(c.put('d', bytes(0)), QuotaExceededError, 'ERR_KVBOX_QUOTA');
    expect(c.stats()).toMatchObject({ bytesStored: 10_000, objects: 3, quotaRejections: 2 });
    expect(await c.remove('a')).toBe(true);
    expect(c.stats()).toMatchObject({ bytesStored: 4000, objects: 2 });
    await c.put('d', bytes(6000));
  });

  it('measures what is already stored when it opens', async () => {
    const p = prefix();
    {
      await using c = await open({ storage: store.storage(p) });
      for (let i = 0; i < 5; i++) await c.put(`k${i}`, bytes(1000 * (i + 1)));
    }
    await using again = await open({ storage: store.storage(p), quota: { bytes: 16_000 } });
    expect(again.stats()).toMatchObject({ bytesStored: 15_000, objects: 5 });
    await rejectsWith(again.put('more', bytes(1001)), QuotaExceededError, 'ERR_KVBOX_QUOTA');
  });

  it('verifies checksums stored as object metadata, refusing corrupted bytes', async () => {
    const p = prefix();
    await using c = await open({ storage: store.storage(p), checksums: true });
    const data = bytes(300_000);
    await c.put('k', data);
    expect(sha256((await c.get('k'))!)).toBe(sha256(data));
    const [key] = await store.keys(p);
    const url = `${store.endpoint}/kvbox/${p}/${key!.split('/').map(encodeURIComponent).join('/')}`;
    const crc = (await fetch(url, { method: 'HEAD' })).headers.get('x-amz-meta-kvbox-crc32c');
    expect(crc).toMatch(/^[0-9a-f]{8}$/);
    // Flip one bit behind kvbox's back, keeping the stored checksum: a real corruption.
    const bad = Buffer.from(data);
    bad[12_345]! ^= 1;
    expect((await fetch(url, { method: 'PUT', body: bad, headers: { 'x-amz-meta-kvbox-crc32c': crc! } })).status).toBe(200);
    await rejectsWith(c.get('k'), CorruptError, 'ERR_KVBOX_CORRUPT');
    await rejectsWith(c.getInto('k', Buffer.alloc(data.length)), CorruptError, 'ERR_KVBOX_CORRUPT');
  });

  it('lists in one stable order and resumes after a cursor', async () => {
    await using c = await open({ storage: store.storage(prefix()) });
    const keys = Array.from({ length: 23 }, (_, i) => `key-${i}`);
    for (const k of keys) await c.put(k, bytes(10));
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await c.listKeys({ limit: 5, ...(cursor ? { cursor } : {}) });
      pages.push(page.keys);
      cursor = page.cursor;
    } while (cursor);
    const all = pages.flat();
    expect([...all].sort()).toEqual([...keys].sort());
    const again: string[] = [];
    for await (const k of c.keys({ pageSize: 7 })) again.push(k);
    expect(again).toEqual(all);
  });
});

describe('S3 storage options', () => {
  it('refuses a missing bucket, a bad endpoint and unknown fields with typed errors', async () => {
    await rejectsWith(loadConnector(NATIVE_FS, { storage: { ...store.storage('x'), bucket: 'no-such-bucket' } }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadConnector(NATIVE_FS, { storage: { ...store.storage('x'), endpoint: 'ftp://127.0.0.1' } }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadConnector(NATIVE_FS, { storage: { ...store.storage('x'), extra: 1 } as never }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadConnector(NATIVE_FS, { storage: { kind: 'nfs' } as never }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
  });

  it("refuses an object key over S3's 1024 bytes before sending it, storing nothing", async () => {
    const p = prefix();
    await using c = await loadConnector(NATIVE_FS, { storage: store.storage(p) });
    const err = await rejectsWith(c.put('é'.repeat(400), bytes(1)), InvalidPathError, 'ERR_KVBOX_INVALID_PATH');
    expect(err.message).toMatch(/over S3's limit of 1024/);
    expect(await store.keys(p)).toEqual([]);
  });

  it('refuses wrong credentials at open with a typed error', async () => {
    const wrong = store.storage('x', { credentials: { accessKeyId: 'kvbox-test-key', secretAccessKey: 'not-the-secret' } });
    const err = await rejectsWith(loadConnector(NATIVE_FS, { storage: wrong }), StorageIoError, 'ERR_KVBOX_IO');
    expect(err.message).toMatch(/refused/);
  });

  it('needs no root, and lets two connectors share one prefix at once (no lock)', async () => {
    const p = prefix();
    await using a = await loadConnector(NATIVE_FS, { storage: store.storage(p) });
    await using b = await loadConnector(FS_CONNECTOR, { storage: store.storage(p), cacheDir: false });
    await a.put('shared', Buffer.from('from a'));
    expect((await b.get('shared'))?.toString()).toBe('from a');
  });
});
