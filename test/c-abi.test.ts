/**
 * libkvbox_connector.so, the drop-in C-ABI library, driven the way C-ABI
 * hosts drive it: the C harness (dlopen + dlsym, 8 threads, no locking of its
 * own) and a Python ctypes harness, as real child processes, against both the
 * built-in filesystem connector and the sandboxed fs-connector.wasm; then
 * refused configurations and hostile connectors behind the ABI.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FS_CONNECTOR } from '../host/index.js';
import { fresh, scratch, sha256 } from './helpers.js';

const ROOT = join(import.meta.dirname, '..');
const LIB = join(ROOT, 'native', 'libkvbox_connector.so');
const HARNESS = join(ROOT, 'test', 'cabi', 'dist', 'harness');
const PY_HARNESS = join(ROOT, 'test', 'cabi', 'harness.py');
const base = scratch('c-abi');
const cacheDir = join(base, 'compiled');

const wasm = (path: string) => ({ wasm: path, sha256: sha256(readFileSync(path)) });
const hostile = (name: string) => wasm(join(ROOT, 'guests', 'dist', `hostile-${name}.wasm`));

/** The two connectors the library can serve, as `connector` config values. */
const KINDS: [string, () => unknown][] = [
  ['built-in fs connector', () => 'builtin:fs'],
  ['sandboxed fs-connector.wasm', () => wasm(FS_CONNECTOR)],
];

function config(connector: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ connector, root: fresh(base), cache_dir: cacheDir, ...extra });
}

function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectPassed(r: ReturnType<typeof run>, done: string): void {
  expect(r.stdout + r.stderr, 'harness output').toContain(done);
  expect(r.status).toBe(0);
}

const python = spawnSync('python3', ['--version']).status === 0;
if (!python) console.warn('c-abi: python3 not found; the ctypes harness is skipped (install python3 to run it)');

