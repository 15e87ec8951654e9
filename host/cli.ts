#!/usr/bin/env node
/** The `kvbox` command line. */
import { createHash, randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KvboxError } from './errors.js';
import { compileConnector, FS_CONNECTOR } from './load.js';

const USAGE = `kvbox — sandboxed WebAssembly storage connectors with host-side O_DIRECT I/O

Usage:
  kvbox demo [--dir <path>] [--connector <file.wasm>] [--buffered] [--no-durable]
      Loads the sandboxed filesystem connector for a demo tenant, stores objects
      of several sizes, reads them back, verifies them, lists and removes them,
      and prints what it did with timings.
        --dir        data directory [./kvbox-data]
        --connector  component to run [the bundled fs-connector]
        --buffered   no O_DIRECT
        --no-durable skip fsync (cache mode)
  kvbox --help | --version
`;

const SIZES: Array<[string, number]> = [
  ['0 B', 0],
  ['1 B', 1],
  ['4095 B', 4095],
  ['256 KiB', 256 << 10],
  ['1 MiB', 1 << 20],
  ['4 MiB', 4 << 20],
  ['16 MiB', 16 << 20],
];

async function demo(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: 'string', default: 'kvbox-data' },
      connector: { type: 'string', default: FS_CONNECTOR },
      buffered: { type: 'boolean', default: false },
      'no-durable': { type: 'boolean', default: false },
    },
  });
  const dir = resolve(values.dir);
  const root = resolve(dir, 'tenants', 'demo');
  let t = performance.now();
  const component = await compileConnector(values.connector, { cacheDir: resolve(dir, 'cache') });
  const loadMs = performance.now() - t;
  t = performance.now();
  await using store = await component.open({
    root,
    config: { namespace: 'demo' },
    directIo: !values.buffered,
    durable: !values['no-durable'],
  });
  const openMs = performance.now() - t;
  console.log(`connector  ${values.connector}`);
  console.log(`component  ${component.digest.slice(0, 16)}… ${component.origin} in ${loadMs.toFixed(1)} ms; opened in ${openMs.toFixed(1)} ms`);
  console.log(`tenant     ${root}`);
  console.log(`I/O        ${store.directAlignment ? `O_DIRECT, ${store.directAlignment}-byte alignment` : 'buffered'}, ${values['no-durable'] ? 'not synced' : 'fsync + rename + directory fsync'}\n`);

  const rows: string[][] = [['key', 'size', 'put ms', 'put MB/s', 'get ms', 'get MB/s', 'sha256', 'verified']];
  let failures = 0;
  for (const [label, size] of SIZES) {
    const key = `demo-model@1@0@${label.replace(' ', '')}@bfloat16/chunk ✓`;
    const data = randomFillSync(Buffer.allocUnsafe(size));
    const digest = createHash('sha256').update(data).digest('hex');
    t = performance.now();
    await store.put(key, data);
    const putMs = performance.now() - t;
    t = performance.now();
    const back = await store.get(key);
    const getMs = performance.now() - t;
    const ok = back !== undefined && createHash('sha256').update(back).digest('hex') === digest && (await store.size(key)) === size;
    if (!ok) failures++;
    rows.push([key, label, putMs.toFixed(2), mbps(size, putMs), getMs.toFixed(2), mbps(size, getMs), digest.slice(0, 12), ok ? 'yes' : 'NO']);
  }
  printTable(rows);

  const listed: string[] = [];
  for await (const key of store.keys({ pageSize: 3 })) listed.push(key);
  console.log(`\nlisted ${listed.length} keys in pages of 3 (expected ${SIZES.length})`);
  if (listed.length !== SIZES.length) failures++;
  const removed = await store.remove(listed[0]!);
  const gone = !(await store.exists(listed[0]!));
  console.log(`removed ${JSON.stringify(listed[0])}: ${removed && gone ? 'yes' : 'NO'}`);
  if (!(removed && gone)) failures++;
  const stats = store.stats();
  console.log(`instances created ${stats.instancesCreated}, traps ${stats.traps}, timeouts ${stats.timeouts}; tenant holds ${stats.objects} objects, ${stats.bytesStored} bytes`);
  for (const r of store.drainLog()) console.log(`[connector ${r.level}] ${r.message}`);
  if (failures > 0) {
    console.error(`\ndemo FAILED: ${failures} check(s) did not hold`);
    process.exitCode = 1;
  } else {
    console.log('\ndemo ok: every object read back byte for byte through the sandboxed connector');
  }
}

function mbps(bytes: number, ms: number): string {
  return bytes === 0 || ms === 0 ? '-' : (bytes / 1e6 / (ms / 1e3)).toFixed(0);
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...r[i]!].length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo':
      return demo(rest);
    case '--version':
    case '-v': {
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
      console.log(pkg.version);
      return;
    }
    case undefined:
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      console.error(`kvbox: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

// A closed pipe (`kvbox demo | head`) ends output quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof KvboxError ? `kvbox: ${err.name} (${err.code}): ${err.message}` : err);
  process.exitCode = 1;
});
