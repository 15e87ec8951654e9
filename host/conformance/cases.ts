/**
 * The connector conformance cases: what every connector must do, written
 * once, run against every connector kind (kvbox's own test files, `kvbox
 * test`, an author's test runner through {@link runConformance}).
 */
import { readdirSync, readlinkSync } from 'node:fs';
import type { Connector } from '../connector.js';
import { ClosedError, InvalidArgumentError, InvalidKeyError, TooLargeError } from '../errors.js';
import type { Limits } from '../options.js';
import { bytes, equal, filesUnder, ok, random, rejectsWith, sha256, unicodeKey } from './check.js';

/** Opens the connector under test on tenant directory `root` (a fresh path), with `limits` when a case sets some. */
export type Opener = (root: string, limits?: Partial<Limits>) => Promise<Connector>;

/** What is really stored for a tenant, looked at from outside the connector. */
export interface StoreView {
  /** Every stored object (file or key) of the tenant opened on `root`, relative to it. */
  objects(root: string): Promise<string[]> | string[];
  /** Whether the tenant is a local directory (whose descriptors a connector holds while open). */
  local: boolean;
  /** The longest key the store can hold whatever its bytes, when below the default `limits.maxKeyBytes` (S3: 1024-byte object keys). */
  maxKeyBytes?: number;
}

/** A tenant directory on the local filesystem (the default). */
export const LOCAL_DIRECTORY: StoreView = { objects: filesUnder, local: true };

/** What a case gets: the opener, fresh tenant directories, and a view of what is stored. */
export interface CaseContext {
  open: Opener;
  /** A new, never-used tenant directory path. */
  tenant(): string;
  /** How to see what a tenant stores; a local directory when absent. */
  store?: StoreView;
}

/** One conformance case: a behaviour sentence and its check (rejects when the connector fails it). */
export interface ConformanceCase {
  readonly name: string;
  run(cx: CaseContext): Promise<void>;
}

const eq = (actual: unknown, expected: unknown, what?: string) => equal(actual, expected, what);

