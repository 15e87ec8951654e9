/**
 * Bench rows for the C ABI in both directions, so each layer's cost is visible:
 * - `so-from-c`: the project's C-ABI test connector (test/cabi/fs_connector.c,
 *   buffered writes + fdatasync + rename) driven from C — no kvbox at all;
 * - `trusted-so`: the same library loaded by kvbox as a trusted native
 *   connector, driven from Node (napi, worker threads, sized reads, seals);
 * - `dropin-wasm-c`: libkvbox_connector.so serving the sandboxed
 *   fs-connector.wasm, driven from C doing the C reference's work.
 * The drivers are built by `npm run build:cabi` (scripts/build-cabi.sh).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { FS_CONNECTOR, loadNativeLibrary } from '../host/index.js';
import { inService, kvboxSystem, type System } from './systems.js';

const ROOT = join(import.meta.dirname, '..');
const DIST = join(ROOT, 'test', 'cabi', 'dist');
const TEST_SO = join(DIST, 'libkvbox_test_fs.so');
const DROP_IN = join(ROOT, 'native', 'libkvbox_connector.so');

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A C-ABI library driven by bench/cabi_driver.c, one process per batch, timed inside. */
function fromC(name: string, library: string, config: (dir: string) => object, fsLayout: boolean): System {
  const run = (op: string, dir: string, size: number, count: number, threads: number) =>
    Number(execFileSync(join(DIST, 'cabi_bench'), [op, library, JSON.stringify(config(dir)), String(size), String(count), String(threads)], { encoding: 'utf8' }).trim());
  return {
    name,
    put: async (dir, data, count, concurrency) => {
      if (fsLayout) inService(dir);
      return run('put', dir, data.length, count, concurrency);
    },
    get: async (dir, size, count, concurrency) => run('get', dir, size, count, concurrency),
    // The driver always reads into buffers allocated once per thread.
    getInto: async (dir, size, count, concurrency) => run('get', dir, size, count, concurrency),
  };
}

/** The three C-ABI systems; `work` holds the compiled-component cache of the drop-in runs. */
export async function cabiSystems(work: string): Promise<System[]> {
  const trusted = await loadNativeLibrary(TEST_SO, { sha256: sha256(TEST_SO) });
  const fsWasm = { wasm: FS_CONNECTOR, sha256: sha256(FS_CONNECTOR) };
  return [
    fromC('so-from-c', TEST_SO, (dir) => ({ base_path: dir }), false),
    kvboxSystem('trusted-so', trusted, 4, true, false),
    fromC('dropin-wasm-c', DROP_IN, (dir) => ({ connector: fsWasm, root: dir, cache_dir: join(work, 'cabi-cache'), limits: { max_instances: 4 } }), true),
  ];
}

/** The ratios that show each C-ABI layer's cost: [name, numerator system, denominator system]. */
export const CABI_RATIOS: [string, string, string][] = [
  ['trusted-so / so-from-c', 'trusted-so', 'so-from-c'],
  ['dropin-wasm-c / C reference', 'dropin-wasm-c', 'c-odirect'],
  ['dropin-wasm-c / wasm (Node)', 'dropin-wasm-c', 'wasm'],
];
