/**
 * The benchmark's non-throughput measurements: small-op latency and rate,
 * instantiation, first load, event-loop lag and idle-tenant memory.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { allocBuffer, type ConnectorComponent } from '../host/index.js';
import { pool } from './systems.js';

export const median = (xs: number[]): number => quantile(xs, 0.5);

/**
 * Writes dirty pages back and drops the page cache (`what` 1), or also dentries and inodes (3);
 * `false` when not allowed (not root): then reads are warm and page-cache writes may be throttled by
 * an earlier lane's dirty pages.
 */
export function dropCaches(what: 1 | 3 = 1): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', String(what));
    return true;
  } catch {
    return false;
  }
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

export interface SmallOps {
  /** A round trip through the worker pool that does no work: the floor. */
  pingP50Us: number;
  existsP50Us: number;
  existsP99Us: number;
  sizeP50Us: number;
  sizeP99Us: number;
  existsPerSec: number;
  sizePerSec: number;
}

/** Round-trip latency of sequential exists/size calls, and their rate with 32 in flight. */
export async function smallOps(component: ConnectorComponent, root: string, calls: number): Promise<SmallOps> {
  const c = await component.open({ root });
  const keys = Array.from({ length: 200 }, (_, i) => `small@${i}`);
  for (const k of keys) await c.put(k, randomBytes(1024));
  const latency = async (op: (k: string) => Promise<unknown>) => {
    const us: number[] = [];
    for (let i = 0; i < calls; i++) {
      const t = process.hrtime.bigint();
      await op(keys[i % keys.length]!);
      us.push(Number(process.hrtime.bigint() - t) / 1e3);
    }
    return us;
  };
  const rate = async (op: (k: string) => Promise<unknown>) => {
    const t = process.hrtime.bigint();
    await pool(calls, 32, async (i) => void (await op(keys[i % keys.length]!)));
    return calls / (Number(process.hrtime.bigint() - t) / 1e9);
  };
  const p = await latency(() => c.ping());
  const e = await latency((k) => c.exists(k));
  const s = await latency((k) => c.size(k));
  const result = {
    pingP50Us: median(p),
    existsP50Us: median(e),
    existsP99Us: quantile(e, 0.99),
    sizeP50Us: median(s),
    sizeP99Us: quantile(s, 0.99),
    existsPerSec: await rate((k) => c.exists(k)),
    sizePerSec: await rate((k) => c.size(k)),
  };
  await c.close();
  return result;
}

/**
 * GB/s of sequential 1 MiB puts with `durable` on and off (the faster mode
 * for pure caches), alternating, median of `rounds`.
 */
export async function durability(component: ConnectorComponent, base: string, rounds: number): Promise<{ durable: number; cache: number }> {
  const data = randomBytes(1 << 20);
  const gbs: Record<'durable' | 'cache', number[]> = { durable: [], cache: [] };
  for (let round = 0; round < rounds; round++) {
    for (const durable of round % 2 ? [true, false] : [false, true]) {
      const c = await component.open({ root: join(base, `${durable}-${round}`), durable });
      const t = process.hrtime.bigint();
      for (let i = 0; i < 64; i++) await c.put(`k${i}`, data);
      gbs[durable ? 'durable' : 'cache'].push((64 * data.length) / Number(process.hrtime.bigint() - t));
      await c.close();
    }
  }
  return { durable: median(gbs.durable), cache: median(gbs.cache) };
}

/**
 * µs per sequential 1 MiB put and cold `getInto` (median of `rounds`, alternating) from and into plain
 * Buffers (16 bytes past a page: kvbox bounces them through an aligned buffer) and `allocBuffer`s (O_DIRECT
 * straight from and into them) — what the throughput table's kvbox lanes use, as the C reference does.
 */
export async function alignment(component: ConnectorComponent, base: string, rounds: number): Promise<Record<'plain' | 'aligned', { putUs: number; getIntoUs: number }>> {
  const size = 1 << 20;
  const n = 64;
  const us: Record<'plain' | 'aligned', { put: number[]; getInto: number[] }> = { plain: { put: [], getInto: [] }, aligned: { put: [], getInto: [] } };
  for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 ? (['aligned', 'plain'] as const) : (['plain', 'aligned'] as const)) {
      const [source, target] = mode === 'aligned' ? [allocBuffer(size), allocBuffer(size)] : [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
      randomBytes(size).copy(source);
      target.fill(1);
      const c = await component.open({ root: join(base, `${mode}-${round}`) });
      dropCaches();
      let t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await c.put(`k${i}`, source);
      us[mode].put.push(Number(process.hrtime.bigint() - t) / 1e3 / n);
      dropCaches();
      t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) if ((await c.getInto(`k${i}`, target)) !== size) throw new Error(`k${i}: short read`);
      us[mode].getInto.push(Number(process.hrtime.bigint() - t) / 1e3 / n);
      await c.close();
    }
  }
  const of = (m: 'plain' | 'aligned') => ({ putUs: median(us[m].put), getIntoUs: median(us[m].getInto) });
  return { plain: of('plain'), aligned: of('aligned') };
}

/**
 * JS-visible time (µs) to open a connector from an already compiled component: at new directories (the
 * target's measure, which includes the filesystem's `mkdir`), or with `existing` at directories made
 * beforehand (what reopening a tenant costs, and kvbox's own share of the first).
 */
export async function instantiation(component: ConnectorComponent, base: string, n: number, existing = false): Promise<number[]> {
  const us: number[] = [];
  if (existing) for (let i = 0; i < n; i++) mkdirSync(join(base, `inst-${i}`), { recursive: true });
  for (let i = 0; i < n; i++) {
    const root = join(base, `inst-${i}`);
    const t = process.hrtime.bigint();
    const c = await component.open({ root });
    us.push(Number(process.hrtime.bigint() - t) / 1e3);
    await c.close();
  }
  return us;
}

/** Event-loop delay p99 (ms) while `load` runs, next to the idle p99. */
export async function eventLoopLag(load: () => Promise<void>): Promise<{ idleP99Ms: number; busyP99Ms: number }> {
  const measure = async (work: () => Promise<void>) => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    await work();
    h.disable();
    return h.percentile(99) / 1e6;
  };
  const idleP99Ms = await measure(() => new Promise((r) => setTimeout(r, 1000)));
  const busyP99Ms = await measure(load);
  return { idleP99Ms, busyP99Ms };
}

/** Runs bench/child.ts in a fresh Node process and returns its JSON answer. */
export function child<T>(task: string, ...args: string[]): T {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx/esm', join(import.meta.dirname, 'child.ts'), task, ...args],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}
