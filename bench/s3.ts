/**
 * `npm run bench:s3`: kvbox's S3 backend on a real SeaweedFS (loopback, the
 * test store, built once and cached):
 *
 * 1. put/get of 1 MiB and 4 MiB objects through kvbox (native fast path and
 *    sandboxed connector, getInto for gets) against the store's own Rust
 *    client (`object_store`, examples/s3_direct.rs) doing the same work at
 *    the same concurrency — interleaved per round, medians and ratios;
 * 2. aggregate RESP SET/GET throughput with 1, 2 and 3 `kvbox serve` nodes
 *    on the one store, the same clients spread over the nodes.
 *
 * Everything (store, nodes, clients) shares this machine's cores: the
 * node-count rows show what adding nodes costs or gains here, not on a
 * cluster.
 *
 *   npm run bench:s3 -- [--rounds 3] [--mib 64] [--concurrency 4]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { compileConnector, type Connector, FS_CONNECTOR, NATIVE_FS } from '../host/index.js';
import { ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedStore } from '../test/s3/seaweed.js';
import { RespClient } from '../test/serve/resp-client.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    mib: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '4' },
  },
});
const ROUNDS = Number(args.rounds);
const PHASE_BYTES = Number(args.mib) << 20;
const CONCURRENCY = Number(args.concurrency);
const SIZES = [1 << 20, 4 << 20];
const NODE_COUNTS = [1, 2, 3];
const CLIENTS = 6;

const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(process.env.KVBOX_BENCH_DIR ?? '/var/tmp', 'kvbox-bench-s3-'));
const children: ChildProcess[] = [];
const store = await SeaweedStore.launch();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  store.killNow();
  rmSync(work, { recursive: true, force: true });
});

console.log('building the baseline (object_store, examples/s3_direct.rs)…');
// Built with the addon's package set, so cargo reuses the addon's compiled dependencies.
execFileSync('cargo', ['build', '--release', '-q', '-p', 'kvbox-node', '-p', 'kvbox-core', '--example', 's3_direct'], { cwd: join(root, 'native'), stdio: 'inherit' });
const targetDir = execFileSync('node', [join(root, 'scripts/target-dir.mjs')], { encoding: 'utf8' }).trim();
const direct = join(targetDir, 'release/examples/s3_direct');

/** Runs `n` operations with `CONCURRENCY` in flight. */
async function spread(n: number, op: (worker: number, i: number) => Promise<void>, workers = CONCURRENCY): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = next++; i < n; i = next++) await op(w, i);
    }),
  );
}

