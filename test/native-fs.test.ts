import { describe, expect, it } from 'vitest';
import { type Connector, FS_CONNECTOR, InvalidConfigError, loadConnector, NATIVE_FS } from '../host/index.js';
import { conformance } from './conformance.js';
import { bytes, fresh, rejectsWith, scratch, sha256 } from './helpers.js';

conformance('native fs fast path', (root, limits) => loadConnector(NATIVE_FS, { root, limits }));

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
    await using wasm = await loadConnector(FS_CONNECTOR, { root, config, cacheDir: false });
    await using native = await loadConnector(NATIVE_FS, { root, config });
    const fromWasm = new Map(['a/b', 'ключ', '..', 'k'.repeat(900), 'model@1@0@ff@bf16'].map((k, i) => [k, bytes(i * 70_001)]));
    const fromNative = new Map(['x/y', '🚀', '.hidden', 'é'.repeat(400)].map((k, i) => [k, bytes(i * 50_003 + 1)]));
    for (const [k, v] of fromWasm) await wasm.put(k, v);
    for (const [k, v] of fromNative) await native.put(k, v);
    for (const [k, v] of [...fromWasm, ...fromNative]) {
      expect(sha256((await native.get(k))!), `native reads ${k}`).toBe(sha256(v));
      expect(sha256((await wasm.get(k))!), `wasm reads ${k}`).toBe(sha256(v));
      expect(await native.size(k)).toBe(v.length);
    }
    const expected = [...fromWasm.keys(), ...fromNative.keys()].sort();
    expect(await allKeys(wasm)).toEqual(expected);
    expect(await allKeys(native)).toEqual(expected);
    expect(await native.remove('a/b')).toBe(true);
    expect(await wasm.exists('a/b')).toBe(false);
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
    expect(c.stats()).toEqual({ instancesCreated: 0, traps: 0, timeouts: 0 });
  });
});