describe('libkvbox_connector.so from a C host', () => {
  it.each(KINDS)('passes the C harness with the %s', (_, connector) => {
    const r = run(HARNESS, [LIB, 'suite', config(connector())]);
    for (const check of ['round trips 0 B .. 16 MiB', 'missing keys', 'too-small buffers', 'list_keys returns the keys as put', '8 threads on distinct keys', '8 threads on one identical key', '20 create/destroy cycles', 'destroy waits for the calls in flight']) {
      expect(r.stdout).toContain(`ok ${check}`);
    }
    expectPassed(r, 'harness: all passed');
  });

  it('explains a too-small buffer and an oversized list on stderr, never truncating', () => {
    const r = run(HARNESS, [LIB, 'suite', config('builtin:fs')]);
    expect(r.stderr).toMatch(/kvbox_connector: get "big": \[ERR_KVBOX_TOO_LARGE\] object of 5000 bytes does not fit the 4999-byte buffer; nothing was copied, \*out_len = 5000/);
    expect(r.stderr).toMatch(/kvbox_connector: list_keys: \[ERR_KVBOX_TOO_LARGE\] the key list needs \d+ bytes/);
    expect(r.stderr).toMatch(/is not a live handle/);
    // The size queries (cap 0) say nothing.
    expect(r.stderr).not.toMatch(/the buffer has 0|the 0-byte buffer/);
    expect(r.stderr).toMatch(/kvbox_connector: put "line\\nbreak": \[ERR_KVBOX_INVALID_KEY\] key contains a newline/);
  });

  it("writes each line whole, never mixed with the host's own stderr lines written at the same time", () => {
    const r = run(HARNESS, [LIB, 'interleave', config('builtin:fs')]);
    expectPassed(r, 'harness: all passed');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.filter((l) => /^host line \d+$/.test(l))).toHaveLength(400);
    expect(lines.filter((l) => /^kvbox_connector: get "big": \[ERR_KVBOX_TOO_LARGE\] object of 10 bytes does not fit the 1-byte buffer; nothing was copied, \*out_len = 10$/.test(l))).toHaveLength(80);
    expect(lines).toHaveLength(480);
  });

  it('writes at most 100 lines a second, then says how many it left out; KVBOX_CONNECTOR_LOG=off silences it', () => {
    const r = run(HARNESS, [LIB, 'flood', config('builtin:fs')]);
    expectPassed(r, 'harness: all passed');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.filter((l) => l.includes('does not fit the 1-byte buffer'))).toHaveLength(101);
    expect(lines.at(-2)).toBe('kvbox_connector: 200 more error lines were not written (at most 100 a second)');
    expect(lines).toHaveLength(102); // destroy(NULL) is silent, like free(NULL)
    const quiet = spawnSync(HARNESS, [LIB, 'flood', config('builtin:fs')], { encoding: 'utf8', env: { ...process.env, KVBOX_CONNECTOR_LOG: 'off' } });
    expect(quiet.stdout).toContain('harness: all passed');
    expect(quiet.stderr).toBe('');
  });

  it.each([
    ['invalid JSON', '{"connector": ', 'connector_create config: EOF'],
    ['an unknown field', JSON.stringify({ connector: 'builtin:fs', root: '/tmp/x', limit: {} }), 'unknown field `limit`'],
    ['a misspelt limit', JSON.stringify({ connector: 'builtin:fs', root: '/tmp/x', limits: { memory: 1 } }), 'limits.memory is not known'],
    ['a relative root', JSON.stringify({ connector: 'builtin:fs', root: 'data' }), 'not an absolute path'],
    ['an unknown connector name', JSON.stringify({ connector: 'fs', root: '/tmp/x' }), '"fs" is not a connector kvbox knows; expected "builtin:fs" or {"wasm"'],
    ['a connector of the wrong shape', JSON.stringify({ connector: { wasm: FS_CONNECTOR }, root: '/tmp/x' }), '`connector`: missing field `sha256`'],
    ['root and base_path both', JSON.stringify({ connector: 'builtin:fs', root: '/tmp/x', base_path: '/tmp/x' }), '`root` and `base_path` are one field'],
    ['a wasm file whose sha256 differs', JSON.stringify({ connector: { wasm: FS_CONNECTOR, sha256: '0'.repeat(64) }, root: '/tmp/x' }), 'not the configured'],
    ['a connector config the connector refuses', JSON.stringify({ connector: 'builtin:fs', root: '/tmp/x', config: { nmespace: 'x' } }), 'ERR_KVBOX_INVALID_CONFIG'],
    ['a file that is not a component', JSON.stringify({ connector: { wasm: HARNESS, sha256: sha256(readFileSync(HARNESS)) }, root: '/tmp/x' }), 'ERR_KVBOX_LOAD'],
  ])('refuses %s with NULL and logs why', (_, json, why) => {
    const r = run(HARNESS, [LIB, 'refuse', json]);
    expectPassed(r, 'ok refused');
    expect(r.stderr).toContain('kvbox_connector: create:');
    expect(r.stderr).toContain(why);
  });

  it.each([
    ['loop', { call_timeout_ms: 300 }, 'ERR_KVBOX_TIMEOUT'],
    ['memory', { memory_bytes: 16 << 20 }, 'ERR_KVBOX_MEMORY_LIMIT'],
    ['panic', {}, 'ERR_KVBOX_TRAP'],
    ['recursion', {}, 'ERR_KVBOX_TRAP'],
  ])('fails a hostile connector\'s %s with -1, and the same handle keeps working', (name, limits, code) => {
    const r = run(HARNESS, [LIB, 'hostile', config(hostile(name), { limits })]);
    expectPassed(r, 'ok hostile connector: -1, then the library keeps working');
    expect(r.stderr).toContain(`kvbox_connector: put "attack": [${code}]`);
  });
});

describe.skipIf(!python)('libkvbox_connector.so from Python ctypes', () => {
  it.each(KINDS)('passes the ctypes harness with the %s', (_, connector) => {
    const r = run('python3', [PY_HARNESS, LIB, config(connector())]);
    for (const check of ['round trips 0 B .. 16 MiB', 'missing keys', 'too-small buffer', 'list_keys returns the keys', '8 threads on distinct keys', '8 threads on one identical key', 'create/destroy cycles']) {
      expect(r.stdout).toContain(`ok ${check}`);
    }
    expectPassed(r, 'harness.py: all passed');
  });
});
