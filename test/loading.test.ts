import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileConnector, FS_CONNECTOR, InvalidArgumentError, loadConnector, LoadError } from '../host/index.js';
import { filesUnder, fresh, rejectsWith, scratch } from './helpers.js';

const WRONG_WORLD = join(import.meta.dirname, '..', 'guests', 'dist', 'hostile-wrong-world.wasm');

describe('loading', () => {
  const base = scratch('loading');

  it('rejects bytes that are not WebAssembly, naming the problem', async () => {
    const err = await rejectsWith(compileConnector(Buffer.from('#!/bin/sh\nrm -rf /'), { cacheDir: false }), LoadError, 'ERR_KVBOX_LOAD');
    expect(err.message).toMatch(/not WebAssembly/);
  });

  it('rejects a core module with advice on making it a component', async () => {
    const core = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const err = await rejectsWith(compileConnector(core, { cacheDir: false }), LoadError, 'ERR_KVBOX_LOAD');
    expect(err.message).toMatch(/core WebAssembly module/);
  });

  it('rejects a truncated or corrupted component', async () => {
    const good = readFileSync(FS_CONNECTOR);
    await rejectsWith(compileConnector(good.subarray(0, good.length / 2), { cacheDir: false }), LoadError, 'ERR_KVBOX_LOAD');
    const flipped = Buffer.from(good);
    for (let i = 64; i < flipped.length; i += 997) flipped[i] = flipped[i]! ^ 0xff;
    await rejectsWith(compileConnector(flipped, { cacheDir: false }), LoadError, 'ERR_KVBOX_LOAD');
  });

  it('rejects a valid component that exports another world', async () => {
    const err = await rejectsWith(compileConnector(WRONG_WORLD, { cacheDir: false }), LoadError, 'ERR_KVBOX_LOAD');
    expect(err.message).toMatch(/kvbox:connector/);
  });

  it('reports a missing file as a LoadError', async () => {
    await rejectsWith(compileConnector(join(base, 'nope.wasm'), { cacheDir: false }), LoadError, 'ERR_KVBOX_LOAD');
  });

  it('rejects ill-typed sources, options and limits before doing anything', async () => {
    const root = fresh(base);
    await rejectsWith(compileConnector(42 as unknown as string), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadConnector(FS_CONNECTOR, { root: '' }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadConnector(FS_CONNECTOR, null as never), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadConnector(FS_CONNECTOR, { root, limits: { maxKeyBytes: 0 } }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadConnector(FS_CONNECTOR, { root, limits: { memoryBytes: 1.5 } }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadConnector(FS_CONNECTOR, { root, limits: { bogus: 1 } as never }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadConnector(FS_CONNECTOR, { root, config: 7 as never }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(loadConnector(FS_CONNECTOR, { root, durable: 'yes' as never }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    await rejectsWith(compileConnector(FS_CONNECTOR, { cacheDir: 3 as never }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    expect(() => filesUnder(root)).toThrow(); // the root was never created
  });

  it('refuses misspelt option names instead of ignoring them, and names what is known', async () => {
    const root = fresh(base);
    const typo = await rejectsWith(loadConnector(FS_CONNECTOR, { root, durabel: false } as never), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    expect(typo.message).toMatch(/options\.durabel is not known \(known: root, .*durable.*cacheDir, sha256\)/);
    const component = await compileConnector(FS_CONNECTOR, { cacheDir: false });
    const onOpen = await rejectsWith(component.open({ root, cacheDir: false } as never), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    expect(onOpen.message, 'compile options are not open options').toMatch(/options\.cacheDir is not known/);
    await rejectsWith(compileConnector(FS_CONNECTOR, { cachedir: false } as never), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    const missing = await rejectsWith(component.open(undefined as never), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
    expect(missing.message).toBe('options must be an object with a root directory, got nothing');
    expect(() => filesUnder(root)).toThrow(); // nothing was opened
    // The fields of both option kinds still work together.
    await using store = await loadConnector(FS_CONNECTOR, { root, durable: false, cacheDir: false });
    await store.put('k', Buffer.from('v'));
    expect((await store.get('k'))?.toString()).toBe('v');
  });

  it('opens many tenants from one compiled component', async () => {
    const component = await compileConnector(FS_CONNECTOR, { cacheDir: false });
    expect(component.digest).toMatch(/^[0-9a-f]{64}$/);
    const again = await compileConnector(FS_CONNECTOR, { cacheDir: false });
    expect(again.origin).toBe('memory');
    expect(again.digest).toBe(component.digest);
    const stores = await Promise.all(Array.from({ length: 20 }, () => component.open({ root: fresh(base) })));
    await Promise.all(stores.map((s, i) => s.put('k', Buffer.from(String(i)))));
    expect((await stores[13]!.get('k'))?.toString()).toBe('13');
    await Promise.all(stores.map((s) => s.close()));
  });
});
