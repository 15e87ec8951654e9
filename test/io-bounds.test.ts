/**
 * The I/O layer's promises, through the public API: `getInto` never writes
 * past the object, a quota below the usage still lets a tenant shrink, a
 * directory bomb leaves nothing behind, and a listing of a deep tree holds a
 * bounded number of descriptors.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidPathError, loadConnector, QuotaExceededError } from '../host/index.js';
import { bytes, CONNECTOR_KINDS, fresh, rejectsWith, scratch } from './helpers.js';

const ROOT = join(import.meta.dirname, '..');
const BOMB = join(ROOT, 'guests', 'dist', 'hostile-dir-bomb.wasm');
const base = scratch('io');

/** Directories beneath `dir`, at any depth. */
function dirsUnder(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) n += 1 + dirsUnder(join(dir, e.name));
  return n;
}

describe.each(CONNECTOR_KINDS)('getInto (%s)', (_, open) => {
  it('leaves every byte after the object untouched, at every alignment of the target', async () => {
    await using c = await open({ root: fresh(base) });
    const target = Buffer.allocUnsafeSlow((1 << 20) + 5 * 4096);
    const sentinel = Buffer.alloc(target.length, 0xa5);
    for (const len of [1, 4095, 4097, (1 << 20) + 3]) {
      const data = bytes(len);
      await c.put('k', data);
      // One of these 256 offsets is 4096-aligned, whatever the allocator gave.
      for (let off = 0; off < 4096; off += 16) {
        const view = target.subarray(off);
        view.fill(0xa5);
        expect(await c.getInto('k', view)).toBe(len);
        expect(view.subarray(0, len).equals(data)).toBe(true);
        expect(view.subarray(len).equals(sentinel.subarray(0, view.length - len)), `len ${len}, offset ${off}`).toBe(true);
      }
    }
  });
});

describe.each(CONNECTOR_KINDS)('a quota below the usage (%s)', (_, open) => {
  it('allows shrinking, same-size overwrites and removals, and names quota and usage when refusing growth', async () => {
    const root = fresh(base);
    {
      await using c = await open({ root });
      for (let i = 0; i < 5; i++) await c.put(`k${i}`, bytes(1000));
    }
    await using c = await open({ root, quota: { objects: 3, bytes: 2000 } });
    await c.put('k0', bytes(1000));
    await c.put('k1', bytes(10));
    const more = await rejectsWith(c.put('k9', bytes(1)), QuotaExceededError, 'ERR_KVBOX_QUOTA');
    expect(more.message).toMatch(/a new object would make 6 objects, over the quota of 3 \(quota\.objects\); nothing was written \(the tenant holds 5 objects\)$/);
    const grow = await rejectsWith(c.put('k2', bytes(1001)), QuotaExceededError, 'ERR_KVBOX_QUOTA');
    expect(grow.message).toMatch(/over the quota of 2000 \(quota\.bytes\); nothing was written \(the tenant holds 4010 bytes\)$/);
    expect(await c.remove('k3')).toBe(true);
    expect(c.stats()).toMatchObject({ objects: 4, bytesStored: 3010, quotaRejections: 2 });
  });
});

describe('a directory bomb (hostile connector)', () => {
  it.each([
    ['under quota.objects: 0', { objects: 0 }],
    ['without a quota', {}],
  ])('is refused whole, leaving no directory, %s', async (_, quota) => {
    const root = fresh(base, 'bomb');
    {
      await using c = await loadConnector(BOMB, { root, quota, limits: { maxKeyBytes: 4000 }, cacheDir: false });
      const err = await rejectsWith(c.put('attack', bytes(1)), InvalidPathError, 'ERR_KVBOX_INVALID_PATH');
      expect(err.message).toMatch(/1991 directories deep, over the limit of 32 \(limits\.maxPathDepth\)/);
      expect(c.stats()).toMatchObject({ objects: 0, bytesStored: 0 });
    }
    expect(dirsUnder(root)).toBe(0);
  });
});

describe.each(CONNECTOR_KINDS)('quota.directories (%s)', (_, open) => {
  it('refuses a put that would make a directory over the quota, leaving nothing, and counts directories in stats', async () => {
    const root = fresh(base, 'dirs');
    await using c = await open({ root, quota: { directories: 1 } });
    await c.put('a', bytes(3)); // its shard directory is the one allowed
    expect(c.stats().directories).toBe(1);
    let refused = 0;
    for (let i = 0; i < 40 && refused === 0; i++) {
      try {
        await c.put(`key-${i}`, bytes(3));
      } catch (err) {
        expect(err).toBeInstanceOf(QuotaExceededError);
        expect((err as Error).message).toMatch(/a put needing 1 new directory would make 2 directories, over the quota of 1 \(quota\.directories\); nothing was written \(the tenant holds 1 directory\)/);
        refused++;
      }
    }
    expect(refused, 'some key lands in another shard').toBe(1);
    expect(dirsUnder(root)).toBe(1);
    expect(c.stats().directories).toBe(1);
  });
});

describe('listing a deep tree', () => {
  it('holds a bounded number of descriptors: a 1 200-level chain lists under ulimit -n 256, and none leak', () => {
    const root = fresh(base, 'deep');
    mkdirSync(join(root, 'd/'.repeat(1200)), { recursive: true });
    const script = `
      const { readdirSync } = await import('node:fs');
      const { loadConnector, NATIVE_FS } = await import(${JSON.stringify(join(ROOT, 'host', 'index.ts'))});
      const fds = () => readdirSync('/proc/self/fd').length;
      const c = await loadConnector(NATIVE_FS, { root: ${JSON.stringify(root)} });
      await c.put('k', new Uint8Array(3));
      const before = fds();
      const keys = [];
      for await (const k of c.keys()) keys.push(k);
      console.log(JSON.stringify({ keys, before, after: fds() }));
      await c.close();`;
    const shell = 'ulimit -n 256 && exec "$0" --import tsx/esm --input-type=module -e "$1"';
    const r = spawnSync('sh', ['-c', shell, process.execPath, script], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '');
    expect(out.keys).toEqual(['k']);
    expect(out.after).toBe(out.before);
  });
});
