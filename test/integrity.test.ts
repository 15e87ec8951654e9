/** Per-object checksums: a bit flipped on disk is reported as CorruptError, never returned as data. */
import { openSync, readSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptError } from '../host/index.js';
import { bytes, CONNECTOR_KINDS, filesUnder, fresh, rejectsWith, scratch } from './helpers.js';

const base = scratch('integrity');

/** Flips one bit of the file in place, as bit rot would (its attributes stay). */
function flipBit(file: string, offset: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, offset);
  b[0]! ^= 0x04;
  writeSync(fd, b, 0, 1, offset);
  closeSync(fd);
}

describe.each(CONNECTOR_KINDS)('checksums (%s)', (_, open) => {
  it('detects a flipped bit on read, for objects of several sizes', async () => {
    const root = fresh(base);
    await using c = await open({ root, checksums: true });
    for (const size of [1, 4096, 100_003, 4 * 2 ** 20]) {
      const key = `obj-${size}`;
      const data = bytes(size);
      await c.put(key, data);
      expect(Buffer.compare((await c.get(key))!, data)).toBe(0);
    }
    // Corrupt every object, then every read must refuse.
    expect(filesUnder(root).filter((f) => !f.startsWith('.kvbox'))).toHaveLength(4);
    for (const f of filesUnder(root).filter((f) => !f.startsWith('.kvbox'))) flipBit(join(root, f), 0);
    for (const size of [1, 4096, 100_003, 4 * 2 ** 20]) {
      const err = await rejectsWith(c.get(`obj-${size}`), CorruptError, 'ERR_KVBOX_CORRUPT');
      expect(err.message).toMatch(/CRC-32C/);
    }
  });

  it('verifies objects written with checksums even when reopened without them', async () => {
    const root = fresh(base);
    {
      await using w = await open({ root, checksums: true });
      await w.put('k', bytes(50_000));
    }
    const [file] = filesUnder(root).filter((f) => !f.startsWith('.kvbox'));
    flipBit(join(root, file!), 12_345);
    await using r = await open({ root });
    await rejectsWith(r.get('k'), CorruptError, 'ERR_KVBOX_CORRUPT');
    expect(await r.size('k')).toBe(50_000);
  });
});
