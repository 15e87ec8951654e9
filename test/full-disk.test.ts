/**
 * A full disk: on a small ext4 image loop-mounted by the test, puts until
 * the device fills must fail with NoSpaceError, leave no partial object or
 * temporary file, keep every acknowledged object intact, and work again
 * once space is freed. Needs root and a loop device; skipped, saying why,
 * where mounting is impossible.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connector, FS_CONNECTOR, loadConnector, NATIVE_FS, NoSpaceError } from '../host/index.js';
import { bytes, filesUnder, mountSmallDisk, rejectsWith, scratch, sha256 } from './helpers.js';

const base = scratch('full-disk');
const image = join(base, 'disk.img');
const mnt = join(base, 'mnt');

const unavailable = mountSmallDisk(image, mnt, '48M');
if (unavailable) console.warn(`full-disk tests skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined).each([
  ['sandboxed', FS_CONNECTOR],
  ['native', NATIVE_FS],
])('a full disk (%s)', (name, source) => {
  let store: Connector;
  const root = join(mnt, name);
  beforeAll(async () => {
    store = await loadConnector(source, { root, cacheDir: false });
  });
  afterAll(async () => {
    await store.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('fails puts with NoSpaceError, writes nothing partial, keeps what was stored, and recovers when space is freed', async () => {
    const stored = new Map<string, string>();
    let err: unknown;
    for (let i = 0; i < 100 && err === undefined; i++) {
      const data = bytes(1536 * 1024 + i * 4097);
      try {
        await store.put(`obj-${i}`, data);
        stored.set(`obj-${i}`, sha256(data));
      } catch (e) {
        err = e;
        await rejectsWith(Promise.reject(e), NoSpaceError, 'ERR_KVBOX_NO_SPACE');
        expect(await store.exists(`obj-${i}`), 'the refused object is absent').toBe(false);
      }
    }
    expect(err, 'the 48 MiB disk filled up').toBeInstanceOf(NoSpaceError);
    expect(stored.size).toBeGreaterThan(10);
    expect(filesUnder(root).filter((f) => f.includes('.kvbox-tmp-'))).toEqual([]);
    for (const [key, digest] of stored) expect(sha256((await store.get(key))!), key).toBe(digest);
    expect(store.stats().objects).toBe(stored.size);

    const freed = [...stored.keys()].slice(0, 3);
    for (const key of freed) expect(await store.remove(key)).toBe(true);
    const again = bytes(1024 * 1024);
    await store.put('after-freeing', again);
    expect(sha256((await store.get('after-freeing'))!)).toBe(sha256(again));
  });
});
