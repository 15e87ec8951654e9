/**
 * `npm run bench`: one run, alternatives interleaved (A B C D, then the next
 * round in rotated order), medians of ≥ 5 rounds, a live progress bar.
 * Prints tables and target checks; with --write, also writes
 * docs/bench/latest.json, docs/bench/throughput.svg and the figures in
 * docs/benchmarks.md (a plain run leaves the tree clean).
 *
 *   npm run bench -- [--rounds 5] [--batch-mib 96] [--quick] [--write] [--only batch]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { compileConnector, FS_CONNECTOR, NATIVE_FS } from '../host/index.js';
import { alignment, child, dropCaches, durability, eventLoopLag, instantiation, median, quantile, smallOps } from './probes.js';
import { type Cell, label, markdownTable, spliceGenerated, svgChart, table, throughputTable } from './report.js';
import { CABI_RATIOS, cabiSystems } from './cabi.js';
import { cReference, kvboxSystem, nodeFs, type System } from './systems.js';
import { type BatchResults, batchRows, batchTargets } from './batch.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'batch-mib': { type: 'string', default: '96' },
    quick: { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
    only: { type: 'string' },
    dir: { type: 'string', default: process.env.KVBOX_BENCH_DIR ?? '/var/tmp' },
  },
});
const ROUNDS = values.quick ? 3 : Math.max(5, Number(values.rounds));
const BATCH = (values.quick ? 32 : Number(values['batch-mib'])) << 20;
const SIZES = [256 << 10, 1 << 20, 4 << 20, 16 << 20];
const CONCURRENCY = [1, 4];
const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'docs', 'bench');
const work = mkdtempSync(join(values.dir, 'kvbox-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const refBinary = join(work, 'odirect_ref');
execFileSync('cc', ['-O2', '-pthread', '-o', refBinary, join(import.meta.dirname, 'odirect_ref.c')]);
const wasmComponent = await compileConnector(FS_CONNECTOR, { cacheDir: false });
const nativeComponent = await compileConnector(NATIVE_FS);
const systems: System[] = [
  kvboxSystem('wasm', wasmComponent, 4),
  kvboxSystem('native', nativeComponent, 4),
  nodeFs,
  cReference(refBinary),
  ...(await cabiSystems(work)),
];
const names = systems.map((s) => s.name);

/** The batched API's rows and targets, printed. */
function printBatch(b: BatchResults): void {
  console.log('\nbatched API (contract 0.2.0), GB/s at batch level, median of rounds; single-key and C reference with the same threads');
  const systemsB = [...new Set(b.rows.map((r) => r.system))];
  const shapes = [...new Set(b.rows.map((r) => r.shape))];
  const gbB = (sys: string, op: string, shape: string) => b.rows.find((r) => r.system === sys && r.op === op && r.shape === shape)?.gbPerSec ?? NaN;
  console.log(table([['op', 'batch', ...systemsB], ...shapes.flatMap((sh) => (['put', 'get-into'] as const).map((op) => [op, sh, ...systemsB.map((sys) => gbB(sys, op, sh).toFixed(2))]))]));
  console.log(table([['exists, µs per key (1 000 keys, half stored)', ...Object.keys(b.existsUsPerKey)], ['', ...Object.values(b.existsUsPerKey).map((v) => v.toFixed(2))]]));
}

if (values.only === 'batch') {
  const b = await batchRows({ wasm: wasmComponent, native: nativeComponent }, work, ROUNDS, refBinary);
  printBatch(b);
  console.log(table([['target', 'measured', 'verdict'], ...batchTargets(b).map((t) => [t.target, t.value.toFixed(2), t.ok(t.value) ? 'met' : 'MISSED'])]));
  process.exit(0);
}

