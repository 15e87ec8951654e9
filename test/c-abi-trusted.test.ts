/**
 * Trusted native connectors: C-ABI `.so` files the project builds from
 * test/cabi/*.c, loaded in-process by loadNativeConnector. The conformance
 * suite runs on the correct one; each flaw of the flawed one (truncating
 * get, file names from list_keys, a non-injective key mapping) is caught as
 * a typed error, never returned as data; and loading is refused unless the
 * file is the one vouched for and nobody else can change it.
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Connector,
  ConnectorError,
  CorruptError,
  InvalidArgumentError,
  InvalidConfigError,
  loadNativeConnector,
  loadNativeLibrary,
  LoadError,
  QuotaExceededError,
} from '../host/index.js';
import { conformance } from './conformance.js';
import { batchConformance } from './conformance-batch.js';
import { bytes, fresh, rejectsWith, scratch, sha256 } from './helpers.js';

const DIST = join(import.meta.dirname, 'cabi', 'dist');
const FS_SO = join(DIST, 'libkvbox_test_fs.so');
const FLAWED_SO = join(DIST, 'libkvbox_test_flawed.so');
const digest = (path: string) => sha256(readFileSync(path));
const base = scratch('c-abi-trusted');

conformance('trusted native .so (test/cabi/fs_connector.c)', (root, limits) =>
  loadNativeConnector(FS_SO, { sha256: digest(FS_SO), root, limits, config: { durable: false } }),
);
batchConformance('trusted native .so (test/cabi/fs_connector.c)', (root, limits) =>
  loadNativeConnector(FS_SO, { sha256: digest(FS_SO), root, limits, config: { durable: false } }),
);

describe('loadNativeLibrary', () => {
  /** A private copy of `so` in a fresh directory, for permission games. */
  function copy(so: string): { dir: string; path: string } {
    const dir = fresh(base, 'lib');
    mkdirSync(dir, { mode: 0o755 });
    const path = join(dir, 'libconn.so');
    copyFileSync(so, path);
    chmodSync(path, 0o755);
    return { dir, path };
  }

  it('loads a library whose sha256 matches, and reports it as native', async () => {
    const lib = await loadNativeLibrary(FS_SO, { sha256: digest(FS_SO).toUpperCase() });
    expect(lib.origin).toBe('native');
    expect(lib.digest).toBe(digest(FS_SO));
    await using c = await lib.open({ root: fresh(base) });
    await c.put('k', bytes(10));
    expect(await c.size('k')).toBe(10);
  });

  it('refuses a library whose sha256 differs', async () => {
    const err = await rejectsWith(loadNativeLibrary(FS_SO, { sha256: '0'.repeat(64) }), LoadError, 'ERR_KVBOX_LOAD');
    expect(err.message).toContain(`its sha256 is ${digest(FS_SO)}`);
  });

  it('refuses a library writable by group or others', async () => {
    for (const mode of [0o775, 0o757]) {
      const { path } = copy(FS_SO);
      chmodSync(path, mode);
      const err = await rejectsWith(loadNativeLibrary(path, { sha256: digest(FS_SO) }), LoadError, 'ERR_KVBOX_LOAD');
      expect(err.message).toMatch(/the file is writable by group or others/);
    }
  });

  it('refuses a library in a directory writable by others, even with the sticky bit', async () => {
    for (const mode of [0o777, 0o1777, 0o775]) {
      const { dir, path } = copy(FS_SO);
      chmodSync(dir, mode);
      const err = await rejectsWith(loadNativeLibrary(path, { sha256: digest(FS_SO) }), LoadError, 'ERR_KVBOX_LOAD');
      expect(err.message).toMatch(/its directory is writable by group or others/);
    }
  });

  it('refuses a symbolic link, a missing file and a directory', async () => {
    const { dir } = copy(FS_SO);
    symlinkSync(FS_SO, join(dir, 'link.so'));
    await rejectsWith(loadNativeLibrary(join(dir, 'link.so'), { sha256: digest(FS_SO) }), LoadError, 'ERR_KVBOX_LOAD');
    await rejectsWith(loadNativeLibrary(join(dir, 'missing.so'), { sha256: digest(FS_SO) }), LoadError, 'ERR_KVBOX_LOAD');
    mkdirSync(join(dir, 'sub.so'), { mode: 0o755 });
    await rejectsWith(loadNativeLibrary(join(dir, 'sub.so'), { sha256: '0'.repeat(64) }), LoadError, 'ERR_KVBOX_LOAD');
  });

  it('refuses a file that is not a library, and a library without the connector ABI', async () => {
    const { dir } = copy(FS_SO);
    const text = join(dir, 'text.so');
    writeFileSync(text, 'not ELF', { mode: 0o644 });
    const err = await rejectsWith(loadNativeLibrary(text, { sha256: digest(text) }), LoadError, 'ERR_KVBOX_LOAD');
    expect(err.message).toContain('dlopen failed');
    // A real shared library without the ABI: the libm this process has mapped.
    const libm = readFileSync('/proc/self/maps', 'utf8').match(/\s(\/\S*\/libm\.so[.\d]*)$/m)![1]!;
    const noAbi = await rejectsWith(loadNativeLibrary(libm, { sha256: digest(libm) }), LoadError, 'ERR_KVBOX_LOAD');
    expect(noAbi.message).toContain('does not export connector_create');
  });

  it('rejects malformed arguments with InvalidArgumentError', async () => {
    await rejectsWith(loadNativeLibrary(FS_SO, { sha256: 'abc' }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadNativeLibrary(FS_SO, {} as never), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadNativeLibrary(42 as never, { sha256: digest(FS_SO) }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
  });

  it('sets the connector\'s base_path to the tenant root, refusing another one', async () => {
    const root = fresh(base);
    await rejectsWith(loadNativeConnector(FS_SO, { sha256: digest(FS_SO), root, config: { base_path: '/etc' } }), InvalidConfigError, 'ERR_KVBOX_INVALID_CONFIG');
    await using c = await loadNativeConnector(FS_SO, { sha256: digest(FS_SO), root, config: { base_path: root } });
    await c.put('k', bytes(1));
    expect(readFileSync(join(root, 'k.obj')).length).toBe(1 + 24);
  });

  it('keeps byte and object quotas itself', async () => {
    await using c = await loadNativeConnector(FS_SO, { sha256: digest(FS_SO), root: fresh(base), quota: { objects: 2 } });
    await c.put('a', bytes(10));
    await c.put('b', bytes(10));
    await rejectsWith(c.put('c', bytes(10)), QuotaExceededError, 'ERR_KVBOX_QUOTA');
    await c.put('a', bytes(20));
    expect(c.stats()).toMatchObject({ objects: 2, bytesStored: 30 + 2 * 24, quotaRejections: 1 });
  });
});

describe('guards around a flawed native connector', () => {
  const open = (root = fresh(base)): Promise<Connector> => loadNativeConnector(FLAWED_SO, { sha256: digest(FLAWED_SO), root });

  it('reads whole objects although its get truncates into small buffers: every read is sized first', async () => {
    await using c = await open();
    for (const size of [0, 1, 4097, 1 << 20, (9 << 20) + 5]) {
      const data = bytes(size);
      await c.put(`obj-${size}`, data);
      expect(sha256((await c.get(`obj-${size}`))!), `size ${size}`).toBe(sha256(data));
      const target = Buffer.alloc(size + 100);
      expect(await c.getInto(`obj-${size}`, target)).toBe(size);
      expect(sha256(target.subarray(0, size))).toBe(sha256(data));
    }
  });

  it('catches a truncated object as CorruptError, not a short success', async () => {
    const root = fresh(base);
    await using c = await open(root);
    await c.put('k', bytes(5000));
    truncateSync(join(root, 'k.data'), 3000);
    await rejectsWith(c.get('k'), CorruptError, 'ERR_KVBOX_CORRUPT');
    await rejectsWith(c.getInto('k', Buffer.alloc(8000)), CorruptError, 'ERR_KVBOX_CORRUPT');
    writeFileSync(join(root, 'foreign.data'), 'written behind kvbox\'s back');
    await rejectsWith(c.get('foreign'), CorruptError, 'ERR_KVBOX_CORRUPT');
  });

  it('catches its non-injective key mapping as CorruptError, never returning another key\'s bytes', async () => {
    await using c = await open();
    const mine = bytes(1000);
    await c.put('a/b', mine);
    await c.put('a_b', bytes(1000)); // the same file as "a/b" for this connector
    const err = await rejectsWith(c.get('a/b'), CorruptError, 'ERR_KVBOX_CORRUPT');
    expect(err.message).toContain('written for another key');
    expect((await c.get('a_b'))?.length).toBe(1000);
  });

  it('catches file names listed instead of keys as ConnectorError', async () => {
    await using c = await open();
    await c.put('model@1@0@ff@bf16', bytes(10));
    const err = await rejectsWith(c.listKeys(), ConnectorError, 'ERR_KVBOX_CONNECTOR');
    expect(err.message).toContain('"model@1@0@ff@bf16.data"');
    expect(err.message).toContain('file names instead of keys');
  });

  it('maps its failure codes to ConnectorError', async () => {
    await using c = await open();
    // Its file name is the key + ".data", over NAME_MAX: put returns -1.
    const err = await rejectsWith(c.put('k'.repeat(300), bytes(10)), ConnectorError, 'ERR_KVBOX_CONNECTOR');
    expect(err.message).toContain('failed (code -1)');
    expect(c.stats()).toMatchObject({ objects: 0, bytesStored: 0 });
  });
});
