import { mkdirSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FS_CONNECTOR, InvalidPathError, loadConnector } from '../host/index.js';
import { bytes, filesUnder, fresh, rejectsWith, scratch } from './helpers.js';

describe('confinement', () => {
  const base = scratch('confine');
  const open = (root: string) => loadConnector(FS_CONNECTOR, { root, cacheDir: false });

  it('keeps every file of a hostile-key workload beneath the tenant root', async () => {
    const root = join(base, 'tenants', 'a');
    await using c = await open(root);
    const keys = ['../../../outside', '/etc/passwd', '..', '../', 'a/../../b', '\\..\\..\\win', '%2e%2e/x', '.kvbox-tmp-forged'];
    for (const k of keys) await c.put(k, bytes(100));
    // The only thing in base is the tenants folder, and only tenant a in it.
    expect(readdirSync(base)).toEqual(['tenants']);
    expect(readdirSync(join(base, 'tenants'))).toEqual(['a']);
    expect(filesUnder(root)).toHaveLength(keys.length);
  });

  it('gives two tenants no view of each other', async () => {
    await using a = await open(fresh(base, 'a'));
    await using b = await open(fresh(base, 'b'));
    await a.put('shared-name', Buffer.from('secret of a'));
    expect(await b.get('shared-name')).toBeUndefined();
    expect(await b.exists('shared-name')).toBe(false);
    expect(await b.remove('shared-name')).toBe(false);
    expect((await b.listKeys()).keys).toEqual([]);
    expect((await a.get('shared-name'))?.toString()).toBe('secret of a');
  });

  it('refuses to follow a symbolic link planted inside the tenant directory', async () => {
    const root = fresh(base, 'linked');
    const outside = fresh(base, 'outside');
    mkdirSync(outside);
    await using c = await open(root);
    await c.put('victim', bytes(10));
    const shard = readdirSync(root)[0]!;
    // Replace the key's shard directory with a link to a directory outside.
    renameSync(join(root, shard), join(root, 'moved'));
    symlinkSync(outside, join(root, shard));
    const err = await rejectsWith(c.put('victim', bytes(10)), InvalidPathError, 'ERR_KVBOX_INVALID_PATH');
    expect(err.message).toMatch(/symbolic link/);
    await rejectsWith(c.get('victim'), InvalidPathError, 'ERR_KVBOX_INVALID_PATH');
    expect(readdirSync(outside)).toEqual([]);
    // A link to a file is not followed either.
    rmSync(join(root, shard));
    renameSync(join(root, 'moved'), join(root, shard));
    const file = readdirSync(join(root, shard))[0]!;
    rmSync(join(root, shard, file));
    symlinkSync('/etc/hostname', join(root, shard, file));
    await rejectsWith(c.get('victim'), InvalidPathError, 'ERR_KVBOX_INVALID_PATH');
  });
});
