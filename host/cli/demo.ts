/** `kvbox demo`: a round trip of objects from 0 B to 16 MiB through a connector, with timings. */
import { createHash, randomFillSync } from 'node:crypto';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Connector } from '../connector.js';
import { formatRow, printJson } from './output.js';
import { compile, globalsOf, openTenant, type TenantFlags, tenantOptions, whereOf } from './tenant.js';

const SIZES: Array<[string, number]> = [
  ['0 B', 0],
  ['1 B', 1],
  ['4095 B', 4095],
  ['256 KiB', 256 << 10],
  ['1 MiB', 1 << 20],
  ['4 MiB', 4 << 20],
  ['16 MiB', 16 << 20],
];
const HEADER = ['key', 'size', 'put ms', 'put MB/s', 'get ms', 'get MB/s', 'sha256', 'verified'];
const WIDTHS = [42, 7, 8, 8, 8, 8, 12, 8];

interface Row {
  key: string;
  size: number;
  putMs: number;
  getMs: number;
  sha256: string;
  verified: boolean;
}

/** Registers `kvbox demo`. */
export function register(program: Command): void {
  const cmd = program
    .command('demo')
    .summary('round-trip objects of 0 B to 16 MiB through a connector, with timings')
    .description(
      'store objects of 0 B to 16 MiB in a demo tenant through the sandboxed filesystem connector, read them back, verify, list and remove one, with timings',
    )
    .option('--json', 'print the results as JSON')
    .addHelpText('after', '\nOn failure the demo removes the objects it stored. Objects of a successful run stay; see them with `kvbox ls --root <dir>`.');
  // The demo's tenant defaults to ./kvbox-data, its config to { "namespace": "demo" } (the bundled connector's; {} with --connector).
  tenantOptions(cmd, { defaultRoot: 'kvbox-data', writes: 'makes' }).action(demo);
}

async function demo(flags: TenantFlags & { json?: boolean }, cmd: Command): Promise<void> {
  const globals = globalsOf(cmd);
  const json = flags.json === true;
  const say = (line: string) => {
    if (!json) console.log(line);
  };
  // `namespace` is the bundled connector's setting; another connector gets `{}` unless --config says otherwise.
  const config = flags.config ?? (flags.connector ? {} : { namespace: 'demo' });
  let t = performance.now();
  const component = await compile(flags, globals);
  const loadMs = performance.now() - t;
  t = performance.now();
  await using store = await openTenant({ ...flags, config }, globals, 'create', component);
  const openMs = performance.now() - t;
  const connector = flags.native ? 'native fast path (builtin:fs)' : flags.connector ? resolve(flags.connector) : 'fs-connector (bundled)';
  say(`connector  ${connector}`);
  say(`component  ${component.digest.slice(0, 16)}… ${component.origin} in ${loadMs.toFixed(1)} ms; opened in ${openMs.toFixed(1)} ms`);
  say(`tenant     ${whereOf(flags)} ${JSON.stringify(config)}`);
  say(`I/O        ${store.directAlignment ? `O_DIRECT, ${store.directAlignment}-byte alignment` : 'buffered'}, ${flags.durable ? 'fsync + rename + directory fsync' : 'not synced'}\n`);
  say(formatRow(HEADER, WIDTHS));

  const stored: string[] = [];
  const rows: Row[] = [];
  let failures = 0;
  try {
    for (const [label, size] of SIZES) {
      const row = await roundTrip(store, label, size, stored);
      rows.push(row);
      if (!row.verified) failures++;
      say(formatRow([row.key, label, row.putMs.toFixed(2), mbps(size, row.putMs), row.getMs.toFixed(2), mbps(size, row.getMs), row.sha256.slice(0, 12), row.verified ? 'yes' : 'NO'], WIDTHS));
    }
    const listed: string[] = [];
    for await (const key of store.keys({ pageSize: 3 })) listed.push(key);
    say(`\nlisted ${listed.length} keys in pages of 3 (expected ${SIZES.length})`);
    if (listed.length !== SIZES.length) failures++;
    const removed = (await store.remove(stored[0]!)) && !(await store.exists(stored[0]!));
    say(`removed ${JSON.stringify(stored[0])}: ${removed ? 'yes' : 'NO'}`);
    if (!removed) failures++;
    const s = store.stats();
    say(`instances created ${s.instancesCreated}, traps ${s.traps}, timeouts ${s.timeouts}; tenant holds ${s.objects} objects, ${s.bytesStored} bytes`);
    for (const r of store.drainLog()) say(`[connector ${r.level}] ${r.message}`);
    if (json) printJson({ connector, component: { digest: component.digest, origin: component.origin, loadMs, openMs }, root: whereOf(flags), directAlignment: store.directAlignment ?? null, rows, listed: listed.length, removed, stats: s, ok: failures === 0 });
    if (failures > 0) throw new DemoFailed(failures);
    say('\ndemo ok: every object read back byte for byte through the connector');
  } catch (err) {
    await cleanUp(store, stored, json);
    throw err;
  }
}

async function roundTrip(store: Connector, label: string, size: number, stored: string[]): Promise<Row> {
  const key = `demo-model@1@0@${label.replace(' ', '')}@bfloat16/chunk-é`; // any UTF-8 key works
  const data = randomFillSync(Buffer.allocUnsafe(size));
  const digest = createHash('sha256').update(data).digest('hex');
  let t = performance.now();
  // A put that fails writes nothing (atomic), so only acknowledged keys need cleaning up.
  await store.put(key, data);
  stored.push(key);
  const putMs = performance.now() - t;
  t = performance.now();
  const back = await store.get(key);
  const getMs = performance.now() - t;
  const verified = back !== undefined && createHash('sha256').update(back).digest('hex') === digest && (await store.size(key)) === size;
  return { key, size, putMs, getMs, sha256: digest, verified };
}

/** After a failure nothing the demo stored stays behind (best effort: the store may be what failed). */
async function cleanUp(store: Connector, keys: string[], json: boolean): Promise<void> {
  const left: string[] = [];
  for (const key of keys) {
    try {
      await store.remove(key);
    } catch {
      left.push(key);
    }
  }
  const removed = keys.length - left.length;
  if (!json) console.error(`kvbox demo: cleaned up: removed ${removed} object(s) the demo stored${left.length > 0 ? `; could not remove ${left.map((k) => JSON.stringify(k)).join(', ')}` : ''}`);
}

class DemoFailed extends Error {
  constructor(failures: number) {
    super(`demo FAILED: ${failures} check(s) did not hold`);
  }
}

function mbps(bytes: number, ms: number): string {
  return bytes === 0 || ms === 0 ? '-' : (bytes / 1e6 / (ms / 1e3)).toFixed(0);
}
