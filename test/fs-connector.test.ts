import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusyError, CorruptError, FS_CONNECTOR, InvalidConfigError, loadConnector, NATIVE_FS } from '../host/index.js';
import { conformance } from './conformance.js';
import { batchConformance } from './conformance-batch.js';
import { bytes, filesUnder, fresh, rejectsWith, scratch } from './helpers.js';

const open = (root: string, limits?: Record<string, number>) => loadConnector(FS_CONNECTOR, { root, limits, cacheDir: false });
conformance('sandboxed wasm fs-connector (contract 0.2.0)', open);
batchConformance('sandboxed wasm fs-connector (contract 0.2.0)', open);

describe('fs-connector configuration', () => {
  const base = scratch('fs-config');

  it('rejects unknown keys, ill-typed keys and malformed JSON with InvalidConfigError naming the key', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ nmespace: 'x' }, /`nmespace`: unknown field; the fs connector takes `namespace` and `max_key_bytes`/],
      [{ namespace: 7 }, /`namespace`: expected a string, got a number/],
      [{ max_key_bytes: 'ten' }, /`max_key_bytes`: expected an integer from 1 to 4294967295, got "ten"/],
      [{ max_key_bytes: 0 }, /`max_key_bytes`: expected an integer from 1/],
      [{ namespace: '../up' }, /namespace/],
      [{ base_path: '/tmp' }, /base_path.*decided by the kvbox host/],
      ['{"namespace": ', /not valid JSON/],
      ['[1, 2]', /JSON object/],
    ];
    for (const [config, message] of cases) {
      const err = await rejectsWith(
        loadConnector(FS_CONNECTOR, { root: fresh(base), config: config as Record<string, unknown>, cacheDir: false }),
        InvalidConfigError,
        'ERR_KVBOX_INVALID_CONFIG',
      );
      expect(err.message, JSON.stringify(config)).toMatch(message);
    }
  });

  it('keeps namespaces apart inside one tenant directory (opened in turn: one open per directory)', async () => {
    const root = fresh(base);
    const open = (namespace: string) => loadConnector(FS_CONNECTOR, { root, config: { namespace }, cacheDir: false });
    {
      await using a = await open('model-a');
      await a.put('k', Buffer.from('a'));
      await rejectsWith(open('model-b'), BusyError, 'ERR_KVBOX_BUSY');
    }
    {
      await using b = await open('model-b');
      expect(await b.get('k')).toBeUndefined();
      await b.put('k', Buffer.from('b'));
    }
    await using a = await open('model-a');
    expect((await a.get('k'))?.toString()).toBe('a');
    const listed: string[] = [];
    for await (const k of a.keys()) listed.push(k);
    expect(listed).toEqual(['k']);
  });

  it('applies its own max_key_bytes below the host limit', async () => {
    await using c = await loadConnector(FS_CONNECTOR, { root: fresh(base), config: { max_key_bytes: 4 }, cacheDir: false });
    await c.put('abcd', bytes(1));
    await rejectsWith(c.put('abcde', bytes(1)), (await import('../host/index.js')).InvalidKeyError, 'ERR_KVBOX_INVALID_KEY');
  });

  it('uses O_DIRECT on this disk and still serves with buffered I/O', async () => {
    await using direct = await loadConnector(FS_CONNECTOR, { root: fresh(base), cacheDir: false });
    expect(direct.directAlignment).toBeGreaterThanOrEqual(4096);
    await using buffered = await loadConnector(FS_CONNECTOR, { root: fresh(base), directIo: false, durable: false, cacheDir: false });
    expect(buffered.directAlignment).toBeUndefined();
    const data = bytes(12345);
    await buffered.put('k', data);
    expect(Buffer.compare((await buffered.get('k'))!, data)).toBe(0);
  });
});

