/**
 * `npm run bench:fairness`: what two tenants whose connectors spin just under
 * their deadline on every call cost a neighbour tenant, with and without a
 * CPU budget (`limits.cpuMsPerSec`). Alternatives interleaved, round by round.
 *
 *   npm run bench:fairness -- [--rounds 3] [--seconds 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Connector, FS_CONNECTOR, loadConnector } from '../host/index.js';
import { median, quantile } from './probes.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '3' } } });
const work = mkdtempSync(join(process.env.KVBOX_BENCH_DIR ?? '/var/tmp', 'kvbox-fairness-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const spin = join(import.meta.dirname, '..', 'guests', 'dist', 'hostile-spin.wasm');
let seq = 0;

/** Neighbour round trips (exists + get of 4 KiB) per second and p99, while `spinners` spin. */
async function measure(cpuMsPerSec: number | undefined, spinners: number): Promise<{ rate: number; p99: number; throttled: number }> {
  const neighbour = await loadConnector(FS_CONNECTOR, { root: join(work, `n${seq++}`), cacheDir: false });
  await neighbour.put('present', Buffer.alloc(4096, 7));
  const attackers: Connector[] = await Promise.all(
    Array.from({ length: spinners }, () =>
      loadConnector(spin, { root: join(work, `s${seq++}`), cacheDir: false, config: { spin_ms: 45 }, limits: { callTimeoutMs: 50, maxInstances: 4, ...(cpuMsPerSec ? { cpuMsPerSec } : {}) } }),
    ),
  );
  let stop = false;
  const load = attackers.flatMap((a) => Array.from({ length: 4 }, async () => {
    while (!stop) await a.exists('k').catch(() => {});
  }));
  const lat: number[] = [];
  const until = performance.now() + Number(values.seconds) * 1000;
  while (performance.now() < until) {
    const t = performance.now();
    await neighbour.exists('present');
    await neighbour.get('present');
    lat.push(performance.now() - t);
  }
  stop = true;
  await Promise.all(load);
  const throttled = attackers.reduce((sum, a) => sum + a.stats().throttledMs, 0);
  await Promise.all([neighbour, ...attackers].map((c) => c.close()));
  lat.sort((a, b) => a - b);
  return { rate: lat.length / Number(values.seconds), p99: quantile(lat, 0.99), throttled };
}

const cases: [string, number | undefined, number][] = [
  ['no spinners', undefined, 0],
  ['2 spinners, no CPU budget', undefined, 2],
  ['2 spinners, cpuMsPerSec 250', 250, 2],
  ['2 spinners, cpuMsPerSec 100', 100, 2],
];
const results = new Map<string, { rate: number[]; p99: number[]; throttled: number[] }>(cases.map(([n]) => [n, { rate: [], p99: [], throttled: [] }]));
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [name, budget, spinners] of [...cases.slice(r % cases.length), ...cases.slice(0, r % cases.length)]) {
    const m = await measure(budget, spinners);
    const acc = results.get(name)!;
    acc.rate.push(m.rate);
    acc.p99.push(m.p99);
    acc.throttled.push(m.throttled);
  }
}
console.log('neighbour tenant (sandboxed fs-connector, exists + get of 4 KiB, back to back), medians of rounds:');
console.table(
  [...results].map(([name, r]) => ({
    case: name,
    'round trips/s': Math.round(median(r.rate)),
    'p99 ms': median(r.p99).toFixed(2),
    'spinners held back ms': Math.round(median(r.throttled)),
  })),
);
