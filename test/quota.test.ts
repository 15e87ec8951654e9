/**
 * Per-tenant quotas, for both connector kinds: exact (a put that would go
 * over fails and writes nothing), reported in the error, measured again
 * when the directory is reopened.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CancelledError, ClosedError, InvalidArgumentError, loadConnector, NATIVE_FS, QuotaExceededError } from '../host/index.js';
import { bytes, CONNECTOR_KINDS, filesUnder, fresh, rejectsWith, scratch } from './helpers.js';

const base = scratch('quota');
describe.each(CONNECTOR_KINDS)('quotas (%s)', (_, open) => {
  it('refuses a put that would exceed quota.bytes, exactly at the boundary, and writes nothing', async () => {
    const root = fresh(base);
    await using c = await open({ root, quota: { bytes: 10_000 } });
    await c.put('a', bytes(6000));
    const err = await rejectsWith(c.put('b', bytes(4001)), QuotaExceededError, 'ERR_KVBOX_QUOTA');
    expect(err.message).toMatch(/10001 bytes stored, over the quota of 10000 \(quota\.bytes\); nothing was written/);
    expect(await c.exists('b')).toBe(false);
    expect(filesUnder(root)).toHaveLength(1);
    await c.put('b', bytes(4000)); // exactly full
    expect(c.stats()).toMatchObject({ bytesStored: 10_000, objects: 2, quotaRejections: 1 });
    await rejectsWith(c.put('c', bytes(1)), QuotaExceededError, 'ERR_KVBOX_QUOTA');
    await c.put('a', bytes(5000)); // an overwrite counts only the difference
    await c.put('c', bytes(1000));
    expect(c.stats()).toMatchObject({ bytesStored: 10_000, objects: 3 });
    expect(await c.remove('b')).toBe(true);
    expect(c.stats()).toMatchObject({ bytesStored: 6000, objects: 2 });
  });

  it('refuses a new object over quota.objects, but allows overwrites', async () => {
    await using c = await open({ root: fresh(base), quota: { objects: 2 } });
    await c.put('a', bytes(10));
    await c.put('b', bytes(10));
    const err = await rejectsWith(c.put('c', bytes(10)), QuotaExceededError, 'ERR_KVBOX_QUOTA');
    expect(err.message).toMatch(/3 objects, over the quota of 2 \(quota\.objects\)/);
    await c.put('a', bytes(20));
    await c.remove('b');
    await c.put('c', bytes(10));
    expect(c.stats()).toMatchObject({ objects: 2, bytesStored: 30 });
  });

  it('measures what is already stored when reopened', async () => {
    const root = fresh(base);
    {
      await using c = await open({ root });
      for (let i = 0; i < 5; i++) await c.put(`k${i}`, bytes(1000 * (i + 1)));
    }
    await using c = await open({ root, quota: { bytes: 16_000 } });
    expect(c.stats()).toMatchObject({ objects: 5, bytesStored: 15_000 });
    await rejectsWith(c.put('more', bytes(1001)), QuotaExceededError, 'ERR_KVBOX_QUOTA');
    await c.put('more', bytes(1000));
  });

  it('keeps the quota exact under concurrent puts', async () => {
    await using c = await open({ root: fresh(base), quota: { bytes: 50 * 1000 } });
    const results = await Promise.allSettled(Array.from({ length: 80 }, (_, i) => c.put(`k${i}`, bytes(1000))));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    expect(ok).toBe(50);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(QuotaExceededError);
    expect(c.stats()).toMatchObject({ objects: 50, bytesStored: 50_000 });
  });
});

describe('the in-flight quota', () => {
  it('queues calls beyond quota.inFlight, refuses only past quota.queue, and runs the queued ones in turn', async () => {
    const loop = join(import.meta.dirname, '..', 'guests', 'dist', 'hostile-loop.wasm');
    await using c = await loadConnector(loop, { root: fresh(base), cacheDir: false, quota: { inFlight: 2, queue: 1 }, limits: { callTimeoutMs: 500 } });
    const running = [c.put('attack', bytes(1)), c.put('attack', bytes(1))];
    running.forEach((p) => p.catch(() => {}));
    expect(c.stats().inFlight).toBe(2);
    const waiting = c.exists('x');
    expect(c.stats()).toMatchObject({ inFlight: 2, queued: 1 });
    const err = await rejectsWith(c.exists('y'), QuotaExceededError, 'ERR_KVBOX_QUOTA');
    expect(err.message).toMatch(/2 operations in flight \(quota\.inFlight\) and 1 more waiting, a full queue \(quota\.queue\)/);
    expect(await waiting).toBe(false); // ran once a slot freed (the loops time out)
    await Promise.allSettled(running);
    expect(c.stats()).toMatchObject({ inFlight: 0, queued: 0, quotaRejections: 1 });
  });

  it('lets a caller abort a queued call at once, and closing fails the rest of the queue', async () => {
    const loop = join(import.meta.dirname, '..', 'guests', 'dist', 'hostile-loop.wasm');
    const c = await loadConnector(loop, { root: fresh(base), cacheDir: false, quota: { inFlight: 1 }, limits: { callTimeoutMs: 1000 } });
    const running = c.put('attack', bytes(1));
    running.catch(() => {});
    const abort = new AbortController();
    const started = performance.now();
    const aborted = c.exists('x', { signal: abort.signal });
    const other = c.exists('y');
    abort.abort();
    const err = await rejectsWith(aborted, CancelledError, 'ERR_KVBOX_CANCELLED');
    expect(err.message).toMatch(/waited in the tenant's queue/);
    expect(performance.now() - started).toBeLessThan(900); // it did not wait for the running call's deadline
    const closing = c.close();
    await rejectsWith(other, ClosedError, 'ERR_KVBOX_CLOSED');
    await Promise.allSettled([running, closing]);
  });

  it("keeps one tenant's backlog from delaying another tenant's calls", async () => {
    const loop = join(import.meta.dirname, '..', 'guests', 'dist', 'hostile-loop.wasm');
    await using busy = await loadConnector(loop, { root: fresh(base), cacheDir: false, quota: { inFlight: 2 }, limits: { callTimeoutMs: 800 } });
    await using calm = await loadConnector(NATIVE_FS, { root: fresh(base) });
    const backlog = Array.from({ length: 50 }, () => busy.put('attack', bytes(1)));
    backlog.forEach((p) => p.catch(() => {}));
    expect(busy.stats()).toMatchObject({ inFlight: 2, queued: 48 });
    await calm.put('k', bytes(10));
    expect(await calm.exists('k')).toBe(true);
    expect(busy.stats().queued).toBeGreaterThan(40); // the calm tenant did not wait for the backlog
    await busy.close();
    await Promise.allSettled(backlog);
  });

  it('rejects ill-typed quotas', async () => {
    for (const quota of [{ bytes: -1 }, { objects: 1.5 }, { inFlight: 0 }, { queue: -1 }, { files: 3 }, 'big']) {
      await rejectsWith(loadConnector(NATIVE_FS, { root: fresh(base), quota: quota as never }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    }
  });
});
