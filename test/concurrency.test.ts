import { describe, expect, it } from 'vitest';
import { compileConnector, FS_CONNECTOR } from '../host/index.js';
import { bytes, fresh, scratch, sha256 } from './helpers.js';

describe('concurrency', () => {
  const base = scratch('concurrency');

  it('serves many in-flight puts and gets on one connector, every result verified', async () => {
    const component = await compileConnector(FS_CONNECTOR, { cacheDir: false });
    await using c = await component.open({ root: fresh(base), limits: { maxInstances: 4 } });
    const objects = Array.from({ length: 96 }, (_, i) => ({ key: `k${i}`, data: bytes((i * 7919) % (512 << 10)) }));
    await Promise.all(objects.map((o) => c.put(o.key, o.data)));
    const back = await Promise.all(objects.map((o) => c.get(o.key)));
    back.forEach((b, i) => expect(sha256(b!), objects[i]!.key).toBe(sha256(objects[i]!.data)));
    const stats = c.stats();
    expect(stats.instancesCreated).toBeGreaterThan(1);
    expect(stats.instancesCreated).toBeLessThanOrEqual(4);
    expect(stats.traps + stats.timeouts).toBe(0);
  });

  it('serves several tenants at once without mixing their objects', async () => {
    const component = await compileConnector(FS_CONNECTOR, { cacheDir: false });
    const tenants = await Promise.all([0, 1, 2, 3].map(() => component.open({ root: fresh(base) })));
    const work = tenants.map(async (t, ti) => {
      const mine = Array.from({ length: 24 }, (_, i) => ({ key: `shared-${i}`, data: Buffer.from(`tenant ${ti} object ${i} `.repeat(i + 1)) }));
      await Promise.all(mine.map((o) => t.put(o.key, o.data)));
      const got = await Promise.all(mine.map((o) => t.get(o.key)));
      got.forEach((g, i) => expect(g?.toString()).toBe(mine[i]!.data.toString()));
    });
    await Promise.all(work);
    await Promise.all(tenants.map((t) => t.close()));
  });

  it('leaves exactly one complete value when racing puts hit the same key', async () => {
    const component = await compileConnector(FS_CONNECTOR, { cacheDir: false });
    await using c = await component.open({ root: fresh(base) });
    const candidates = Array.from({ length: 16 }, (_, i) => bytes(100_000 + i * 4099));
    for (let round = 0; round < 5; round++) {
      await Promise.all(candidates.map((d) => c.put('contended', d)));
      const final = sha256((await c.get('contended'))!);
      expect(candidates.map(sha256)).toContain(final);
    }
  });
});