// ── throughput, interleaved ─────────────────────────────────────────────
const samples = new Map<string, number[]>();
const key = (s: string, op: string, size: number, c: number) => `${s}|${op}|${size}|${c}`;
const steps = ROUNDS * SIZES.length * CONCURRENCY.length * systems.length;
const bar = new cliProgress.SingleBar({ format: 'throughput {bar} {value}/{total} | round {round} {what}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
bar.start(steps, 0, { round: 1, what: '' });
let cold = true;
for (let round = 0; round < ROUNDS; round++) {
  for (const size of SIZES) {
    const count = Math.max(4, Math.round(BATCH / size));
    const data = Buffer.alloc(size, round + 1);
    for (const conc of CONCURRENCY) {
      const order = systems.map((_, i) => systems[(i + round) % systems.length]!);
      for (const sys of order) {
        bar.update({ round: round + 1, what: `${sys.name} ${label(size)} c${conc}` });
        const dir = join(work, `${sys.name}-${round}-${size}-${conc}`);
        mkdirSync(dir);
        // The lane before may have left dirty pages (node-fs writes through the page cache): their
        // write-back would slow this lane's puts.
        dropCaches();
        const putNs = await sys.put(dir, data, count, conc);
        cold = dropCaches() && cold;
        const getNs = await sys.get(dir, size, count, conc);
        cold = dropCaches() && cold;
        const getIntoNs = await sys.getInto(dir, size, count, conc);
        rmSync(dir, { recursive: true, force: true });
        for (const [op, ns] of [['put', putNs], ['get', getNs], ['get-into', getIntoNs]] as const) {
          const k = key(sys.name, op, size, conc);
          samples.set(k, [...(samples.get(k) ?? []), (count * size) / ns]);
        }
        bar.increment();
      }
    }
  }
}
bar.stop();
const cells: Cell[] = [];
for (const [k, gbs] of samples) {
  const [system, op, size, conc] = k.split('|');
  const g = median(gbs);
  cells.push({ system: system!, op: op as Cell['op'], size: Number(size), concurrency: Number(conc), gbPerSec: g, objPerSec: (g * 1e9) / Number(size), rounds: gbs });
}
const cell = (s: string, op: string, size: number, c: number) => cells.find((x) => x.system === s && x.op === op && x.size === size && x.concurrency === c)!;

// ── everything else ─────────────────────────────────────────────────────
process.stderr.write('small ops, instantiation, first load, event-loop lag, tenants…\n');
const small: Record<string, Awaited<ReturnType<typeof smallOps>>[]> = { wasm: [], native: [] };
const inst: Record<string, number[]> = { wasm: [], native: [] };
const reopen: Record<string, number[]> = { wasm: [], native: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, comp] of round % 2 ? [['native', nativeComponent], ['wasm', wasmComponent]] as const : [['wasm', wasmComponent], ['native', nativeComponent]] as const) {
    small[name]!.push(await smallOps(comp, join(work, `small-${name}-${round}`), values.quick ? 1000 : 4000));
    inst[name]!.push(...(await instantiation(comp, join(work, `inst-${name}-${round}`), 100)));
    reopen[name]!.push(...(await instantiation(comp, join(work, `reopen-${name}-${round}`), 100, true)));
  }
}
const smallMedian = (name: string) => {
  const rs = small[name]!;
  const m = (f: (x: (typeof rs)[number]) => number) => median(rs.map(f));
  return { pingP50Us: m((r) => r.pingP50Us), existsP50Us: m((r) => r.existsP50Us), existsP99Us: m((r) => r.existsP99Us), sizeP50Us: m((r) => r.sizeP50Us), sizeP99Us: m((r) => r.sizeP99Us), existsPerSec: m((r) => r.existsPerSec), sizePerSec: m((r) => r.sizePerSec) };
};

const cacheDir = join(work, 'first-load-cache');
const firstLoad = { coldCompileMs: [] as number[], diskCacheMs: [] as number[] };
for (let i = 0; i < 3; i++) {
  rmSync(cacheDir, { recursive: true, force: true });
  const a = child<{ ms: number; origin: string }>('load', cacheDir);
  const b = child<{ ms: number; origin: string }>('load', cacheDir);
  if (a.origin !== 'compiled' || b.origin !== 'disk') throw new Error(`first-load origins ${a.origin}/${b.origin}`);
  firstLoad.coldCompileMs.push(a.ms);
  firstLoad.diskCacheMs.push(b.ms);
}