export const singleKeyCases: readonly ConformanceCase[] = [
  {
    name: 'stores and reads back empty, tiny, unaligned and multi-MiB objects',
    async run({ open, tenant }) {
      await using c = await open(tenant());
      for (const size of [0, 1, 511, 4095, 4096, 4097, 256 << 10, (4 << 20) + 1, 9 << 20]) {
        const data = bytes(size);
        await c.put(`obj-${size}`, data);
        const back = await c.get(`obj-${size}`);
        eq(back?.length, size, `get of a ${size}-byte object`);
        eq(sha256(back!), sha256(data), `bytes of a ${size}-byte object`);
        eq(await c.size(`obj-${size}`), size, `size of a ${size}-byte object`);
        eq(await c.exists(`obj-${size}`), true, `exists of a ${size}-byte object`);
      }
    },
  },
  {
    name: 'reads into caller-provided buffers of any alignment, refusing ones too small',
    async run({ open, tenant }) {
      await using c = await open(tenant());
      const target = Buffer.allocUnsafeSlow((8 << 20) + 8192);
      for (const size of [0, 1, 4097, 256 << 10, (4 << 20) + 3]) {
        const data = bytes(size);
        await c.put(`into-${size}`, data);
        for (const offset of [0, 1, 4096]) {
          const view = target.subarray(offset);
          eq(await c.getInto(`into-${size}`, view), size, `getInto of ${size} bytes at offset ${offset}`);
          eq(sha256(view.subarray(0, size)), sha256(data), `bytes read into offset ${offset}`);
        }
      }
      eq(await c.getInto('missing', target), undefined, 'getInto of a missing key');
      await rejectsWith(c.getInto('into-4097', new Uint8Array(4096)), TooLargeError, 'ERR_KVBOX_TOO_LARGE');
      await rejectsWith(c.getInto('into-1', 'nope' as never), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    },
  },
  {
    name: 'accepts any Uint8Array view, not only Buffers',
    async run({ open, tenant }) {
      await using c = await open(tenant());
      const backing = new Uint8Array(100).map((_, i) => i);
      await c.put('view', backing.subarray(10, 20));
      eq([...(await c.get('view'))!], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    },
  },
  {
    name: 'reports absent keys as undefined or false, not errors',
    async run({ open, tenant }) {
      await using c = await open(tenant());
      eq(await c.get('missing'), undefined, 'get');
      eq(await c.size('missing'), undefined, 'size');
      eq(await c.exists('missing'), false, 'exists');
      eq(await c.remove('missing'), false, 'remove');
    },
  },
  {
    name: 'overwrites atomically with larger and smaller objects',
    async run({ open, tenant }) {
      await using c = await open(tenant());
      for (const size of [10, 1 << 20, 3, 0, 5000]) {
        const data = bytes(size);
        await c.put('k', data);
        eq(sha256((await c.get('k'))!), sha256(data), `after overwriting with ${size} bytes`);
      }
    },
  },
  {
    name: 'removes objects',
    async run({ open, tenant }) {
      await using c = await open(tenant());
      await c.put('k', bytes(10));
      eq(await c.remove('k'), true, 'remove of a stored key');
      eq(await c.exists('k'), false, 'exists after remove');
      eq(await c.get('k'), undefined, 'get after remove');
      eq(await c.remove('k'), false, 'second remove');
    },
  },
  {
    name: 'lists every key exactly once across several pages',
    async run({ open, tenant }) {
      await using c = await open(tenant());
      const keys = Array.from({ length: 53 }, (_, i) => `model@1@0@${i.toString(16).padStart(8, '0')}@bf16`);
      await Promise.all(keys.map((k) => c.put(k, bytes(1))));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await c.listKeys({ cursor, limit: 7 });
        ok(page.keys.length <= 7, `a page of limit 7 held ${page.keys.length} keys`);
        seen.push(...page.keys);
        cursor = page.cursor;
        pages++;
      } while (cursor !== undefined);
      ok(pages >= 8, `53 keys in pages of 7 came in ${pages} pages`);
      eq(seen.sort(), [...keys].sort(), 'keys listed page by page');
      const iterated: string[] = [];
      for await (const k of c.keys({ pageSize: 10 })) iterated.push(k);
      eq(iterated.sort(), [...keys].sort(), 'keys listed by keys()');
    },
  },
  {
    name: 'round-trips keys with slashes, dots, unicode and escape characters, and lists them as put',
    async run({ open, tenant, store = LOCAL_DIRECTORY }) {
      const root = tenant();
      await using c = await open(root);
      const keys = ['a/b/c', '/leading', 'trailing/', '..', '.', '../../etc/passwd', 'x/../../y', '.kvbox-tmp-x', '%2F', 'space key', 'ключ', '模型@1@0', '🚀', 'tab\tnew\nline', 'a'.repeat(300)];
      for (const [i, k] of keys.entries()) await c.put(k, Buffer.from(`v${i}`));
      for (const [i, k] of keys.entries()) eq((await c.get(k))?.toString(), `v${i}`, `get ${JSON.stringify(k)}`);
      const listed: string[] = [];
      for await (const k of c.keys()) listed.push(k);
      eq(listed.sort(), [...keys].sort(), 'keys listed');
      // Nothing escaped the tenant directory, and nothing was left half-written.
      for (const f of await store.objects(root)) {
        ok(!f.startsWith('..'), `${f} is outside the tenant directory`);
        ok(!/\.kvbox-tmp/.test(f), `${f} is a temporary file left behind`);
      }
    },
  },
  {
    name: 'round-trips arbitrary unicode keys (150 random keys, seeded)',
    async run({ open, tenant, store = LOCAL_DIRECTORY }) {
      const maxBytes = store.maxKeyBytes ?? 1024;
      await using c = await open(tenant(), store.maxKeyBytes === undefined ? undefined : { maxKeyBytes: maxBytes });
      const seed = 0x6b76626f;
      const next = random(seed);
      for (let i = 0; i < 150; i++) {
        const k = unicodeKey(next, 200, maxBytes);
        const data = bytes(Math.floor(next() * 64));
        await c.put(k, data);
        const back = await c.get(k);
        ok(back !== undefined && Buffer.compare(back, data) === 0, `key #${i} of seed ${seed} (${JSON.stringify(k)}) read back different bytes`);
        eq(await c.remove(k), true, `remove of key #${i} of seed ${seed} (${JSON.stringify(k)})`);
      }
    },
  },
  {
    name: 'rejects empty keys, keys containing NUL and non-string keys, writing nothing',
    async run({ open, tenant, store = LOCAL_DIRECTORY }) {
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
      eq(await store.objects(root), [], 'files written');
    },
  },
  {
    name: 'accepts keys up to the maximum length in bytes and rejects longer ones',
    async run({ open, tenant, store = LOCAL_DIRECTORY }) {
      const root = tenant();
      const max = store.maxKeyBytes ?? 1024;
      await using c = await open(root, store.maxKeyBytes === undefined ? undefined : { maxKeyBytes: max });
      const ascii = 'k'.repeat(max);
      const multi = 'é'.repeat(max / 2); // max UTF-8 bytes
      await c.put(ascii, Buffer.from('a'));
      await c.put(multi, Buffer.from('m'));
      eq((await c.get(ascii))?.toString(), 'a', `a ${max}-byte ASCII key`);
      eq((await c.get(multi))?.toString(), 'm', `a ${max}-byte two-byte-character key`);
      await rejectsWith(c.put('k'.repeat(max + 1), bytes(1)), InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
      await rejectsWith(c.put('é'.repeat(max / 2 + 1), bytes(1)), InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
      eq((await store.objects(root)).length, 2, 'objects stored');
    },
  },
  {
    name: 'honours a lower key limit and the object size limit, writing nothing',
    async run({ open, tenant, store = LOCAL_DIRECTORY }) {
      const root = tenant();
      await using c = await open(root, { maxKeyBytes: 8, maxObjectBytes: 1000 });
      await rejectsWith(c.put('123456789', bytes(1)), InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
      await rejectsWith(c.put('big', bytes(1001)), TooLargeError, 'ERR_KVBOX_TOO_LARGE');
      await c.put('ok', bytes(1000));
      eq((await store.objects(root)).length, 1, 'objects stored');
    },
  },
  {
    name: 'refuses every call once closed, and closing twice is harmless',
    async run({ open, tenant }) {
      const c = await open(tenant());
      await c.put('k', bytes(3));
      await c.ping();
      await c.close();
      await c.close();
      eq(c.closed, true, 'closed');
      await rejectsWith(c.ping(), ClosedError, 'ERR_KVBOX_CLOSED');
      await rejectsWith(c.get('k'), ClosedError, 'ERR_KVBOX_CLOSED');
      await rejectsWith(c.put('k', bytes(1)), ClosedError, 'ERR_KVBOX_CLOSED');
      await rejectsWith(c.listKeys(), ClosedError, 'ERR_KVBOX_CLOSED');
    },
  },
  {
    name: 'frees the directory at close: no descriptor left open, the directory can be reopened',
    async run({ open, tenant, store = LOCAL_DIRECTORY }) {
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
      eq(holdsRoot(), store.local, 'an open connector holds its directory (a local one)');
      await c.close();
      ok(!holdsRoot(), 'descriptors under the root after close');
      eq(c.stats().objects, 1, 'counters survive close');
      await using again = await open(root);
      eq(await again.exists('k'), true, 'the object after reopening');
    },
  },
];
