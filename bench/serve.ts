/**
 * `npm run bench:serve`: RESP SET/GET of 1 MiB and 4 MiB values over 8
 * connections and EXISTS keys/s, on loopback — `kvbox serve` (sandboxed and
 * native tenants, durable: fsync before +OK) against the in-process library
 * doing the same work, and a local `redis-server` (memory only) as the
 * yardstick. Systems are interleaved per round; medians are printed with
 * ratios and the issue's goals.
 *
 *   npm run bench:serve -- [--rounds 3] [--mib 128] [--dir /var/tmp]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { compileConnector, type Connector, FS_CONNECTOR, NATIVE_FS } from '../host/index.js';
import { RespClient } from '../test/serve/resp-client.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    mib: { type: 'string', default: '128' },
    dir: { type: 'string', default: process.env.KVBOX_BENCH_DIR ?? '/var/tmp' },
  },
});
const ROUNDS = Number(args.rounds);
const PHASE_BYTES = Number(args.mib) << 20;
const CONNECTIONS = 8;
const SIZES = [1 << 20, 4 << 20];
const EXISTS_PER_CONNECTION = 1000;
const work = mkdtempSync(join(args.dir, 'kvbox-bench-serve-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/** One way of doing the work: SET n values of a size, GET them back, EXISTS many times. */
interface System {
  name: string;
  set(size: number, value: Buffer, n: number): Promise<void>;
  get(size: number, n: number): Promise<void>;
  exists(n: number): Promise<void>;
}

/** Runs `n` operations over 8 workers, each its own sequence. */
async function spread(n: number, op: (worker: number, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, w) => {
      for (let i = next++; i < n; i = next++) await op(w, i);
    }),
  );
}

function expectOk(r: unknown, what: string): void {
  if (!(r && typeof r === 'object' && 'simple' in r && (r as { simple: string }).simple === 'OK')) throw new Error(`${what}: ${JSON.stringify(r)}`);
}

/** A RESP system: 8 connections, LMCache-shaped requests. */
async function respSystem(name: string, port: number, auth: string[]): Promise<System> {
  const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => RespClient.connect(port)));
  if (auth.length > 0) for (const c of conns) expectOk(await c.call('AUTH', ...auth), `${name} AUTH`);
  return {
    name,
    set: (size, value, n) => spread(n, async (w, i) => expectOk(await conns[w]!.call('SET', `bench-${size}-${i}`, value), `${name} SET`)),
    get: (size, n) =>
      spread(n, async (w, i) => {
        const r = await conns[w]!.call('GET', `bench-${size}-${i}`);
        if (!Buffer.isBuffer(r) || r.length !== size) throw new Error(`${name} GET returned ${String(r).slice(0, 40)}`);
      }),
    exists: (n) =>
      spread(n, async (w, i) => {
        if ((await conns[w]!.call('EXISTS', `bench-${SIZES[0]}-${i % 8}`)) !== 1) throw new Error(`${name} EXISTS missed`);
      }),
  };
}

/** The in-process library doing the same work with 8 concurrent callers (getInto into per-worker buffers). */
async function librarySystem(name: string, store: Connector): Promise<System> {
  const targets = new Map<number, Buffer[]>();
  return {
    name,
    set: (size, value, n) => spread(n, (_, i) => store.put(`bench-${size}-${i}`, value)),
    get: (size, n) => {
      if (!targets.has(size)) targets.set(size, Array.from({ length: CONNECTIONS }, () => Buffer.allocUnsafeSlow(size)));
      return spread(n, async (w, i) => {
        if ((await store.getInto(`bench-${size}-${i}`, targets.get(size)![w]!)) !== size) throw new Error(`${name} getInto missed`);
      });
    },
    exists: (n) =>
      spread(n, async (_, i) => {
        if (!(await store.exists(`bench-${SIZES[0]}-${i % 8}`))) throw new Error(`${name} exists missed`);
      }),
  };
}