const lagStore = await wasmComponent.open({ root: join(work, 'lag'), limits: { maxInstances: 4 } });
const lagData = Buffer.alloc(4 << 20, 7);
const lagTargets = Array.from({ length: 8 }, () => Buffer.alloc(4 << 20));
/** 8 lanes of 4 MiB put + read for 3 s; `into` reads into reused buffers instead of allocating. */
const saturate = (into: boolean) => async () => {
  const until = Date.now() + 3000;
  let i = 0;
  await Promise.all(
    lagTargets.map(async (target) => {
      while (Date.now() < until) {
        const k = `lag-${i++ % 32}`;
        await lagStore.put(k, lagData);
        if (into) await lagStore.getInto(k, target);
        else await lagStore.get(k);
      }
    }),
  );
};
const durableModes = await durability(nativeComponent, join(work, 'durability'), ROUNDS);
const aligned = await alignment(nativeComponent, join(work, 'alignment'), ROUNDS);
const lag = await eventLoopLag(saturate(false));
const lagInto = await eventLoopLag(saturate(true));
await lagStore.close();

process.stderr.write('batched API…\n');
const batch = await batchRows({ wasm: wasmComponent, native: nativeComponent }, work, ROUNDS, refBinary);

const tenants = {
  wasm: child<{ bytesPerTenant: number; n: number }>('tenants', 'wasm', join(work, 'tenants-wasm'), '1000'),
  native: child<{ bytesPerTenant: number; n: number }>('tenants', 'native', join(work, 'tenants-native'), '1000'),
};

// ── report ──────────────────────────────────────────────────────────────
const ratio = (a: number, b: number) => a / b;
const ratios: Array<{ name: string; op: string; size: string; concurrency: number; value: number }> = [];
for (const c of cells.filter((x) => x.system === 'native')) {
  const args = [c.op, c.size, c.concurrency] as const;
  ratios.push({ name: 'wasm / native', op: c.op, size: label(c.size), concurrency: c.concurrency, value: ratio(cell('wasm', ...args).gbPerSec, c.gbPerSec) });
  ratios.push({ name: 'native / C reference', op: c.op, size: label(c.size), concurrency: c.concurrency, value: ratio(c.gbPerSec, cell('c-odirect', ...args).gbPerSec) });
  ratios.push({ name: 'native / Node fs', op: c.op, size: label(c.size), concurrency: c.concurrency, value: ratio(c.gbPerSec, cell('node-fs', ...args).gbPerSec) });
  for (const [name, a, b] of CABI_RATIOS) ratios.push({ name, op: c.op, size: label(c.size), concurrency: c.concurrency, value: ratio(cell(a, ...args).gbPerSec, cell(b, ...args).gbPerSec) });
}
const min = (name: string, pred: (r: (typeof ratios)[number]) => boolean) => Math.min(...ratios.filter((r) => r.name === name && pred(r)).map((r) => r.value));
const bigObjects = (r: (typeof ratios)[number]) => r.size !== '256 KiB';
// Like for like with the C reference, which reads into buffers it reuses: put and get-into.
const likeForLike = (r: (typeof ratios)[number]) => bigObjects(r) && r.op !== 'get';
const wasmSmall = smallMedian('wasm');
// µs per 256 KiB op, one in flight, native minus the C reference.
const overC = (op: string) => {
  const us = (system: string) => (256 << 10) / cell(system, op, 256 << 10, 1).gbPerSec / 1000;
  return us('native') - us('c-odirect');
};
const targets = [
  { target: 'wasm ≥ 0.95× native, objects ≥ 1 MiB (worst cell)', value: min('wasm / native', bigObjects), ok: (v: number) => v >= 0.95 },
  { target: 'native ≥ 0.9× C reference (worst put/get-into cell ≥ 1 MiB)', value: min('native / C reference', likeForLike), ok: (v: number) => v >= 0.9 },
  { target: 'native ≥ 0.8× C reference, allocating get (worst cell ≥ 1 MiB)', value: min('native / C reference', (r) => bigObjects(r) && r.op === 'get'), ok: (v: number) => v >= 0.8 },
  { target: 'native get-into 256 KiB c1: µs per op over the C reference ≤ 20', value: overC('get-into'), ok: (v: number) => v <= 20 },
  { target: 'native put 256 KiB c1: µs per op over the C reference ≤ 40', value: overC('put'), ok: (v: number) => v <= 40 },
  { target: 'native ≥ 2× Node, 4 MiB writes (worse of c1, c4)', value: min('native / Node fs', (r) => r.op === 'put' && r.size === '4 MiB'), ok: (v: number) => v >= 2 },
  { target: 'small-op round trip p50 ≤ 10 µs (wasm exists)', value: wasmSmall.existsP50Us, ok: (v: number) => v <= 10 },
  { target: 'instantiation ≤ 50 µs (wasm open, median)', value: median(inst.wasm!), ok: (v: number) => v <= 50 },
  // The same open where the tenant's directory exists (a reopen: no mkdir, the filesystem's part).
  { target: 'instantiation ≤ 50 µs at an existing directory (wasm open, median)', value: median(reopen.wasm!), ok: (v: number) => v <= 50 },
  { target: 'event-loop lag p99 ≤ 2 ms, saturated I/O (put + get)', value: lag.busyP99Ms, ok: (v: number) => v <= 2 },
  { target: 'event-loop lag p99 ≤ 2 ms, saturated I/O (put + getInto)', value: lagInto.busyP99Ms, ok: (v: number) => v <= 2 },
  { target: 'idle tenant ≤ 512 KiB (wasm)', value: tenants.wasm.bytesPerTenant / 1024, ok: (v: number) => v <= 512 },
  ...batchTargets(batch),
];

