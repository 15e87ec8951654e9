/**
 * The batched calls' conformance suite (contract 0.2.0's existsMany, sizeMany,
 * getMany, getManyInto, putMany, removeMany), run against every connector
 * kind and both contract versions: a 0.1.0 component gets its batches from
 * the host's loop over single-key calls, a 0.2.0 one runs its own batched
 * exports. Property tests compare batched and single-key results on random
 * workloads with repeated keys.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CancelledError, ClosedError, type Connector, InvalidArgumentError, InvalidKeyError, TooLargeError } from '../host/index.js';
import type { Opener } from './conformance.js';
import { bytes, rejectsWith, scratch, sha256 } from './helpers.js';

const SENTINEL = 0xa5;

export function batchConformance(kind: string, open: Opener): void {
  describe(`batch conformance: ${kind}`, () => {
    const base = scratch(`batch-${kind.replace(/\W+/g, '-')}`);
    let n = 0;
    const tenant = () => `${base}/t${++n}`;

    it('answers empty batches with empty results', async () => {
      await using c = await open(tenant());
      expect(await c.existsMany([])).toEqual({ exists: [], errors: new Map() });
      expect(await c.sizeMany([])).toEqual({ sizes: [], errors: new Map() });
      expect(await c.getMany([])).toEqual({ values: [], errors: new Map() });
      expect(await c.putMany([])).toEqual({ stored: [], errors: new Map() });
      expect(await c.removeMany([])).toEqual({ removed: [], errors: new Map() });
      const into = await c.getManyInto([], []);
      expect([into.hits.length, into.lengths.length, into.errors.size]).toEqual([0, 0, 0]);
    });

    it('round-trips 64 × 1 MiB through putMany and getManyInto into unaligned buffers', async () => {
      await using c = await open(tenant());
      const keys = Array.from({ length: 64 }, (_, i) => `model@1@0@${i.toString(16).padStart(8, '0')}@bf16`);
      const data = keys.map((_, i) => bytes((1 << 20) + (i % 3)));
      const put = await c.putMany(keys.map((k, i) => [k, data[i]!] as const));
      expect(put.errors.size).toBe(0);
      expect(put.stored.every(Boolean)).toBe(true);
      const backing = Buffer.allocUnsafeSlow(64 * ((1 << 20) + 4096) + 1);
      const bufs = keys.map((_, i) => backing.subarray(1 + i * ((1 << 20) + 4096), 1 + (i + 1) * ((1 << 20) + 4096)));
      const got = await c.getManyInto(keys, bufs);
      expect(got.errors.size).toBe(0);
      keys.forEach((_, i) => {
        expect(got.hits[i]).toBe(1);
        expect(got.lengths[i]).toBe(data[i]!.length);
        expect(sha256(bufs[i]!.subarray(0, data[i]!.length))).toBe(sha256(data[i]!));
      });
      const sizes = await c.sizeMany(keys);
      expect(sizes.sizes).toEqual(data.map((d) => d.length));
      const whole = await c.getMany(keys.slice(0, 8));
      whole.values.forEach((v, i) => expect(sha256(v!)).toBe(sha256(data[i]!)));
    });

    it('handles 10 000 keys in one batch, in order', async () => {
      await using c = await open(tenant());
      const keys = Array.from({ length: 10_000 }, (_, i) => `k/${i}`);
      const put = await c.putMany(keys.filter((_, i) => i % 2 === 0).map((k) => [k, Buffer.from(k)] as const));
      expect(put.errors.size).toBe(0);
      const { exists, errors } = await c.existsMany(keys);
      expect(errors.size).toBe(0);
      expect(exists.every((e, i) => e === (i % 2 === 0))).toBe(true);
      const sizes = await c.sizeMany(keys);
      expect(sizes.sizes.every((s, i) => s === (i % 2 === 0 ? keys[i]!.length : undefined))).toBe(true);
      const removed = await c.removeMany(keys);
      expect(removed.removed.every((r, i) => r === (i % 2 === 0))).toBe(true);
      expect((await c.existsMany(keys)).exists.some(Boolean)).toBe(false);
    });

    it('applies repeated keys in order: the later put wins, the second remove finds nothing', async () => {
      await using c = await open(tenant());
      const put = await c.putMany([
        ['k', Buffer.from('first')],
        ['other', Buffer.from('o')],
        ['k', Buffer.from('second')],
        ['k', Buffer.from('third!')],
      ]);
      expect(put.stored).toEqual([true, true, true, true]);
      expect((await c.get('k'))?.toString()).toBe('third!');
      const bufs = [Buffer.alloc(8), Buffer.alloc(8)];
      const into = await c.getManyInto(['k', 'k'], bufs);
      expect([...into.lengths]).toEqual([6, 6]);
      expect(bufs.map((b) => b.subarray(0, 6).toString())).toEqual(['third!', 'third!']);
      expect((await c.removeMany(['k', 'k', 'other'])).removed).toEqual([true, false, true]);
    });

    it('fails bad keys and bad data one by one, with typed errors, and stores the rest', async () => {
      await using c = await open(tenant(), { maxKeyBytes: 16, maxObjectBytes: 1000 });
      const entries = [
        ['ok-1', bytes(10)],
        ['', bytes(1)],
        ['nul\0', bytes(1)],
        ['x'.repeat(17), bytes(1)],
        [42, bytes(1)],
        ['big', bytes(1001)],
        ['notbytes', 'text'],
        ['lone\ud800', bytes(1)],
        'not a pair',
        ['ok-2', bytes(1000)],
      ] as unknown as [string, Uint8Array][];
      const put = await c.putMany(entries);
      expect(put.stored).toEqual([true, false, false, false, false, false, false, false, false, true]);
      expect([...put.errors.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      for (const i of [1, 2, 3, 4, 7]) expect(put.errors.get(i)).toBeInstanceOf(InvalidKeyError);
      expect(put.errors.get(5)).toBeInstanceOf(TooLargeError);
      expect(put.errors.get(5)!.message).toMatch(/caller's limit of 1000 \(limits\.maxObjectBytes\)/);
      expect(put.errors.get(6)).toBeInstanceOf(InvalidArgumentError);
      expect(put.errors.get(8)).toBeInstanceOf(InvalidArgumentError);
      const ex = await c.existsMany(['ok-1', '', 'ok-2', 'big', 7 as never]);
      expect(ex.exists).toEqual([true, false, true, false, false]);
      expect([...ex.errors.keys()]).toEqual([4, 1]);
      await rejectsWith(c.existsMany('ok-1' as never), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
      await rejectsWith(c.putMany({} as never), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    });

    it('leaves the buffers of missing keys untouched and refuses buffers too small, overlapping or miscounted', async () => {
      await using c = await open(tenant());
      await c.putMany([
        ['a', bytes(5000)],
        ['b', bytes(10)],
      ]);
      const bufs = [Buffer.alloc(6000, SENTINEL), Buffer.alloc(100, SENTINEL), Buffer.alloc(9, SENTINEL)];
      const got = await c.getManyInto(['a', 'missing', 'b'], bufs);
      expect([...got.hits]).toEqual([1, 0, 0]);
      expect([...got.lengths]).toEqual([5000, 0, 0]);
      expect(got.errors.get(2)).toBeInstanceOf(TooLargeError);
      expect(bufs[0]!.subarray(5000).every((b) => b === SENTINEL)).toBe(true);
      expect(bufs[1]!.every((b) => b === SENTINEL)).toBe(true);
      expect(bufs[2]!.every((b) => b === SENTINEL)).toBe(true);
      const shared = Buffer.alloc(100);
      await rejectsWith(c.getManyInto(['a', 'b'], [shared.subarray(0, 60), shared.subarray(50)]), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
      await rejectsWith(c.getManyInto(['a', 'b'], [shared]), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
      const typed = await c.getManyInto(['a', 'b'], [new Uint8Array(6000), 'x' as never]);
      expect(typed.errors.get(1)).toBeInstanceOf(InvalidArgumentError);
      expect(typed.hits[0]).toBe(1);
    });

    it('agrees with the single-key calls on random workloads with repeated keys (property)', async () => {
      const key = fc.constantFrom('a', 'b', 'c/d', 'é', 'model@1@0@ff@bf16', 'z');
      const op = fc.oneof(
        fc.record({ t: fc.constant('put' as const), entries: fc.array(fc.tuple(key, fc.integer({ min: 0, max: 9000 })), { maxLength: 8 }) }),
        fc.record({ t: fc.constant('remove' as const), keys: fc.array(key, { maxLength: 6 }) }),
      );
      let round = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 6 }), async (ops) => {
          await using batched = await open(`${base}/prop-${++round}-b`);
          await using single = await open(`${base}/prop-${round}-s`);
          for (const o of ops) {
            if (o.t === 'put') {
              const entries = o.entries.map(([k, size]) => [k, Buffer.alloc(size, size % 251)] as const);
              expect((await batched.putMany(entries)).errors.size).toBe(0);
              for (const [k, d] of entries) await single.put(k, d);
            } else {
              const got = (await batched.removeMany(o.keys)).removed;
              const want: boolean[] = [];
              for (const k of o.keys) want.push(await single.remove(k));
              expect(got).toEqual(want);
            }
          }
          const all = ['a', 'b', 'c/d', 'é', 'model@1@0@ff@bf16', 'z', 'a'];
          const ex = await batched.existsMany(all);
          expect(ex.exists).toEqual(await Promise.all(all.map((k) => single.exists(k))));
          const sizes = await batched.sizeMany(all);
          expect(sizes.sizes).toEqual(await Promise.all(all.map((k) => single.size(k))));
          const values = await batched.getMany(all);
          const want = await Promise.all(all.map((k) => single.get(k)));
          expect(values.values.map((v) => v && sha256(v))).toEqual(want.map((v) => v && sha256(v)));
          const bufs = all.map(() => Buffer.alloc(9000, SENTINEL));
          const into = await batched.getManyInto(all, bufs);
          all.forEach((_, i) => {
            expect(into.hits[i]).toBe(want[i] ? 1 : 0);
            expect(into.lengths[i]).toBe(want[i]?.length ?? 0);
            if (want[i]) expect(sha256(bufs[i]!.subarray(0, want[i]!.length))).toBe(sha256(want[i]!));
          });
        }),
        { numRuns: 12 },
      );
    });

    it('settles an aborted batch with every key either done whole or untouched', async () => {
      await using c = await open(tenant());
      const keys = Array.from({ length: 256 }, (_, i) => `abort/${i}`);
      const old = Buffer.alloc(64 << 10, 1);
      await c.putMany(keys.map((k) => [k, old] as const));
      const fresh = keys.map((_, i) => Buffer.alloc(256 << 10, (i % 200) + 2));
      const abort = new AbortController();
      const pending = c.putMany(
        keys.map((k, i) => [k, fresh[i]!] as const),
        { signal: abort.signal },
      );
      setImmediate(() => abort.abort());
      const put = await pending;
      expect(put.errors.size, 'the abort came before the end of the batch').toBeGreaterThan(0);
      for (const [i, e] of put.errors) expect(e, `key ${i}`).toBeInstanceOf(CancelledError);
      const now = await c.getMany(keys);
      now.values.forEach((v, i) => {
        const isNew = v!.equals(fresh[i]!);
        expect(isNew || v!.equals(old), `key ${i} is whole`).toBe(true);
        if (put.stored[i]) expect(isNew, `key ${i} reported stored`).toBe(true);
      });
      await rejectsWith(c.existsMany(keys, { signal: AbortSignal.abort() }), CancelledError, 'ERR_KVBOX_CANCELLED');
    });

    it('refuses batches once closed', async () => {
      const c: Connector = await open(tenant());
      await c.close();
      await rejectsWith(c.existsMany(['a']), ClosedError, 'ERR_KVBOX_CLOSED');
      await rejectsWith(c.putMany([['a', bytes(1)]]), ClosedError, 'ERR_KVBOX_CLOSED');
    });
  });
}
