/**
 * `npm run bench:ab -- --before <checkout>`: this tree against another
 * built checkout of kvbox (its `dist/` and addon), the same kvbox systems
 * as `npm run bench` (sandboxed and native; put, get, getInto; 256 KiB, 1
 * and 4 MiB; 1 and 4 in flight) plus the per-call floor — sequential `ping`,
 * `exists`, opening a tenant at a new directory, closing it and reopening it
 * (the directory exists), in µs, and `existsMany` of 1 000 keys (µs per key) — interleaved
 * round by round in one process. This tree also runs a third time with the
 * inline wait for brief calls off (`after, no wait`; settle.rs `call`), so
 * its own effect shows in the same run; `--spin <µs>` sets the worker spin
 * window of `after` [50]. `--calls-only` runs the per-call rows alone. Prints ratios against `before` — the check
 * that a change helped, or at least did not slow anything beyond noise.
 * `--durable false` opens the throughput cells' tenants with `durable: false`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { binding } from '../host/binding.js';
import * as after from '../host/index.js';
import { median } from './probes.js';
import { kvboxSystem, type System } from './systems.js';

const { values } = parseArgs({
  options: { before: { type: 'string' }, rounds: { type: 'string', default: '5' }, 'batch-mib': { type: 'string', default: '64' }, 'calls-only': { type: 'boolean', default: false }, spin: { type: 'string', default: '50' }, durable: { type: 'string', default: 'true' } },
});
if (!values.before) throw new Error('bench:ab needs --before <path to a built kvbox checkout>');
const before = (await import(join(resolve(values.before), 'dist', 'index.js'))) as typeof after;
const work = mkdtempSync(join(process.env.KVBOX_BENCH_DIR ?? '/var/tmp', 'kvbox-ab-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// `after, no wait` is this tree with the inline wait for brief calls off (and so the spin it enables).
const wait = binding.inlineWaitMicros();
const spin = binding.workerSpinMicros();
const variants = [
  ['before', before, () => {}],
  ['after', after, () => (binding.inlineWaitMicros(wait), binding.workerSpinMicros(Number(values.spin)))],
  ['after, no wait', after, () => binding.inlineWaitMicros(0)],
] as const;
const durable = values.durable !== 'false';
const systems: Record<string, [System, () => void]> = {};
for (const [name, lib, set] of variants) {
  systems[`${name} wasm`] = [kvboxSystem(`${name} wasm`, await lib.compileConnector(lib.FS_CONNECTOR, { cacheDir: false }), 4, durable), set];
  systems[`${name} native`] = [kvboxSystem(`${name} native`, await lib.compileConnector(lib.NATIVE_FS), 4, durable), set];
}
const cells: [number, number][] = [
  [256 << 10, 1],
  [1 << 20, 1],
  [1 << 20, 4],
  [4 << 20, 1],
  [4 << 20, 4],
];
const samples = new Map<string, number[]>();
const add = (k: string, v: number) => samples.set(k, [...(samples.get(k) ?? []), v]);
const µs = (t: bigint, n: number) => Number(process.hrtime.bigint() - t) / n / 1000;
let seq = 0;
for (let r = 0; r < Number(values.rounds); r++) {
  const order = Object.keys(systems);
  if (r % 2) order.reverse();
  for (const [size, c] of values['calls-only'] ? [] : cells) {
    const count = Math.max(4, Math.floor((Number(values['batch-mib']) << 20) / size));
    const data = Buffer.alloc(size, 7);
    for (const name of order) {
      const dir = join(work, `d${seq++}`);
      const [s, set] = systems[name]!;
      set();
      const gb = (ns: number) => (size * count) / ns;
      add(`${name}|put|${size}|${c}`, gb(await s.put(dir, data, count, c)));
      add(`${name}|get|${size}|${c}`, gb(await s.get(dir, size, count, c)));
      add(`${name}|getInto|${size}|${c}`, gb(await s.getInto(dir, size, count, c)));
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const [name, lib, set] of r % 2 ? [...variants].reverse() : variants) {
    set();
    for (const [kind, source] of [['wasm', lib.FS_CONNECTOR], ['native', lib.NATIVE_FS]] as const) {
      const component = await lib.compileConnector(source, { cacheDir: false });
      const dirs = Array.from({ length: 200 }, () => join(work, `o${seq++}`));
      const opened = [];
      const opens: number[] = [];
      for (const root of dirs) {
        const t = process.hrtime.bigint();
        opened.push(await component.open({ root }));
        opens.push(µs(t, 1));
      }
      add(`${name} ${kind}|open µs (p50)|0|1`, median(opens));
      const closes: number[] = [];
      for (const c of opened) {
        const t = process.hrtime.bigint();
        await c.close();
        closes.push(µs(t, 1));
      }
      add(`${name} ${kind}|close µs (p50)|0|1`, median(closes));
      // The same directories again: a tenant reopened (the usual case for a server or a restarted job).
      const reopens: number[] = [];
      for (const root of dirs) {
        const t = process.hrtime.bigint();
        const c = await component.open({ root });
        reopens.push(µs(t, 1));
        await c.close();
      }
      add(`${name} ${kind}|reopen µs (p50)|0|1`, median(reopens));
      await using store = await component.open({ root: join(work, `e${seq++}`) });
      for (const [op, call] of [['ping', () => store.ping()], ['exists', () => store.exists('k')]] as const) {
        const each: number[] = [];
        for (let i = 0; i < 2000; i++) {
          const t = process.hrtime.bigint();
          await call();
          each.push(µs(t, 1));
        }
        add(`${name} ${kind}|${op} µs (p50)|0|1`, median(each));
      }
      // A batch of metadata calls, split in tiles over the instances: µs per key.
      const keys = Array.from({ length: 1000 }, (_, i) => `exists@1@0@${i.toString(16)}@bf16`);
      await store.putMany(keys.filter((_, i) => i % 2 === 0).map((k) => [k, Buffer.alloc(1024)] as const));
      const perKey: number[] = [];
      for (let i = 0; i < 100; i++) {
        const t = process.hrtime.bigint();
        const { exists, errors } = await store.existsMany(keys);
        perKey.push(µs(t, keys.length));
        if (errors.size || exists.some((e, j) => e !== (j % 2 === 0))) throw new Error(`${name} ${kind}: existsMany answered wrong`);
      }
      add(`${name} ${kind}|existsMany ×1000, µs/key (p50)|0|1`, median(perKey));
    }
  }
}
binding.workerSpinMicros(spin);
binding.inlineWaitMicros(wait);
const rows = [];
for (const key of samples.keys()) {
  if (!key.startsWith('before ')) continue;
  const [system, op, size, c] = key.split('|');
  const timed = op!.includes('µs');
  const b = median(samples.get(key)!);
  const a = median(samples.get(key.replace('before ', 'after '))!);
  const n = median(samples.get(key.replace('before ', 'after, no wait '))!);
  const ratio = (x: number) => (timed ? b / x : x / b).toFixed(2);
  const fmt = (x: number) => x.toFixed(timed && x >= 10 ? 1 : 2);
  const sizeLabel = size === '0' ? '-' : Number(size) >= 1 << 20 ? `${Number(size) >> 20} MiB` : `${Number(size) >> 10} KiB`;
  rows.push({ system: system!.replace('before ', ''), op, size: sizeLabel, c, before: fmt(b), after: fmt(a), 'after, no wait': fmt(n), 'after/before': ratio(a), 'no wait/before': ratio(n) });
}
console.log(`this tree vs ${values.before}${durable ? '' : ' (durable: false)'}, medians of ${values.rounds} interleaved rounds; GB/s, or µs per call (ratio > 1 = faster than before); 'after': inline wait ${wait} µs, worker spin ${values.spin} µs; 'after, no wait': inline wait off:`);
console.table(rows);
