/** Cancellation through AbortSignal: before a call starts, while it waits for an instance, while guest code runs. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CancelledError, InvalidArgumentError, loadConnector, NATIVE_FS } from '../host/index.js';
import { bytes, filesUnder, fresh, rejectsWith, scratch } from './helpers.js';

const LOOP = join(import.meta.dirname, '..', 'guests', 'dist', 'hostile-loop.wasm');
const base = scratch('cancel');

describe('AbortSignal', () => {
  it('an already aborted signal does nothing (both kinds)', async () => {
    for (const source of [LOOP, NATIVE_FS]) {
      const root = fresh(base);
      await using c = await loadConnector(source, { root, cacheDir: false });
      const signal = AbortSignal.abort();
      await rejectsWith(c.put('k', bytes(10), { signal }), CancelledError, 'ERR_KVBOX_CANCELLED');
      expect(await c.exists('k')).toBe(false);
      expect(filesUnder(root)).toEqual([]);
    }
  });

  it('stops a looping connector within milliseconds, long before its deadline, and the connector recovers', async () => {
    await using c = await loadConnector(LOOP, { root: fresh(base), cacheDir: false, limits: { callTimeoutMs: 60_000 } });
    const ctl = new AbortController();
    const started = performance.now();
    const call = c.put('attack', bytes(1), { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 50);
    const err = await rejectsWith(call, CancelledError, 'ERR_KVBOX_CANCELLED');
    expect(err.message).toMatch(/cancelled while the connector ran/);
    expect(performance.now() - started).toBeLessThan(30_000); // not the 60 s deadline
    expect(c.stats()).toMatchObject({ cancellations: 1, timeouts: 0 });
    await c.put('honest', bytes(100));
    expect(await c.exists('honest')).toBe(true);
  });

  it('cancels a call queued behind a busy instance without running it', async () => {
    await using c = await loadConnector(LOOP, { root: fresh(base), cacheDir: false, limits: { maxInstances: 1, callTimeoutMs: 60_000 } });
    const busy = new AbortController();
    const first = c.put('attack', bytes(1), { signal: busy.signal });
    first.catch(() => {});
    const queued = new AbortController();
    const second = c.put('queued', bytes(1), { signal: queued.signal });
    setTimeout(() => queued.abort(), 30);
    const err = await rejectsWith(second, CancelledError, 'ERR_KVBOX_CANCELLED');
    expect(err.message).toMatch(/before it ran; nothing was done/);
    busy.abort();
    await rejectsWith(first, CancelledError, 'ERR_KVBOX_CANCELLED');
    expect(await c.exists('queued')).toBe(false);
  });

  it('a completed call ignores a later abort, and a non-signal is refused', async () => {
    await using c = await loadConnector(NATIVE_FS, { root: fresh(base) });
    const ctl = new AbortController();
    await c.put('k', bytes(10), { signal: ctl.signal });
    ctl.abort();
    expect(await c.exists('k')).toBe(true);
    await rejectsWith(c.get('k', { signal: 'stop' as never }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
  });
});
