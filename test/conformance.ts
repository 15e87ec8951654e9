/**
 * The connector conformance suite, written once and run against every
 * connector kind (see *.test.ts files that call it).
 */
import { readdirSync, readlinkSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClosedError, type Connector, InvalidArgumentError, InvalidKeyError, TooLargeError } from '../host/index.js';
import { bytes, filesUnder, rejectsWith, scratch, sha256 } from './helpers.js';

/** Opens a connector of the kind under test on `root`. */
export type Opener = (root: string, limits?: Record<string, number>) => Promise<Connector>;

/** What is really stored for a tenant, looked at from outside the connector. */
export interface StoreView {
  /** Every stored object (file or key) of the tenant opened on `root`, relative to it. */
  objects(root: string): Promise<string[]> | string[];
  /** Whether the tenant is a local directory (whose descriptors a connector holds while open). */
  local: boolean;
  /** The longest key the store can hold whatever its bytes, when below the default `limits.maxKeyBytes` (S3: 1024-byte object keys). */
  maxKeyBytes?: number;
}

/** A tenant directory on the local filesystem. */
export const LOCAL_DIRECTORY: StoreView = { objects: filesUnder, local: true };

export function conformance(kind: string, open: Opener, store: StoreView = LOCAL_DIRECTORY): void {
  describe(`conformance: ${kind}`, () => {
    const base = scratch(kind.replace(/\W+/g, '-'));
    let n = 0;
    const tenant = () => `${base}/t${++n}`;

    it('stores and reads back empty, tiny, unaligned and multi-MiB objects', async () => {
      await using c = await open(tenant());
      for (const size of [0, 1, 511, 4095, 4096, 4097, 256 << 10, (4 << 20) + 1, 9 << 20]) {
        const data = bytes(size);
        await c.put(`obj-${size}`, data);
        const back = await c.get(`obj-${size}`);
        expect(back?.length, `size ${size}`).toBe(size);
        expect(sha256(back!)).toBe(sha256(data));
        expect(await c.size(`obj-${size}`)).toBe(size);
        expect(await c.exists(`obj-${size}`)).toBe(true);
      }
    });

    it('reads into caller-provided buffers of any alignment, refusing ones too small', async () => {
      await using c = await open(tenant());
      const target = Buffer.allocUnsafeSlow((8 << 20) + 8192);
      for (const size of [0, 1, 4097, 256 << 10, (4 << 20) + 3]) {
        const data = bytes(size);
        await c.put(`into-${size}`, data);
        for (const offset of [0, 1, 4096]) {
          const view = target.subarray(offset);
          expect(await c.getInto(`into-${size}`, view), `size ${size} offset ${offset}`).toBe(size);
          expect(sha256(view.subarray(0, size))).toBe(sha256(data));
        }
      }
      expect(await c.getInto('missing', target)).toBeUndefined();
      await rejectsWith(c.getInto('into-4097', new Uint8Array(4096)), TooLargeError, 'ERR_KVBOX_TOO_LARGE');
      await rejectsWith(c.getInto('into-1', 'nope' as never), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    });

    it('accepts any Uint8Array view, not only Buffers', async () => {
      await using c = await open(tenant());
      const backing = new Uint8Array(100).map((_, i) => i);
      await c.put('view', backing.subarray(10, 20));
      expect([...(await c.get('view'))!]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    });

    it('reports absent keys as undefined or false, not errors', async () => {
      await using c = await open(tenant());
      expect(await c.get('missing')).toBeUndefined();
      expect(await c.size('missing')).toBeUndefined();
      expect(await c.exists('missing')).toBe(false);
      expect(await c.remove('missing')).toBe(false);
    });

    it('overwrites atomically with larger and smaller objects', async () => {
      await using c = await open(tenant());
      for (const size of [10, 1 << 20, 3, 0, 5000]) {
        const data = bytes(size);
        await c.put('k', data);
        expect(sha256((await c.get('k'))!)).toBe(sha256(data));
      }
    });

    it('removes objects', async () => {
      await using c = await open(tenant());
      await c.put('k', bytes(10));
      expect(await c.remove('k')).toBe(true);
      expect(await c.exists('k')).toBe(false);
      expect(await c.get('k')).toBeUndefined();
      expect(await c.remove('k')).toBe(false);
    });

    it('lists every key exactly once across several pages', async () => {
      await using c = await open(tenant());
      const keys = Array.from({ length: 53 }, (_, i) => `model@1@0@${i.toString(16).padStart(8, '0')}@bf16`);
      await Promise.all(keys.map((k) => c.put(k, bytes(1))));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await c.listKeys({ cursor, limit: 7 });
        expect(page.keys.length).toBeLessThanOrEqual(7);
        seen.push(...page.keys);
        cursor = page.cursor;
        pages++;
      } while (cursor !== undefined);
      expect(pages).toBeGreaterThanOrEqual(8);
      expect(seen.sort()).toEqual([...keys].sort());
      const iterated: string[] = [];
      for await (const k of c.keys({ pageSize: 10 })) iterated.push(k);
      expect(iterated.sort()).toEqual([...keys].sort());
    });

    it('round-trips keys with slashes, dots, unicode and escape characters, and lists them as put', async () => {
      const root = tenant();
      await using c = await open(root);
      const keys = ['a/b/c', '/leading', 'trailing/', '..', '.', '../../etc/passwd', 'x/../../y', '.kvbox-tmp-x', '%2F', 'space key', 'ключ', '模型@1@0', '🚀', 'tab\tnew\nline', 'a'.repeat(300)];
      for (const [i, k] of keys.entries()) await c.put(k, Buffer.from(`v${i}`));
      for (const [i, k] of keys.entries()) expect((await c.get(k))?.toString(), k).toBe(`v${i}`);
      const listed: string[] = [];
      for await (const k of c.keys()) listed.push(k);
      expect(listed.sort()).toEqual([...keys].sort());
      // Nothing escaped the tenant directory, and nothing was left half-written.
      for (const f of await store.objects(root)) {
        expect(f.startsWith('..')).toBe(false);
        expect(f).not.toMatch(/\.kvbox-tmp/);
      }
    });

    it('round-trips arbitrary unicode keys (property)', async () => {
      await using c = await open(tenant());
      const key = fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }).filter((k) => !k.includes('\0') && Buffer.byteLength(k) <= 1024);
      await fc.assert(
        fc.asyncProperty(key, fc.uint8Array({ maxLength: 64 }), async (k, data) => {
          await c.put(k, data);
          const back = await c.get(k);
          expect(Buffer.compare(back!, Buffer.from(data))).toBe(0);
          expect(await c.remove(k)).toBe(true);
        }),
        { numRuns: 150 },
      );
    });

    it('rejects empty keys, keys containing NUL and non-string keys, writing nothing', async () => {
      const root = tenant();
      await using c = await open(root);
      await rejectsWith(c.put('', bytes(1)), InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
      await rejectsWith(c.put('a\0b', bytes(1)), InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
      await rejectsWith(c.get('\0'), InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
      await rejectsWith(c.put(42 as unknown as string, bytes(1)), InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
      await rejectsWith(c.exists(undefined as unknown as string), InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
      await rejectsWith(c.put('k', 'text' as unknown as Buffer), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
      await rejectsWith(c.put('k', [1, 2] as unknown as Buffer), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
      await rejectsWith(c.listKeys({ limit: 0 }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
      expect(await store.objects(root)).toEqual([]);
    });

    it('accepts keys up to the maximum length in bytes and rejects longer ones', async () => {
      const root = tenant();
      const max = store.maxKeyBytes ?? 1024;
      await using c = await open(root, store.maxKeyBytes === undefined ? undefined : { maxKeyBytes: max });
      const ascii = 'k'.repeat(max);
      const multi = 'é'.repeat(max / 2); // max UTF-8 bytes
      await c.put(ascii, Buffer.from('a'));
      await c.put(multi, Buffer.from('m'));
      expect((await c.get(ascii))?.toString()).toBe('a');
      expect((await c.get(multi))?.toString()).toBe('m');
      await rejectsWith(c.put('k'.repeat(max + 1), bytes(1)), InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
      await rejectsWith(c.put('é'.repeat(max / 2 + 1), bytes(1)), InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
      expect(await store.objects(root)).toHaveLength(2);
    });

    it('honours a lower key limit and the object size limit, writing nothing', async () => {
      const root = tenant();
      await using c = await open(root, { maxKeyBytes: 8, maxObjectBytes: 1000 });
      await rejectsWith(c.put('123456789', bytes(1)), InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
      await rejectsWith(c.put('big', bytes(1001)), TooLargeError, 'ERR_KVBOX_TOO_LARGE');
      await c.put('ok', bytes(1000));
      expect(await store.objects(root)).toHaveLength(1);
    });

    it('refuses every call once closed, and closing twice is harmless', async () => {
      const c = await open(tenant());
      await c.put('k', bytes(3));
      await c.ping();
      await c.close();
      await c.close();
      expect(c.closed).toBe(true);
      await rejectsWith(c.ping(), ClosedError, 'ERR_KVBOX_CLOSED');
      await rejectsWith(c.get('k'), ClosedError, 'ERR_KVBOX_CLOSED');
      await rejectsWith(c.put('k', bytes(1)), ClosedError, 'ERR_KVBOX_CLOSED');
      await rejectsWith(c.listKeys(), ClosedError, 'ERR_KVBOX_CLOSED');
    });

    it('frees the directory at close: no descriptor left open, the directory can be reopened', async () => {
      const root = tenant();
      const holdsRoot = () =>
        readdirSync('/proc/self/fd').some((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`).startsWith(root);
          } catch {
            return false; // closed while we looked
          }
        });
      const c = await open(root);
      await c.put('k', bytes(3));
      expect(holdsRoot()).toBe(store.local);
      await c.close();
      expect(holdsRoot(), 'descriptors under the root after close').toBe(false);
      expect(c.stats().objects, 'counters survive close').toBe(1);
      await using again = await open(root);
      expect(await again.exists('k')).toBe(true);
    });
  });
}