const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, benchDir: values.dir, readsCold: cold, rounds: ROUNDS, batchMiB: BATCH >> 20 };
console.log(`\nkvbox benchmark — ${new Date().toISOString()} — ${machine.cpus} vCPU ${machine.cpu}, ${machine.memGiB} GiB, Node ${machine.node}`);
console.log(`rounds ${ROUNDS} (medians), batch ${BATCH >> 20} MiB per cell, dir ${values.dir}, reads ${cold ? 'cold (page cache dropped)' : 'POSSIBLY WARM (could not drop caches)'}\n`);
console.log(throughputTable(cells, names));
console.log('\nratios (median GB/s over median GB/s)');
console.log(table([['ratio', 'op', 'size', 'conc', 'value'], ...ratios.map((r) => [r.name, r.op, r.size, String(r.concurrency), r.value.toFixed(2)])]));
console.log('\nsmall ops on 1 KiB objects (sequential latency; rate with 32 in flight)');
const sm = { wasm: wasmSmall, native: smallMedian('native') };
console.log(table([['system', 'ping p50 µs', 'exists p50 µs', 'p99 µs', 'size p50 µs', 'p99 µs', 'exists/s', 'size/s'], ...Object.entries(sm).map(([n, s]) => [n, s.pingP50Us.toFixed(1), s.existsP50Us.toFixed(1), s.existsP99Us.toFixed(1), s.sizeP50Us.toFixed(1), s.sizeP99Us.toFixed(1), s.existsPerSec.toFixed(0), s.sizePerSec.toFixed(0)])]));
console.log(`\nopen a tenant from a compiled component (µs): wasm p50 ${median(inst.wasm!).toFixed(0)} p99 ${quantile(inst.wasm!, 0.99).toFixed(0)}; native p50 ${median(inst.native!).toFixed(0)} p99 ${quantile(inst.native!, 0.99).toFixed(0)}`);
console.log(`open at an existing directory (µs): wasm p50 ${median(reopen.wasm!).toFixed(0)}; native p50 ${median(reopen.native!).toFixed(0)}`);
console.log(`first load in a new process (ms): cold compile ${median(firstLoad.coldCompileMs).toFixed(1)}, from disk cache ${median(firstLoad.diskCacheMs).toFixed(2)}`);
console.log(`event-loop delay p99 (ms): idle ${lag.idleP99Ms.toFixed(2)}, during 8×(4 MiB put+get) through wasm ${lag.busyP99Ms.toFixed(2)}, with getInto ${lagInto.busyP99Ms.toFixed(2)}`);
console.log(`1 MiB puts, native, concurrency 1 (GB/s): durable ${durableModes.durable.toFixed(2)}, durable: false ${durableModes.cache.toFixed(2)}`);
console.log(`1 MiB put / cold getInto, native, c1 (µs per op), plain Buffer → allocBuffer: put ${aligned.plain.putUs.toFixed(0)} → ${aligned.aligned.putUs.toFixed(0)}, getInto ${aligned.plain.getIntoUs.toFixed(0)} → ${aligned.aligned.getIntoUs.toFixed(0)}`);
console.log(`resident memory per idle tenant (1000 tenants): wasm ${(tenants.wasm.bytesPerTenant / 1024).toFixed(0)} KiB, native ${(tenants.native.bytesPerTenant / 1024).toFixed(1)} KiB`);
printBatch(batch);
console.log('\ntargets');
console.log(table([['target', 'measured', 'verdict'], ...targets.map((t) => [t.target, t.value.toFixed(2), t.ok(t.value) ? 'met' : 'MISSED'])]));