/** Starts a process and resolves with the first stdout line `ready` accepts. */
function startProcess(command: string, argv: string[], ready: (line: string) => number | undefined, env = process.env): Promise<number> {
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'], env });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const port = ready(line);
      if (port !== undefined) resolve(port);
    });
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}) before it was ready`)));
  });
}

async function kvboxServe(): Promise<number> {
  const env = { ...process.env, KVBOX_BENCH_PW: 'bench' };
  const tenants = Object.fromEntries(
    ['sandboxed', 'native'].map((t) => [t, { connector: t === 'native' ? 'native-fs' : 'fs', root: join(work, `serve-${t}`), durable: true, auth: { username: t, password: 'env:KVBOX_BENCH_PW' } }]),
  );
  const config = join(work, 'serve.json');
  writeFileSync(config, JSON.stringify({ resp: { port: 0 }, log: { level: 'info' }, cacheDir: false, tenants }));
  const main = new URL('../dist/serve/main.js', import.meta.url).pathname;
  return startProcess(process.execPath, [main, '--config', config], (line) => (line.includes('kvbox serve ready') ? (JSON.parse(line) as { resp: { port: number } }).resp.port : undefined), env);
}

async function redisServer(): Promise<number | undefined> {
  const port = 20_000 + (process.pid % 20_000);
  try {
    await startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'notice'], (line) =>
      line.includes('Ready to accept connections') ? port : undefined,
    );
    return port;
  } catch (err) {
    console.log(`redis-server: not available (${(err as Error).message}); its rows are skipped (Debian package redis-server)`);
    return undefined;
  }
}

const servePort = await kvboxServe();
const redisPort = await redisServer();
const open = async (source: string, dir: string) => (await compileConnector(source, { cacheDir: false })).open({ root: join(work, dir), durable: true });
const systems: System[] = [
  await respSystem('serve sandboxed', servePort, ['sandboxed', 'bench']),
  await respSystem('serve native', servePort, ['native', 'bench']),
  await librarySystem('library sandboxed', await open(FS_CONNECTOR, 'lib-sandboxed')),
  await librarySystem('library native', await open(NATIVE_FS, 'lib-native')),
  ...(redisPort === undefined ? [] : [await respSystem('redis-server', redisPort, [])]),
];

const samples = new Map<string, number[]>();
const record = (key: string, v: number) => samples.set(key, [...(samples.get(key) ?? []), v]);
async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

console.log(`kvbox serve bench: ${CONNECTIONS} connections, ${PHASE_BYTES >> 20} MiB per phase, ${ROUNDS} rounds, systems interleaved; durable kvbox tenants (fsync before +OK), redis in memory`);
const started = performance.now();
for (let round = 0; round < ROUNDS; round++) {
  const order = systems.map((_, i) => systems[(i + round) % systems.length]!);
  for (const size of SIZES) {
    const value = Buffer.alloc(size, round + 1);
    const n = Math.max(CONNECTIONS, Math.floor(PHASE_BYTES / size));
    for (const s of order) {
      record(`${s.name}|SET ${size >> 20} MiB`, (n * size) / (await timed(() => s.set(size, value, n))) / 1e6);
      record(`${s.name}|GET ${size >> 20} MiB`, (n * size) / (await timed(() => s.get(size, n))) / 1e6);
    }
  }
  for (const s of order) record(`${s.name}|EXISTS`, (CONNECTIONS * EXISTS_PER_CONNECTION) / (await timed(() => s.exists(CONNECTIONS * EXISTS_PER_CONNECTION))));
  process.stdout.write(`round ${round + 1}/${ROUNDS} done (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const m = (system: string, what: string) => {
  const xs = samples.get(`${system}|${what}`);
  return xs ? median(xs) : NaN;
};
const columns = ['SET 1 MiB', 'GET 1 MiB', 'SET 4 MiB', 'GET 4 MiB', 'EXISTS'];
const rows = [['system', ...columns.map((c) => (c === 'EXISTS' ? 'EXISTS keys/s' : `${c} MB/s`))]];
for (const s of systems) rows.push([s.name, ...columns.map((c) => m(s.name, c).toFixed(0))]);
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log('\nmedians:');
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));

console.log('\nratios and goals:');
const goal = (label: string, ratio: number, target: number) => console.log(`  ${label.padEnd(44)} ${ratio.toFixed(2)}×  (goal ≥ ${target}×: ${ratio >= target ? 'met' : 'MISSED'})`);
for (const kind of ['sandboxed', 'native']) {
  for (const c of columns.slice(0, 4)) goal(`serve ${kind} / library ${kind}, ${c}`, m(`serve ${kind}`, c) / m(`library ${kind}`, c), 0.8);
}
if (redisPort !== undefined) {
  for (const kind of ['sandboxed', 'native']) {
    for (const c of ['SET 4 MiB', 'GET 4 MiB']) goal(`serve ${kind} / redis-server, ${c}`, m(`serve ${kind}`, c) / m('redis-server', c), 1);
  }
  for (const kind of ['sandboxed', 'native']) console.log(`  serve ${kind} / redis-server, EXISTS keys/s`.padEnd(46) + ` ${(m(`serve ${kind}`, 'EXISTS') / m('redis-server', 'EXISTS')).toFixed(2)}×  (no goal)`);
}
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exit(0);
