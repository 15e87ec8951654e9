/**
 * A hostile connector stays inside every bound (issue 16): all its memories
 * and tables count against one cap; time spent in host calls counts against
 * its deadline; its listings cannot run forever or hand the caller keys the
 * host would refuse; its CPU use can be bounded per tenant, and calls that
 * run close to the deadline are counted.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Connector, ConnectorError, FS_CONNECTOR, type Limits, loadConnector, MemoryLimitError, TimeoutError } from '../host/index.js';
import { bytes, fresh, rejectsWith, scratch } from './helpers.js';

const base = scratch('reliability-connector');
const fixture = (name: string) => join(import.meta.dirname, '..', 'guests', 'dist', `hostile-${name}.wasm`);
const openHostile = (name: string, limits: Limits = {}, config: Record<string, unknown> = {}) =>
  loadConnector(fixture(name), { root: fresh(base, name), limits, config, cacheDir: false });

describe('memory: every memory and table of an instance against limits.memoryBytes', () => {
  it('refuses a component with six extra 62.5 MiB memories under a 64 MiB cap', async () => {
    const err = await rejectsWith(openHostile('memories'), MemoryLimitError, 'ERR_KVBOX_MEMORY_LIMIT');
    expect(err.message).toMatch(/all memories and tables \(limits\.memoryBytes\)/);
  });

  it('runs the same component when the cap covers all its memories', async () => {
    await using c = await openHostile('memories', { memoryBytes: 512 << 20 });
    await c.put('k', bytes(10));
    expect((await c.get('k'))?.length).toBe(10);
  });

  it('refuses a component with fifty extra tables of a million elements', async () => {
    await rejectsWith(openHostile('tables'), MemoryLimitError, 'ERR_KVBOX_MEMORY_LIMIT');
  });
});

describe('deadlines: time in host calls counts', () => {
  it('says a timed-out call may have written only for calls that write', async () => {
    await using c = await openHostile('spin', { callTimeoutMs: 50, maxInstances: 2 }, { spin_ms: 400 });
    const read = await rejectsWith(c.get('k'), TimeoutError, 'ERR_KVBOX_TIMEOUT');
    expect(read.message).toMatch(/deadline during get \(limits\.callTimeoutMs\); the instance was discarded\.$/);
    const write = await rejectsWith(c.put('k', bytes(1)), TimeoutError, 'ERR_KVBOX_TIMEOUT');
    expect(write.message).toMatch(/during put .* may or may not have replaced the object \(never partly\)/);
  });

  it('stops a connector that spends its call writing 32 MiB objects again and again', async () => {
    await using c = await openHostile('big-write', { callTimeoutMs: 1000 });
    const t0 = performance.now();
    const err = await rejectsWith(c.put('attack', bytes(1)), TimeoutError, 'ERR_KVBOX_TIMEOUT');
    const ms = performance.now() - t0;
    console.log(`big-write attack with a 1000 ms deadline stopped after ${ms.toFixed(0)} ms (before the fix: 6.1 s)`);
    expect(err.message).toMatch(/may or may not have replaced the object/);
    // The bound: the deadline plus the host call under way when it passed (one 32 MiB durable write).
    expect(ms).toBeLessThan(3000);
    expect(c.stats().timeouts).toBe(1);
    await c.put('after', bytes(5));
    expect(await c.exists('after')).toBe(true);
  });
});

describe('listings: the host holds a connector to the listing contract', () => {
  async function drain(c: Connector): Promise<string[]> {
    const keys: string[] = [];
    for await (const k of c.keys({ pageSize: 10 })) keys.push(k);
    return keys;
  }

  for (const [mode, why] of [
    ['stuck', /returned the cursor it was given/],
    ['cycle', /returned cursor "a" twice/],
    ['empty', /key 1 of the page is one the host refuses \(key is empty\)/],
    ['nul', /key 1 of the page is one the host refuses \(key contains a NUL/],
    ['long', /key 1 of the page is one the host refuses \(key is 100000 bytes/],
    ['dup', /key 1 of the page \("ok"\) appears twice/],
  ] as const) {
    it(`ends a listing that breaks the contract (${mode}) with ConnectorError`, async () => {
      await using c = await openHostile('listing', {}, { mode });
      const err = await rejectsWith(drain(c), ConnectorError, 'ERR_KVBOX_CONNECTOR');
      expect(err.message).toMatch(why);
    });
  }
});

describe('CPU: limits.cpuMsPerSec bounds a tenant, and near-deadline calls are counted', () => {
  it('holds back two tenants spinning just under their deadline while a neighbour keeps being served', async () => {
    const spinners = await Promise.all([1, 2].map(() => openHostile('spin', { callTimeoutMs: 50, maxInstances: 4, cpuMsPerSec: 100 }, { spin_ms: 45 })));
    await using neighbour = await loadConnector(FS_CONNECTOR, { root: fresh(base, 'neighbour'), cacheDir: false });
    await neighbour.put('present', bytes(4096));
    let stop = false;
    const spin = spinners.map(async (s) => {
      let n = 0;
      while (!stop) {
        await s.exists(`k${n++}`).catch(() => {});
      }
    });
    const latencies: number[] = [];
    const until = performance.now() + 1500;
    while (performance.now() < until) {
      const t = performance.now();
      await neighbour.exists('present');
      latencies.push(performance.now() - t);
    }
    stop = true;
    await Promise.all(spin);
    latencies.sort((a, b) => a - b);
    const stats = spinners.map((s) => s.stats());
    console.log(
      `neighbour during two spinning tenants at cpuMsPerSec 100: ${latencies.length} calls in 1.5 s, ` +
        `p50 ${latencies[latencies.length >> 1]!.toFixed(2)} ms, p99 ${latencies[Math.floor(latencies.length * 0.99)]!.toFixed(2)} ms; ` +
        `spinners held back ${stats.map((s) => s.throttledMs).join(' + ')} ms, near-deadline calls ${stats.map((s) => s.nearDeadline).join(' + ')}`,
    );
    for (const s of stats) {
      expect(s.throttledMs).toBeGreaterThan(0);
      expect(s.nearDeadline + s.timeouts).toBeGreaterThan(0);
    }
    expect(latencies.length).toBeGreaterThan(0);
    await Promise.all(spinners.map((s) => s.close()));
  });
});
