/**
 * `npm run bench:ab -- --before <checkout>`: this tree against another
 * built checkout of kvbox (its `dist/` and addon), the same kvbox systems
 * as `npm run bench` (sandboxed and native; put, get, getInto; 1 and 4 MiB;
 * 1 and 4 in flight) plus `exists`, interleaved round by round in one
 * process. Prints after/before ratios — the check that a refactor did not
 * slow anything down beyond noise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as after from '../host/index.js';
import { median } from './probes.js';
import { kvboxSystem, type System } from './systems.js';

const { values } = parseArgs({
  options: { before: { type: 'string' }, rounds: { type: 'string', default: '5' }, 'batch-mib': { type: 'string', default: '64' } },
});
if (!values.before) throw new Error('bench:ab needs --before <path to a built kvbox checkout>');
const before = (await import(join(resolve(values.before), 'dist', 'index.js'))) as typeof after;
const work = mkdtempSync(join(process.env.KVBOX_BENCH_DIR ?? '/var/tmp', 'kvbox-ab-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const builds = { before, after } as const;
const systems: Record<string, System> = {};
for (const [build, lib] of Object.entries(builds)) {
  systems[`${build} wasm`] = kvboxSystem(`${build} wasm`, await lib.compileConnector(lib.FS_CONNECTOR, { cacheDir: false }), 4);
  systems[`${build} native`] = kvboxSystem(`${build} native`, await lib.compileConnector(lib.NATIVE_FS), 4);
}
const cells: [number, number][] = [
  [1 << 20, 1],
  [1 << 20, 4],
  [4 << 20, 1],
  [4 << 20, 4],
];
const samples = new Map<string, number[]>();
const add = (k: string, v: number) => samples.set(k, [...(samples.get(k) ?? []), v]);
let seq = 0;
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [size, c] of cells) {
    const count = Math.max(4, Math.floor((Number(values['batch-mib']) << 20) / size));
    const data = Buffer.alloc(size, 7);
    const order = Object.keys(systems);
    if (r % 2) order.reverse();
    for (const name of order) {
      const dir = join(work, `d${seq++}`);
      const s = systems[name]!;
      const gb = (ns: number) => (size * count) / ns;
      add(`${name}|put|${size}|${c}`, gb(await s.put(dir, data, count, c)));
      add(`${name}|get|${size}|${c}`, gb(await s.get(dir, size, count, c)));
      add(`${name}|getInto|${size}|${c}`, gb(await s.getInto(dir, size, count, c)));
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const [build, lib] of Object.entries(builds)) {
    await using store = await lib.loadConnector(lib.FS_CONNECTOR, { root: join(work, `e${seq++}`), cacheDir: false });
    const t = process.hrtime.bigint();
    for (let i = 0; i < 2000; i++) await store.exists(`k${i}`);
    add(`${build} wasm|exists µs|0|1`, Number(process.hrtime.bigint() - t) / 2000 / 1000);
  }
}
const rows = [];
for (const key of samples.keys()) {
  if (!key.startsWith('after ')) continue;
  const [, op, size, c] = key.split('|');
  const a = median(samples.get(key)!);
  const b = median(samples.get(key.replace('after ', 'before '))!);
  rows.push({ system: key.split('|')[0]!.replace('after ', ''), op, size: size === '0' ? '-' : `${Number(size) >> 20} MiB`, c, before: b.toFixed(op!.includes('µs') ? 1 : 2), after: a.toFixed(op!.includes('µs') ? 1 : 2), 'after/before': (op!.includes('µs') ? b / a : a / b).toFixed(2) });
}
console.log(`after vs before (${values.before}), medians of ${values.rounds} interleaved rounds; GB/s, or µs per exists (ratio > 1 = after is faster):`);
console.table(rows);
