/**
 * S3 storage when the store misbehaves (a real SeaweedFS on loopback):
 * restarted mid-workload, unreachable at open, slow.
 */
import { describe, expect, it } from 'vitest';
import { type Connector, FS_CONNECTOR, KvboxError, loadConnector, NATIVE_FS, type OpenOptions, UnavailableError } from '../host/index.js';
import { bytes, rejectsWith, sha256 } from './helpers.js';
import { slowRelay, startStore } from './s3/seaweed.js';

const store = await startStore();

/** Retries `fn` on UnavailableError for up to 60 s (the store finishing its start-up, slow when the machine is loaded). */
async function eventually<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof UnavailableError) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const KINDS: [string, (o: OpenOptions) => Promise<Connector>][] = [
  ['sandboxed', (o) => loadConnector(FS_CONNECTOR, { ...o, cacheDir: false })],
  ['native', (o) => loadConnector(NATIVE_FS, o)],
];

describe('S3 storage faults', () => {
  it('fails an open against an unreachable store with UnavailableError', async () => {
    const closed = store.storage('x', { endpoint: 'http://127.0.0.1:9', retries: 1, requestTimeoutMs: 2000 });
    for (const [, open] of KINDS) {
      const err = await rejectsWith(open({ storage: closed }), UnavailableError, 'ERR_KVBOX_UNAVAILABLE');
      expect(err.message).toMatch(/127\.0\.0\.1:9/);
    }
  });

  it('reports UnavailableError while the store restarts, recovers, and loses nothing acknowledged', async () => {
    const prefix = `faults/${process.pid}/restart`;
    const opened = await Promise.all(KINDS.map(([, open]) => open({ storage: store.storage(prefix, { retries: 0, requestTimeoutMs: 3000 }) })));
    const acked = new Map<string, string>();
    // Every value each key was ever sent with. A put that failed (timed out) may still be in the store's
    // hands and land later — even after a newer put of the same key was acknowledged, since S3 orders
    // nothing across abandoned requests (seen once: a 42 s restart) — so such a key may end up holding
    // any value it was sent with.
    const attempted = new Map<string, Set<string>>();
    const failed = new Set<string>();
    const errors = new Map<string, number>();
    let stop = false;
    const writers = opened.map(async (c, w) => {
      // A key with a failed put is retired: its slot goes on under a new name, so a late-landing put can
      // only ever race the key's own earlier values, never a later acknowledged one.
      const generation = new Array<number>(40).fill(0);
      for (let i = 0; !stop; i++) {
        const key = `w${w}-${i % 40}-g${generation[i % 40]}`;
        const data = bytes(64 * 1024 + i);
        const digest = sha256(data);
        attempted.set(key, (attempted.get(key) ?? new Set()).add(digest));
        try {
          await c.put(key, data);
          acked.set(key, digest);
        } catch (err) {
          failed.add(key);
          generation[i % 40]!++;
          const code = err instanceof KvboxError ? err.code : String(err);
          errors.set(code, (errors.get(code) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const down = Date.now();
      await store.restart();
      console.log(`SeaweedFS took ${Date.now() - down} ms to stop, start and take writes again`);
      // Keep writing a little after the restart (however long it took), then check recovery.
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    expect(errors.size, 'the outage was seen').toBeGreaterThan(0);
    expect([...errors.keys()], `errors during the restart: ${JSON.stringify([...errors])}`).toEqual(['ERR_KVBOX_UNAVAILABLE']);
    // Recovery: the same open connectors work again (within a bounded wait for the store to be ready), no reopen.
    for (const c of opened) {
      await eventually(() => c.put('after-restart', Buffer.from('ok')));
      expect((await c.get('after-restart'))?.toString()).toBe('ok');
    }
    // A key none of whose puts failed holds its last acknowledged value; a retired key holds one of the
    // values it was sent with (or, if none of its puts was acknowledged, possibly nothing), never a mix.
    let exact = 0;
    for (const [key, sent] of attempted) {
      const got = await opened[0]!.get(key);
      if (!failed.has(key)) {
        expect(got && sha256(got), key).toBe(acked.get(key));
        exact++;
      } else if (got !== undefined) {
        expect(sent.has(sha256(got)), `${key} holds a value it was sent with`).toBe(true);
      } else {
        expect(acked.has(key), `${key} had an acknowledged put, so it exists`).toBe(false);
      }
    }
    expect(exact).toBeGreaterThan(10);
    for (const c of opened) await c.close();
  }, 180_000);

  it('applies deadlines to connector code, not to remote I/O: a slow store still stores whole objects', async () => {
    const relay = await slowRelay(store.ports.s3, 700);
    try {
      const slow = store.storage(`faults/${process.pid}/slow`, { endpoint: `http://127.0.0.1:${relay.port}`, requestTimeoutMs: 20_000 });
      await using sandboxed = await loadConnector(FS_CONNECTOR, { storage: slow, cacheDir: false, limits: { callTimeoutMs: 1000 } });
      const data = bytes(200_000);
      const started = Date.now();
      // The PUT needs two 700 ms hops, past the 1 s deadline, and starts well before it: the host call is
      // not cut off mid-request; the guest is stopped when it runs again, so the call may report a
      // timeout — the object is stored whole either way.
      const outcome = await sandboxed.put('k', data).then(
        () => 'stored',
        (err: KvboxError) => err.code,
      );
      expect(['stored', 'ERR_KVBOX_TIMEOUT']).toContain(outcome);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
      await using direct = await loadConnector(NATIVE_FS, { storage: slow });
      expect(sha256((await direct.get('k'))!)).toBe(sha256(data));
      // The remote I/O's own bound is storage.requestTimeoutMs: shorter than the store's latency, the open fails.
      const impatient = { ...slow, requestTimeoutMs: 100, retries: 0 };
      await rejectsWith(loadConnector(NATIVE_FS, { storage: impatient }), UnavailableError, 'ERR_KVBOX_UNAVAILABLE');
    } finally {
      await relay.close();
    }
  }, 120_000);
});