if (!values.write) {
  console.log('\n(not written: pass --write to record these figures in docs/bench/ and docs/benchmarks.md)');
  process.exit(0);
}
mkdirSync(OUT, { recursive: true });
const result = {
  date: new Date().toISOString(), machine, throughput: cells, ratios, smallOps: sm,
  instantiationUs: { wasm: { p50: median(inst.wasm!), p99: quantile(inst.wasm!, 0.99) }, native: { p50: median(inst.native!), p99: quantile(inst.native!, 0.99) } },
  reopenUs: { wasm: { p50: median(reopen.wasm!), p99: quantile(reopen.wasm!, 0.99) }, native: { p50: median(reopen.native!), p99: quantile(reopen.native!, 0.99) } },
  firstLoad: { coldCompileMs: median(firstLoad.coldCompileMs), diskCacheMs: median(firstLoad.diskCacheMs) },
  eventLoopLag: { ...lag, busyGetIntoP99Ms: lagInto.busyP99Ms }, durabilityGbPerSec: durableModes, bufferAlignmentUs: aligned, idleTenantBytes: { wasm: tenants.wasm.bytesPerTenant, native: tenants.native.bytesPerTenant },
  batch,
  targets: targets.map((t) => ({ target: t.target, value: t.value, met: t.ok(t.value) })),
};
writeFileSync(join(OUT, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(join(OUT, 'throughput.svg'), svgChart(cells, names, `kvbox throughput, median of ${ROUNDS} rounds (${machine.cpus} vCPU, ${new Date().toISOString().slice(0, 10)})`));

// docs/benchmarks.md keeps the latest figures between its bench markers.
const gb = (s: string, op: string, size: number, c: number) => cell(s, op, size, c).gbPerSec.toFixed(2);
const ratioOf = (name: string, op: string, size: number, c: number) => ratios.find((r) => r.name === name && r.op === op && r.size === label(size) && r.concurrency === c)!.value.toFixed(2);
const generated = [
  `Run ${result.date}: ${machine.cpus} vCPU ${machine.cpu}, ${machine.memGiB} GiB, Node ${machine.node}; medians of ${ROUNDS} rounds, ${BATCH >> 20} MiB per cell, reads ${cold ? 'cold' : 'possibly warm'}. GB/s:`,
  '',
  markdownTable([['op', 'size', 'conc', ...names], ...SIZES.flatMap((size) => CONCURRENCY.flatMap((c) => (['put', 'get', 'get-into'] as const).map((op) => [op, label(size), String(c), ...names.map((n) => gb(n, op, size, c))])))]),
  '',
  'Ratios for objects ≥ 1 MiB, concurrency 1 / 4 (every cell is in `latest.json`):',
  '',
  markdownTable([
    ['ratio', 'size', 'put', 'get', 'get-into'],
    ...['wasm / native', 'native / C reference', 'native / Node fs', ...CABI_RATIOS.map(([name]) => name)].flatMap((name) =>
      SIZES.filter((sz) => sz >= 1 << 20).map((size) => [name, label(size), ...(['put', 'get', 'get-into'] as const).map((op) => `${ratioOf(name, op, size, 1)} / ${ratioOf(name, op, size, 4)}`)]),
    ),
  ]),
  '',
  markdownTable([
    ['probe', 'wasm', 'native'],
    ['`ping` round trip p50 (worker pool, no connector work)', `${sm.wasm.pingP50Us.toFixed(1)} µs`, `${sm.native.pingP50Us.toFixed(1)} µs`],
    ['`exists` round trip p50 / p99 (1 KiB objects, sequential)', `${sm.wasm.existsP50Us.toFixed(1)} / ${sm.wasm.existsP99Us.toFixed(1)} µs`, `${sm.native.existsP50Us.toFixed(1)} / ${sm.native.existsP99Us.toFixed(1)} µs`],
    ['`size` round trip p50 / p99', `${sm.wasm.sizeP50Us.toFixed(1)} / ${sm.wasm.sizeP99Us.toFixed(1)} µs`, `${sm.native.sizeP50Us.toFixed(1)} / ${sm.native.sizeP99Us.toFixed(1)} µs`],
    ['`exists` / `size` rate, 32 in flight', `${sm.wasm.existsPerSec.toFixed(0)} / ${sm.wasm.sizePerSec.toFixed(0)} per s`, `${sm.native.existsPerSec.toFixed(0)} / ${sm.native.sizePerSec.toFixed(0)} per s`],
    ['open a tenant (new directory) from a compiled component, p50 / p99', `${median(inst.wasm!).toFixed(0)} / ${quantile(inst.wasm!, 0.99).toFixed(0)} µs`, `${median(inst.native!).toFixed(0)} / ${quantile(inst.native!, 0.99).toFixed(0)} µs`],
    ['the same at an existing directory (a reopen: no `mkdir`), p50 / p99', `${median(reopen.wasm!).toFixed(0)} / ${quantile(reopen.wasm!, 0.99).toFixed(0)} µs`, `${median(reopen.native!).toFixed(0)} / ${quantile(reopen.native!, 0.99).toFixed(0)} µs`],
    ['first load in a new process: cold compile / from the disk cache', `${median(firstLoad.coldCompileMs).toFixed(1)} / ${median(firstLoad.diskCacheMs).toFixed(2)} ms`, '—'],
    ['event-loop delay p99: idle / 8 × (4 MiB put + get) / with getInto', `${lag.idleP99Ms.toFixed(2)} / ${lag.busyP99Ms.toFixed(2)} / ${lagInto.busyP99Ms.toFixed(2)} ms`, '—'],
    ['1 MiB puts, concurrency 1: `durable` (default) / `durable: false` (pure caches)', '—', `${durableModes.durable.toFixed(2)} / ${durableModes.cache.toFixed(2)} GB/s`],
    [
      '1 MiB put / cold getInto, concurrency 1, µs per op: plain `Buffer` → `allocBuffer` (the table above uses `allocBuffer`)',
      '—',
      `${aligned.plain.putUs.toFixed(0)} → ${aligned.aligned.putUs.toFixed(0)} / ${aligned.plain.getIntoUs.toFixed(0)} → ${aligned.aligned.getIntoUs.toFixed(0)} µs`,
    ],
    ['resident memory per idle tenant, 1 000 tenants', `${(tenants.wasm.bytesPerTenant / 1024).toFixed(0)} KiB`, `${(tenants.native.bytesPerTenant / 1024).toFixed(1)} KiB`],
  ]),
  '',
  'Batched API (contract 0.2.0), GB/s at batch level; the single-key API and the C reference use the same number of threads / calls in flight:',
  '',
  markdownTable([
    ['op', 'batch', ...[...new Set(batch.rows.map((r) => r.system))]],
    ...[...new Set(batch.rows.map((r) => r.shape))].flatMap((sh) =>
      (['put', 'get-into'] as const).map((op) => [op, sh, ...[...new Set(batch.rows.map((r) => r.system))].map((sys) => (batch.rows.find((r) => r.system === sys && r.op === op && r.shape === sh)?.gbPerSec ?? NaN).toFixed(2))]),
    ),
  ]),
  '',
  markdownTable([['exists, µs per key (1 000 keys)', 'value'], ...Object.entries(batch.existsUsPerKey).map(([k, v]) => [k, v.toFixed(2)])]),
  '',
  markdownTable([['target', 'measured', 'verdict'], ...targets.map((t) => [t.target.trim(), t.value.toFixed(2), t.ok(t.value) ? 'met' : 'missed'])]),
].join('\n');
const docPath = join(ROOT, 'docs', 'benchmarks.md');
const spliced = spliceGenerated(readFileSync(docPath, 'utf8'), generated);
if (spliced) writeFileSync(docPath, spliced);
console.log(`\nwrote ${join(OUT, 'latest.json')}, ${join(OUT, 'throughput.svg')}${spliced ? ' and the figures in docs/benchmarks.md' : ''}`);