describe('durable: false (page-cache writes with a torn-write guard)', () => {
  const base = scratch('fs-cache');

  for (const [kind, source] of [['sandboxed', FS_CONNECTOR], ['native', NATIVE_FS]] as const) {
    it(`reads an object a crash tore as a miss and drops it (${kind})`, async () => {
      const root = fresh(base);
      const data = bytes(300_000);
      {
        await using c = await loadConnector(source, { root, durable: false, cacheDir: false });
        for (const k of ['torn@1@0@a@bf16', 'whole@1@0@b@bf16']) await c.put(k, data);
      }
      const objects = filesUnder(root).filter((f) => !f.split('/').pop()!.startsWith('.kvbox'));
      expect(objects).toHaveLength(2);
      // What a power loss leaves of an unsynced put: its name and checksum attribute, not all its bytes.
      const torn = objects.find((f) => f.includes('torn'))!;
      truncateSync(join(root, torn), 4096);
      await using c = await loadConnector(source, { root, durable: false, cacheDir: false });
      expect(c.stats().objects).toBe(2);
      expect(await c.get('torn@1@0@a@bf16')).toBeUndefined();
      expect(await c.exists('torn@1@0@a@bf16')).toBe(false);
      expect(c.stats()).toMatchObject({ objects: 1, bytesStored: data.length });
      expect(Buffer.compare((await c.get('whole@1@0@b@bf16'))!, data)).toBe(0);
    });
  }

  // Faking a reboot means rewriting the boot id in an object's checksum attribute; Node has no
  // extended-attribute API, Python's os module has one.
  const python = spawnSync('python3', ['-c', 'import os; os.getxattr']).status === 0;
  const fromEarlierBoot = (files: string[]) =>
    execFileSync('python3', [
      '-c',
      // Only unsynced attributes (21 bytes: CRC, 'u', boot id) name a boot.
      'import os, sys\nfor f in sys.argv[1:]:\n  v = os.getxattr(f, "user.kvbox.crc32c")\n  if len(v) == 21: os.setxattr(f, "user.kvbox.crc32c", v[:5] + bytes(16))',
      ...files,
    ]);
  for (const [kind, source] of [['sandboxed', FS_CONNECTOR], ['native', NATIVE_FS]] as const) {
    it.skipIf(!python)(`after a reboot, exists and size check unsynced objects first (${kind}; needs python3 for xattrs)`, async () => {
      const root = fresh(base);
      const data = bytes(300_000);
      const keys = ['torn@1@0@a@bf16', 'whole@1@0@b@bf16', 'batch@1@0@c@bf16'];
      {
        await using c = await loadConnector(source, { root, durable: false, cacheDir: false });
        for (const k of keys) await c.put(k, data);
      }
      const objects = filesUnder(root).filter((f) => !f.split('/').pop()!.startsWith('.kvbox'));
      fromEarlierBoot(objects.map((f) => join(root, f)));
      writeFileSync(join(root, '.kvbox-boot'), '00000000-0000-4000-8000-000000000000\n'); // what a reboot leaves: another boot's record
      truncateSync(join(root, objects.find((f) => f.includes('torn'))!), 4096);
      truncateSync(join(root, objects.find((f) => f.includes('batch'))!), 0);
      await using c = await loadConnector(source, { root, durable: false, cacheDir: false });
      expect(c.stats().objects).toBe(3);
      expect(await c.exists('torn@1@0@a@bf16'), 'no get first: exists itself checks').toBe(false);
      expect(await c.size('whole@1@0@b@bf16')).toBe(data.length);
      expect((await c.existsMany(['batch@1@0@c@bf16', 'whole@1@0@b@bf16'])).exists).toEqual([false, true]);
      expect(c.stats()).toMatchObject({ objects: 1, bytesStored: data.length });
      expect(readFileSync(join(root, '.kvbox-boot'), 'utf8').trim(), 'this boot is recorded').toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', ''));
      expect(Buffer.compare((await c.get('whole@1@0@b@bf16'))!, data)).toBe(0);
    });
  }

  // A model of crashes and reboots: random puts, removes, reads, and "power losses" that tear some of the
  // objects written unsynced since their last check. Whatever the sequence, exists/size/get never report a
  // torn object, and every sound one stays whole.
  it.skipIf(!python)('never reports a torn object after any sequence of puts, removes, reads and reboots (fast-check; needs python3)', async () => {
    const keys = ['a@1@0@0@bf16', 'b@1@0@1@bf16', 'c@1@0@2@bf16', 'd@1@0@3@bf16'];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom(...keys), size: fc.integer({ min: 1, max: 70_000 }) }),
      fc.record({ kind: fc.constantFrom('remove' as const, 'exists' as const, 'size' as const, 'get' as const, 'existsMany' as const), key: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant('reboot' as const), tear: fc.subarray(keys), at: fc.integer({ min: 0, max: 4095 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(FS_CONNECTOR, NATIVE_FS), fc.array(op, { minLength: 1, maxLength: 25 }), async (source, ops) => {
        const root = fresh(base);
        // key → its bytes, and whether it may still be unsynced (written since it was last checked after a reboot)
        const model = new Map<string, { data: Buffer; unsynced: boolean }>();
        let c = await loadConnector(source, { root, durable: false, cacheDir: false });
        const checked = (key: string) => {
          const m = model.get(key);
          if (m) m.unsynced = false;
        };
        try {
          for (const o of ops) {
            if (o.kind === 'put') {
              const data = randomBytes(o.size);
              await c.put(o.key, data);
              model.set(o.key, { data, unsynced: true });
            } else if (o.kind === 'remove') {
              expect(await c.remove(o.key)).toBe(model.delete(o.key));
            } else if (o.kind === 'exists') {
              expect(await c.exists(o.key), `exists ${o.key}`).toBe(model.has(o.key));
              checked(o.key);
            } else if (o.kind === 'existsMany') {
              expect((await c.existsMany([o.key])).exists).toEqual([model.has(o.key)]);
              checked(o.key);
            } else if (o.kind === 'size') {
              expect(await c.size(o.key), `size ${o.key}`).toBe(model.get(o.key)?.data.length);
              checked(o.key);
            } else if (o.kind === 'get') {
              const got = await c.get(o.key);
              expect(got === undefined ? undefined : Buffer.compare(got, model.get(o.key)?.data ?? Buffer.alloc(0)), `get ${o.key}`).toBe(model.has(o.key) ? 0 : undefined);
              checked(o.key);
            } else if (o.kind === 'reboot') {
              await c.close();
              const files = filesUnder(root).filter((f) => !f.split('/').pop()!.startsWith('.kvbox'));
              fromEarlierBoot(files.map((f) => join(root, f)));
              writeFileSync(join(root, '.kvbox-boot'), '00000000-0000-4000-8000-000000000000\n');
              for (const key of o.tear) {
                const m = model.get(key);
                // Only bytes never synced can be lost, and only if the tear leaves something different.
                if (!m?.unsynced || o.at >= m.data.length) continue;
                truncateSync(join(root, files.find((f) => f.endsWith(`/${key}.obj`))!), o.at);
                model.delete(key);
              }
              c = await loadConnector(source, { root, durable: false, cacheDir: false });
            }
          }
          expect(c.stats().objects, 'usage counts only whole objects once all are checked').toBeGreaterThanOrEqual(model.size);
          for (const key of keys) expect(await c.exists(key), `final exists ${key}`).toBe(model.has(key));
          expect(c.stats()).toMatchObject({ objects: model.size, bytesStored: [...model.values()].reduce((n, m) => n + m.data.length, 0) });
        } finally {
          await c.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('keeps a synced object that fails its checksum loud (CorruptError)', async () => {
    const root = fresh(base);
    {
      await using c = await loadConnector(NATIVE_FS, { root, checksums: true, cacheDir: false });
      await c.put('k', bytes(10_000));
    }
    const [file] = filesUnder(root).filter((f) => !f.split('/').pop()!.startsWith('.kvbox'));
    truncateSync(join(root, file!), 4096);
    await using c = await loadConnector(NATIVE_FS, { root, durable: false, cacheDir: false });
    await rejectsWith(c.get('k'), CorruptError, 'ERR_KVBOX_CORRUPT');
  });
});
