/**
 * `npm run soak`: 8 tenants × 64 calls in flight, mixed sizes, for 10
 * minutes; one of them is hostile and rotates through the attacks. Every
 * window it prints the process's RSS and open descriptors and the
 * neighbours' latency; at the end, whether RSS and descriptors stayed flat.
 * Not part of `npm test`.
 *
 *   npm run soak -- [--minutes 10] [--window 30] [--dir /var/tmp]
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Connector, FS_CONNECTOR, type Limits, loadConnector, NATIVE_FS } from '../host/index.js';
import { median, quantile } from './probes.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    window: { type: 'string', default: '30' },
    dir: { type: 'string', default: process.env.KVBOX_BENCH_DIR ?? '/var/tmp' },
  },
});
const DURATION_MS = Number(values.minutes) * 60_000;
const WINDOW_MS = Number(values.window) * 1000;
const IN_FLIGHT = 64;
const SIZES = [4 << 10, 64 << 10, 256 << 10, 1 << 20];
const KEYS = 48;
const work = mkdtempSync(join(values.dir, 'kvbox-soak-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

/** The hostile tenant's attacks, in turn: fixture, limits, config. */
const ATTACKS: [string, Limits, Record<string, unknown>][] = [
  ['loop', { callTimeoutMs: 500 }, {}],
  ['memory', { memoryBytes: 32 << 20 }, {}],
  ['recursion', {}, {}],
  ['panic', {}, {}],
  ['handles', { maxHostHandles: 64 }, {}],
  ['big-write', { callTimeoutMs: 500 }, {}],
  ['spin', { callTimeoutMs: 50, cpuMsPerSec: 200 }, { spin_ms: 45 }],
  ['listing', {}, { mode: 'stuck' }],
  ['memories', {}, {}],
];
const fixture = (name: string) => join(import.meta.dirname, '..', 'guests', 'dist', `hostile-${name}.wasm`);

const latencies = new Map<string, number[]>();
const errors = new Map<string, number>();
let stop = false;
let seq = 0;

async function neighbour(name: string, store: Connector): Promise<void> {
  const target = Buffer.alloc(1 << 20);
  const lane = async () => {
    const scratch = Buffer.alloc(1 << 20);
    while (!stop) {
      const key = `k${Math.floor(Math.random() * KEYS)}`;
      const size = SIZES[Math.floor(Math.random() * SIZES.length)]!;
      const op = Math.random();
      const t = performance.now();
      try {
        if (op < 0.35) await store.put(key, scratch.subarray(0, size));
        else if (op < 0.6) await store.get(key);
        else if (op < 0.8) await store.getInto(key, op < 0.7 ? target.subarray(0, 0) : scratch).catch(() => undefined);
        else if (op < 0.95) await store.exists(key);
        else await store.remove(key);
      } catch {
        errors.set(name, (errors.get(name) ?? 0) + 1);
      }
      latencies.get(name)!.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

async function hostile(): Promise<void> {
  let i = 0;
  while (!stop) {
    const [name, limits, config] = ATTACKS[i++ % ATTACKS.length]!;
    const until = performance.now() + Math.min(WINDOW_MS, 20_000);
    let store: Connector | undefined;
    try {
      store = await loadConnector(fixture(name), { root: join(work, `hostile-${seq++}`), limits, config, cacheDir: false });
    } catch {
      await new Promise((r) => setTimeout(r, 1000)); // refused at open (memories): try again later
      continue;
    }
    const lane = async () => {
      while (!stop && performance.now() < until) {
        await (name === 'listing' ? drain(store!) : store!.put('attack', Buffer.alloc(1))).catch(() => {});
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    await store.close();
    rmSync(join(work, `hostile-${seq - 1}`), { recursive: true, force: true });
  }
}

async function drain(store: Connector): Promise<void> {
  for await (const _ of store.keys()) {
    // only the listing's end matters
  }
}

const fds = () => readdirSync('/proc/self/fd').length;
const mib = (n: number) => (n / 2 ** 20).toFixed(0);
const tenants: [string, Connector][] = [];
for (let t = 0; t < 7; t++) {
  const name = `${t % 2 ? 'native' : 'sandboxed'}-${t}`;
  const source = t % 2 ? NATIVE_FS : FS_CONNECTOR;
  tenants.push([name, await loadConnector(source, { root: join(work, name), cacheDir: false, durable: t % 3 !== 0 })]);
  latencies.set(name, []);
}
console.log(`soak: 7 neighbours + 1 hostile tenant × ${IN_FLIGHT} calls in flight for ${values.minutes} min; windows of ${values.window} s`);
const samples: { rss: number; fds: number }[] = [];
const started = performance.now();
const running = [...tenants.map(([n, s]) => neighbour(n, s)), hostile()];
while (performance.now() - started < DURATION_MS) {
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const rss = process.memoryUsage().rss;
  samples.push({ rss, fds: fds() });
  const all = [...latencies.values()].flat().sort((a, b) => a - b);
  const calls = all.length;
  const row = `t=${((performance.now() - started) / 1000).toFixed(0)} s  rss ${mib(rss)} MiB  fds ${fds()}  neighbour calls ${calls}  p50 ${quantile(all, 0.5).toFixed(2)} ms  p99 ${quantile(all, 0.99).toFixed(2)} ms  errors ${[...errors.values()].reduce((a, b) => a + b, 0)}`;
  console.log(row);
  for (const l of latencies.values()) l.length = 0;
}
stop = true;
await Promise.all(running);
for (const [, s] of tenants) await s.close();
const third = Math.max(1, Math.floor(samples.length / 3));
const early = samples.slice(0, third);
const late = samples.slice(-third);
// Medians, so a window that caught a burst of opens (the hostile tenant's) does not decide.
const rssGrowth = median(late.map((s) => s.rss)) / median(early.map((s) => s.rss));
const fdGrowth = median(late.map((s) => s.fds)) - median(early.map((s) => s.fds));
console.log(`\nRSS last third / first third: ${rssGrowth.toFixed(2)} (${rssGrowth < 1.2 ? 'flat' : 'GROWING'}); descriptors: ${fdGrowth >= 0 ? '+' : ''}${fdGrowth.toFixed(0)} (${Math.abs(fdGrowth) < 16 ? 'flat' : 'GROWING'})`);
