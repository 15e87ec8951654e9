/**
 * Conformance of the batched calls (`existsMany`, `sizeMany`, `getMany`,
 * `getManyInto`, `putMany`, `removeMany`) as a connector serves them: a
 * 0.2.0 component through its own batched exports (or the SDK's loops), a
 * 0.1.0 one through the host's loop over its single-key calls. The host's
 * own argument checks, aborts and close are tested in kvbox's vitest files.
 */
import { bytes, clean, equal, ok, random, sha256 } from './check.js';
import type { ConformanceCase } from './cases.js';

const SENTINEL = 0xa5;

export const batchCases: readonly ConformanceCase[] = [
  {
    name: 'batches: answers empty batches with empty results',
    async run({ open, tenant }) {
      await using c = await open(tenant());
      equal(await c.existsMany([]), { exists: [], errors: new Map() }, 'existsMany([])');
      equal(await c.sizeMany([]), { sizes: [], errors: new Map() }, 'sizeMany([])');
      equal(await c.getMany([]), { values: [], errors: new Map() }, 'getMany([])');
      equal(await c.putMany([]), { stored: [], errors: new Map() }, 'putMany([])');
      equal(await c.removeMany([]), { removed: [], errors: new Map() }, 'removeMany([])');
      const into = await c.getManyInto([], []);
      equal([into.hits.length, into.lengths.length, into.errors.size], [0, 0, 0], 'getManyInto([], [])');
    },
  },
  {
    name: 'batches: round-trips 64 × 1 MiB through putMany and getManyInto into unaligned buffers',
    async run({ open, tenant }) {
      await using c = await open(tenant());
      const keys = Array.from({ length: 64 }, (_, i) => `model@1@0@${i.toString(16).padStart(8, '0')}@bf16`);
      const data = keys.map((_, i) => bytes((1 << 20) + (i % 3)));
      const put = clean(await c.putMany(keys.map((k, i) => [k, data[i]!] as const)), 'putMany');
      ok(put.stored.every(Boolean), 'every key stored');
      const slot = (1 << 20) + 4096;
      const backing = Buffer.allocUnsafeSlow(64 * slot + 1);
      const bufs = keys.map((_, i) => backing.subarray(1 + i * slot, 1 + (i + 1) * slot));
      const got = clean(await c.getManyInto(keys, bufs), 'getManyInto');
      keys.forEach((k, i) => {
        equal([got.hits[i], got.lengths[i]], [1, data[i]!.length], `getManyInto hit and length of ${k}`);
        equal(sha256(bufs[i]!.subarray(0, data[i]!.length)), sha256(data[i]!), `bytes of ${k}`);
      });
      equal(clean(await c.sizeMany(keys), 'sizeMany').sizes, data.map((d) => d.length), 'sizeMany');
      const whole = clean(await c.getMany(keys.slice(0, 8)), 'getMany');
      whole.values.forEach((v, i) => equal(v && sha256(v), sha256(data[i]!), `getMany of ${keys[i]}`));
    },
  },
  {
    name: 'batches: handles 10 000 keys in one batch, in order',
    async run({ open, tenant }) {
      await using c = await open(tenant());
      const keys = Array.from({ length: 10_000 }, (_, i) => `k/${i}`);
      clean(await c.putMany(keys.filter((_, i) => i % 2 === 0).map((k) => [k, Buffer.from(k)] as const)), 'putMany');
      const { exists } = clean(await c.existsMany(keys), 'existsMany');
      ok(
        exists.every((e, i) => e === (i % 2 === 0)),
        'existsMany answers in the order of its keys',
      );
      const sizes = clean(await c.sizeMany(keys), 'sizeMany');
      ok(
        sizes.sizes.every((s, i) => s === (i % 2 === 0 ? keys[i]!.length : undefined)),
        'sizeMany answers in order',
      );
      const removed = clean(await c.removeMany(keys), 'removeMany');
      ok(
        removed.removed.every((r, i) => r === (i % 2 === 0)),
        'removeMany answers in order',
      );
      ok(!clean(await c.existsMany(keys), 'existsMany').exists.some(Boolean), 'nothing left after removeMany');
    },
  },
  {
    name: 'batches: applies repeated keys in order: the later put wins, the second remove finds nothing',
    async run({ open, tenant }) {
      await using c = await open(tenant());
      const put = clean(
        await c.putMany([
          ['k', Buffer.from('first')],
          ['other', Buffer.from('o')],
          ['k', Buffer.from('second')],
          ['k', Buffer.from('third!')],
        ]),
        'putMany',
      );
      equal(put.stored, [true, true, true, true], 'stored');
      equal((await c.get('k'))?.toString(), 'third!', 'the last put of a key wins');
      const bufs = [Buffer.alloc(8), Buffer.alloc(8)];
      const into = clean(await c.getManyInto(['k', 'k'], bufs), 'getManyInto');
      equal([...into.lengths], [6, 6], 'getManyInto of one key twice');
      equal(
        bufs.map((b) => b.subarray(0, 6).toString()),
        ['third!', 'third!'],
      );
      equal(clean(await c.removeMany(['k', 'k', 'other']), 'removeMany').removed, [true, false, true], 'removeMany of one key twice');
    },
  },
  {
    name: "batches: leaves the buffers of missing keys and the bytes after each object untouched, and fails a buffer too small alone",
    async run({ open, tenant }) {
      await using c = await open(tenant());
      await c.putMany([
        ['a', bytes(5000)],
        ['b', bytes(10)],
      ]);
      const bufs = [Buffer.alloc(6000, SENTINEL), Buffer.alloc(100, SENTINEL), Buffer.alloc(9, SENTINEL)];
      const got = await c.getManyInto(['a', 'missing', 'b'], bufs);
      equal([...got.hits], [1, 0, 0], 'hits');
      equal([...got.lengths], [5000, 0, 0], 'lengths');
      equal(got.errors.get(2)?.code, 'ERR_KVBOX_TOO_LARGE', 'a 10-byte object into a 9-byte buffer');
      ok(bufs[0]!.subarray(5000).every((b) => b === SENTINEL), 'bytes after the object were written');
      ok(bufs[1]!.every((b) => b === SENTINEL), "a missing key's buffer was written");
      ok(bufs[2]!.every((b) => b === SENTINEL), 'a buffer too small was written');
    },
  },
  {
    name: 'batches: agree with the single-key calls on random workloads with repeated keys (12 seeded rounds)',
    async run({ open, tenant }) {
      const names = ['a', 'b', 'c/d', 'é', 'model@1@0@ff@bf16', 'z'];
      const seed = 0x62617463;
      const next = random(seed);
      const pick = () => names[Math.floor(next() * names.length)]!;
      const upTo = (n: number) => Math.floor(next() * (n + 1));
      for (let round = 0; round < 12; round++) {
        const at = `seed ${seed}, round ${round}`;
        await using batched = await open(tenant());
        await using single = await open(tenant());
        for (let o = 0, ops = 1 + upTo(5); o < ops; o++) {
          if (next() < 0.6) {
            const entries = Array.from({ length: upTo(8) }, () => {
              const size = upTo(9000);
              return [pick(), Buffer.alloc(size, size % 251)] as const;
            });
            clean(await batched.putMany(entries), `putMany (${at})`);
            for (const [k, d] of entries) await single.put(k, d);
          } else {
            const keys = Array.from({ length: upTo(6) }, pick);
            const want: boolean[] = [];
            for (const k of keys) want.push(await single.remove(k));
            equal(clean(await batched.removeMany(keys), `removeMany (${at})`).removed, want, `removeMany ${JSON.stringify(keys)} (${at})`);
          }
        }
        const all = [...names, 'a'];
        equal(clean(await batched.existsMany(all), `existsMany (${at})`).exists, await Promise.all(all.map((k) => single.exists(k))), `existsMany (${at})`);
        equal(clean(await batched.sizeMany(all), `sizeMany (${at})`).sizes, await Promise.all(all.map((k) => single.size(k))), `sizeMany (${at})`);
        const want = await Promise.all(all.map((k) => single.get(k)));
        const values = clean(await batched.getMany(all), `getMany (${at})`);
        equal(
          values.values.map((v) => v && sha256(v)),
          want.map((v) => v && sha256(v)),
          `getMany (${at})`,
        );
        const bufs = all.map(() => Buffer.alloc(9000, SENTINEL));
        const into = clean(await batched.getManyInto(all, bufs), `getManyInto (${at})`);
        all.forEach((k, i) => {
          equal([into.hits[i], into.lengths[i]], [want[i] ? 1 : 0, want[i]?.length ?? 0], `getManyInto ${k} (${at})`);
          if (want[i]) equal(sha256(bufs[i]!.subarray(0, want[i]!.length)), sha256(want[i]!), `getManyInto bytes of ${k} (${at})`);
        });
      }
    },
  },
];
