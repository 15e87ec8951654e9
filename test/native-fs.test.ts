import { describe, expect, it } from 'vitest';
import { type Connector, FS_CONNECTOR, InvalidConfigError, loadConnector, NATIVE_FS } from '../host/index.js';
import { conformance } from './conformance.js';
import { batchConformance } from './conformance-batch.js';
import { bytes, fresh, rejectsWith, scratch, sha256 } from './helpers.js';

conformance('native fs fast path', (root, limits) => loadConnector(NATIVE_FS, { root, limits }));
batchConformance('native fs fast path', (root, limits) => loadConnector(NATIVE_FS, { root, limits }));

async function allKeys(c: Connector): Promise<string[]> {
  const out: string[] = [];
  for await (const k of c.keys({ pageSize: 4 })) out.push(k);
  return out.sort();
}

describe('native fast path and sandboxed connector share one store format', () => {
  const base = scratch('interop');

  it('reads what the other wrote, in both directions, with identical listings', async () => {
    const root = fresh(base);
    const config = { namespace: 'llama' };
    // One open connector per directory at a time: they take turns.
    const wasm = () => loadConnector(FS_CONNECTOR, { root, config, cacheDir: false });
    const native = () => loadConnector(NATIVE_FS, { root, config });
    const fromWasm = new Map(['a/b', 'ключ', '..', 'k'.repeat(900), 'model@1@0@ff@bf16'].map((k, i) => [k, bytes(i * 70_001)]));
    const fromNative = new Map(['x/y', '🚀', '.hidden', 'é'.repeat(400)].map((k, i) => [k, bytes(i * 50_003 + 1)]));
    const all = [...fromWasm, ...fromNative];
    const expected = [...fromWasm.keys(), ...fromNative.keys()].sort();
    {
      await using w = await wasm();
      for (const [k, v] of fromWasm) await w.put(k, v);
    }
    {
      await using n = await native();
      for (const [k, v] of fromNative) await n.put(k, v);
      for (const [k, v] of all) {
        expect(sha256((await n.get(k))!), `native reads ${k}`).toBe(sha256(v));
        expect(await n.size(k)).toBe(v.length);
      }
      expect(await allKeys(n)).toEqual(expected);
      expect(n.stats()).toMatchObject({ objects: all.length, bytesStored: all.reduce((t, [, v]) => t + v.length, 0) });
      expect(await n.remove('a/b')).toBe(true);
    }
    {
      await using w = await wasm();
      for (const [k, v] of all.filter(([k]) => k !== 'a/b')) expect(sha256((await w.get(k))!), `wasm reads ${k}`).toBe(sha256(v));
      expect(await w.exists('a/b')).toBe(false);
      expect(await allKeys(w)).toEqual(expected.filter((k) => k !== 'a/b'));
    }
  });

  it('parses configuration identically', async () => {
    for (const config of [{ nmespace: 'x' }, { base_path: '/tmp' }, { max_key_bytes: 0 }]) {
      const a = await rejectsWith(loadConnector(FS_CONNECTOR, { root: fresh(base), config, cacheDir: false }), InvalidConfigError, 'ERR_KVBOX_INVALID_CONFIG');
      const b = await rejectsWith(loadConnector(NATIVE_FS, { root: fresh(base), config }), InvalidConfigError, 'ERR_KVBOX_INVALID_CONFIG');
      expect(b.message.replace(/^open \S+: /, '')).toBe(a.message.replace(/^open \S+: /, ''));
    }
  });

  it('is selected through the same loading API', async () => {
    await using c = await loadConnector(NATIVE_FS, { root: fresh(base) });
    expect(c.directAlignment).toBeGreaterThanOrEqual(4096);
    expect(c.stats()).toMatchObject({ instancesCreated: 0, traps: 0, timeouts: 0, objects: 0, bytesStored: 0, inFlight: 0 });
  });
});
