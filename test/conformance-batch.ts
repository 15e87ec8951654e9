/**
 * The batched calls' conformance suite (contract 0.2.0's existsMany, sizeMany,
 * getMany, getManyInto, putMany, removeMany), run against every connector
 * kind and both contract versions: a 0.1.0 component gets its batches from
 * the host's loop over single-key calls, a 0.2.0 one runs its own batched
 * exports. What the connector must do is the shipped `batchCases`
 * (host/conformance/batch.ts, also run by `kvbox test`); the cases here are
 * the host's own checks: typed per-key argument errors, buffer checks,
 * aborts, close.
 */
import { describe, expect, it } from 'vitest';
import { CancelledError, ClosedError, type Connector, InvalidArgumentError, InvalidKeyError, TooLargeError } from '../host/index.js';
import { batchCases } from '../host/conformance/index.js';
import type { Opener } from './conformance.js';
import { bytes, rejectsWith, scratch } from './helpers.js';

/**
 * `caseTimeoutMs`: per shipped case (default: vitest's); a remote store needs more for the 10 000-key
 * batch (20–25 s against SeaweedFS on loopback here, over 60 s with the 2 vCPUs busy).
 */
export function batchConformance(kind: string, open: Opener, caseTimeoutMs?: number): void {
  describe(`batch conformance: ${kind}`, () => {
    const base = scratch(`batch-${kind.replace(/\W+/g, '-')}`);
    let n = 0;
    const tenant = () => `${base}/t${++n}`;

    // What the connector must do with batches: the shipped cases.
    for (const c of batchCases) it(c.name, () => c.run({ open, tenant }), caseTimeoutMs);

    // The host's own checks around batches.

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

    it('refuses getManyInto buffers overlapping or miscounted, and a non-buffer target by key', async () => {
      await using c = await open(tenant());
      await c.putMany([
        ['a', bytes(5000)],
        ['b', bytes(10)],
      ]);
      const shared = Buffer.alloc(100);
      const overlap = await rejectsWith(c.getManyInto(['a', 'b'], [shared.subarray(0, 60), shared.subarray(50)]), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
      expect(overlap.message).toBe('getManyInto: target buffers 0 and 1 overlap; each key needs its own memory');
      // Named by the caller's indices, also when keys refused before the native call shift the rest.
      const shifted = c.getManyInto([7 as never, '', 'a', 'b'], [Buffer.alloc(8), Buffer.alloc(8), shared.subarray(0, 60), shared.subarray(50)]);
      expect((await rejectsWith(shifted, InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT')).message).toMatch(/^getManyInto: target buffers 2 and 3 overlap/);
      await rejectsWith(c.getManyInto(['a', 'b'], [shared]), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
      const typed = await c.getManyInto(['a', 'b'], [new Uint8Array(6000), 'x' as never]);
      expect(typed.errors.get(1)).toBeInstanceOf(InvalidArgumentError);
      expect(typed.hits[0]).toBe(1);
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
