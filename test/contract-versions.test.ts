/**
 * Both contract versions, and what 0.2.0 adds for connector authors: the
 * conformance suites run against the reference connector built for 0.1.0
 * (batches come from the host's loop) and against a framing connector built
 * for 0.2.0 (objects larger than what callers store, ranged reads, copies
 * between payloads inside the host).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allocBuffer, InvalidArgumentError, loadConnector, TooLargeError } from '../host/index.js';
import { conformance } from './conformance.js';
import { batchConformance } from './conformance-batch.js';
import { bytes, filesUnder, fresh, rejectsWith, scratch, sha256 } from './helpers.js';

const dist = join(import.meta.dirname, '..', 'guests', 'dist');
const V0_1_0 = readFileSync(join(dist, 'fs-connector-contract-0-1.wasm'));
const FRAMING = readFileSync(join(dist, 'framing-connector.wasm'));

const open01 = (root: string, limits?: Record<string, number>) => loadConnector(V0_1_0, { root, limits, cacheDir: false });
conformance('sandboxed wasm fs-connector built for contract 0.1.0', open01);
batchConformance('sandboxed wasm fs-connector built for contract 0.1.0', open01);

const openFraming = (root: string, limits?: Record<string, number>) => loadConnector(FRAMING, { root, limits, cacheDir: false });
conformance('framing connector (contract 0.2.0, 16-byte headers)', openFraming);
batchConformance('framing connector (contract 0.2.0, 16-byte headers)', openFraming);

describe('payload headroom for connectors that frame objects', () => {
  const base = scratch('headroom');

  it('stores an object of exactly maxObjectBytes through a framing connector, and reads it back every way', async () => {
    const root = fresh(base);
    const limit = 1 << 20;
    await using c = await openFraming(root, { maxObjectBytes: limit });
    const data = bytes(limit);
    await c.put('edge', data);
    const [file] = filesUnder(root).filter((f) => f.endsWith('.obj'));
    expect(statSync(join(root, file!)).size).toBe(limit + 16); // the frame is over the caller's limit
    expect(sha256((await c.get('edge'))!)).toBe(sha256(data));
    expect(await c.size('edge')).toBe(limit);
    const target = Buffer.alloc(limit);
    expect(await c.getInto('edge', target)).toBe(limit);
    const many = await c.getMany(['edge', 'edge']);
    expect(many.errors.size).toBe(0);
    expect(many.values.map((v) => sha256(v!))).toEqual([sha256(data), sha256(data)]);
    const into = await c.getManyInto(['edge'], [Buffer.alloc(limit)]);
    expect([...into.lengths]).toEqual([limit]);
  });

  it('names which side hit which limit', async () => {
    await using c = await openFraming(fresh(base), { maxObjectBytes: 1000, payloadHeadroomBytes: 8 });
    const caller = await rejectsWith(c.put('k', bytes(1001)), TooLargeError, 'ERR_KVBOX_TOO_LARGE');
    expect(caller.message).toMatch(/exceeds the caller's limit of 1000 \(limits\.maxObjectBytes\)/);
    const framing = await rejectsWith(c.put('k', bytes(1000)), TooLargeError, 'ERR_KVBOX_TOO_LARGE');
    expect(framing.message).toMatch(/payloads would hold|the connector wrote an object of 1016 bytes/);
    expect(framing.message).toMatch(/limits\.payloadHeadroomBytes/);
    expect(await c.exists('k')).toBe(false);
    await c.put('k', bytes(992)); // 992 + 16 fits 1000 + 8
    expect(await c.size('k')).toBe(992);
  });
});

describe('allocBuffer', () => {
  const base = scratch('alloc');

  it('hands out zero-filled, whole (unpooled) buffers that round-trip through put/getInto and the batches', async () => {
    for (const size of [0, 1, 4096, 3 << 20]) {
      const b = allocBuffer(size);
      expect([b.length, b.byteOffset, b.buffer.byteLength]).toEqual([size, 0, size]);
      expect(b.every((x) => x === 0)).toBe(true);
    }
    await using c = await loadConnector(FRAMING, { root: fresh(base), cacheDir: false });
    const data = allocBuffer(3 << 20).fill(7);
    await c.putMany([['a', data]]);
    const target = allocBuffer(3 << 20);
    expect(await c.getInto('a', target)).toBe(3 << 20);
    expect(target.equals(data)).toBe(true);
    for (const bad of [-1, 1.5, Number.NaN, '8']) expect(() => allocBuffer(bad as never)).toThrow(InvalidArgumentError);
  });
});