interface System {
  name: string;
  /** Seconds to put (or get) `n` objects of `size` under `prefix`. */
  run(op: 'put' | 'get', size: number, n: number, prefix: string): Promise<number>;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

function kvboxSystem(name: string, c: Connector): System {
  const value = new Map<number, Buffer>();
  const targets = new Map<number, Buffer[]>();
  return {
    name,
    run(op, size, n, prefix) {
      if (!value.has(size)) value.set(size, Buffer.alloc(size, 7));
      if (!targets.has(size)) targets.set(size, Array.from({ length: CONCURRENCY }, () => Buffer.allocUnsafeSlow(size)));
      return timed(() =>
        spread(n, async (w, i) => {
          if (op === 'put') await c.put(`${prefix}/${i}`, value.get(size)!);
          else if ((await c.getInto(`${prefix}/${i}`, targets.get(size)![w]!)) !== size) throw new Error(`${name}: get missed`);
        }),
      );
    },
  };
}

/** The client alone; `ifNew`: puts with `If-None-Match: *`, the request kvbox sends for a new key. */
const directSystem = (name: string, ifNew: boolean): System => ({
  name,
  async run(op, size, n, prefix) {
    const mode = op === 'put' && ifNew ? 'put-if-new' : op;
    const out = execFileSync(direct, [store.endpoint, BUCKET, `${name.replace(/\W+/g, '-')}/${prefix}`, ACCESS_KEY, SECRET_KEY, mode, String(size), String(n), String(CONCURRENCY)], { encoding: 'utf8' });
    const r = JSON.parse(out) as { seconds: number; bytes: number };
    if (r.bytes !== size * n) throw new Error(`direct ${op}: moved ${r.bytes} bytes`);
    return r.seconds;
  },
});

const open = async (source: string, prefix: string) =>
  (await compileConnector(source, { cacheDir: false })).open({ storage: store.storage(prefix, { usageRefreshMs: 0 }), limits: { maxObjectBytes: 16 << 20 } });
const systems = [
  kvboxSystem('kvbox native', await open(NATIVE_FS, 'lib-native')),
  kvboxSystem('kvbox sandboxed', await open(FS_CONNECTOR, 'lib-sandboxed')),
  directSystem('object_store direct', false),
  directSystem('object_store if-new', true),
];

const samples = new Map<string, number[]>();
const record = (key: string, v: number) => samples.set(key, [...(samples.get(key) ?? []), v]);
const median = (xs: number[] | undefined) => (xs ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);

console.log(`\n1. backend vs client: ${PHASE_BYTES >> 20} MiB per phase, ${CONCURRENCY} in flight, ${ROUNDS} rounds, systems interleaved`);
const started = performance.now();
for (let round = 0; round < ROUNDS; round++) {
  const order = systems.map((_, i) => systems[(i + round) % systems.length]!);
  for (const size of SIZES) {
    const n = Math.max(CONCURRENCY, Math.floor(PHASE_BYTES / size));
    for (const s of order) {
      const prefix = `r${round}-${size}`;
      record(`${s.name}|put ${size >> 20} MiB`, (n * size) / (await s.run('put', size, n, prefix)) / 1e6);
      record(`${s.name}|get ${size >> 20} MiB`, (n * size) / (await s.run('get', size, n, prefix)) / 1e6);
    }
  }
  console.log(`  round ${round + 1}/${ROUNDS} done (${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
const columns = ['put 1 MiB', 'get 1 MiB', 'put 4 MiB', 'get 4 MiB'];
table([['system', ...columns.map((c) => `${c} MB/s`)], ...systems.map((s) => [s.name, ...columns.map((c) => median(samples.get(`${s.name}|${c}`)).toFixed(0))])]);
console.log('\n  ratios (goal ≥ 0.9×; "if-new": the client sending the same conditional PUT kvbox sends):');
for (const kind of ['kvbox native', 'kvbox sandboxed']) {
  for (const base of ['object_store direct', 'object_store if-new']) {
    for (const c of columns) {
      if (base === 'object_store if-new' && c.startsWith('get')) continue;
      const ratio = median(samples.get(`${kind}|${c}`)) / median(samples.get(`${base}|${c}`));
      console.log(`  ${`${kind} / ${base}, ${c}`.padEnd(52)} ${ratio.toFixed(2)}×  (${ratio >= 0.9 ? 'met' : 'MISSED'})`);
    }
  }
}

// 2. Aggregate throughput over 1, 2, 3 serve nodes.
const env = { ...process.env, KVBOX_BENCH_PW: 'bench', KVBOX_BENCH_S3_SECRET: SECRET_KEY };
async function serveNode(i: number): Promise<number> {
  const storage = { ...store.storage('serve', { usageRefreshMs: 10_000 }), credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: 'env:KVBOX_BENCH_S3_SECRET' } };
  const config = join(work, `node-${i}.json`);
  const tenants = { shared: { connector: 'native-fs', storage, limits: { maxObjectBytes: 16 << 20 }, auth: { username: 'shared', password: 'env:KVBOX_BENCH_PW' } } };
  writeFileSync(config, JSON.stringify({ resp: { port: 0 }, log: { level: 'info' }, cacheDir: false, tenants }));
  const child = spawn(process.execPath, [join(root, 'dist/serve/main.js'), '--config', config], { stdio: ['ignore', 'pipe', 'inherit'], env });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('kvbox serve ready')) resolve((JSON.parse(line) as { resp: { port: number } }).resp.port);
    });
    child.once('exit', (code) => reject(new Error(`kvbox serve exited (${code}) before it was ready`)));
  });
}
const ports = await Promise.all(NODE_COUNTS.map((_, i) => serveNode(i)));
console.log(`\n2. aggregate RESP throughput: ${CLIENTS} clients spread over 1–3 kvbox serve nodes (native fast path, one shared prefix), ${PHASE_BYTES >> 20} MiB per phase`);
const nodeRows: string[][] = [['nodes', ...SIZES.flatMap((s) => [`SET ${s >> 20} MiB MB/s`, `GET ${s >> 20} MiB MB/s`])]];
const agg = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const nodes of NODE_COUNTS) {
    const conns = await Promise.all(Array.from({ length: CLIENTS }, (_, c) => RespClient.connect(ports[c % nodes]!)));
    for (const c of conns) await c.call('AUTH', 'shared', 'bench');
    for (const size of SIZES) {
      const n = Math.max(CLIENTS, Math.floor(PHASE_BYTES / size));
      const value = Buffer.alloc(size, 3);
      const set = await timed(() =>
        spread(
          n,
          async (w, i) => {
            const r = await conns[w]!.call('SET', `n${nodes}-${size}-${i}`, value);
            if (!(r && typeof r === 'object' && 'simple' in r)) throw new Error(`SET: ${JSON.stringify(r)}`);
          },
          CLIENTS,
        ),
      );
      const get = await timed(() =>
        spread(
          n,
          async (w, i) => {
            const r = await conns[w]!.call('GET', `n${nodes}-${size}-${i}`);
            if (!Buffer.isBuffer(r) || r.length !== size) throw new Error('GET missed');
          },
          CLIENTS,
        ),
      );
      agg.set(`${nodes}|SET ${size}`, [...(agg.get(`${nodes}|SET ${size}`) ?? []), (n * size) / set / 1e6]);
      agg.set(`${nodes}|GET ${size}`, [...(agg.get(`${nodes}|GET ${size}`) ?? []), (n * size) / get / 1e6]);
    }
    for (const c of conns) c.close();
  }
}
for (const nodes of NODE_COUNTS) nodeRows.push([String(nodes), ...SIZES.flatMap((s) => [median(agg.get(`${nodes}|SET ${s}`)).toFixed(0), median(agg.get(`${nodes}|GET ${s}`)).toFixed(0)])]);
table(nodeRows);
for (const nodes of NODE_COUNTS.slice(1)) {
  const ratio = SIZES.flatMap((s) => ['SET', 'GET'].map((op) => `${op} ${s >> 20} MiB ${(median(agg.get(`${nodes}|${op} ${s}`)) / median(agg.get(`1|${op} ${s}`))).toFixed(2)}×`));
  console.log(`  ${nodes} nodes / 1 node: ${ratio.join(', ')}`);
}
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
await store.destroy();
process.exit(0);

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log('  ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
}
