/**
 * Hostile connectors (guests/hostile, one attack per component): each
 * attack gets its exact typed error, the connector recovers (the instance
 * is replaced and counted), and a neighbour tenant keeps serving while the
 * attack runs — its latency is measured and printed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Connector,
  ConnectorError,
  FS_CONNECTOR,
  InvalidPathError,
  type Limits,
  loadConnector,
  LoadError,
  MemoryLimitError,
  NATIVE_FS,
  TimeoutError,
  TrapError,
} from '../host/index.js';
import { binding } from '../host/binding.js';
import { bytes, fresh, rejectsWith, scratch } from './helpers.js';

const fixture = (name: string) => join(import.meta.dirname, '..', 'guests', 'dist', `hostile-${name}.wasm`);
const base = scratch('hostile');

function openHostile(name: string, limits: Limits = {}, config: Record<string, unknown> = {}, root = fresh(base, name)): Promise<Connector> {
  return loadConnector(fixture(name), { root, limits, config, cacheDir: false });
}

/** Neighbour latency while each attack ran, for the summary. */
const underAttack: { attack: string; calls: number; p50Us: number; p99Us: number; maxUs: number }[] = [];

let neighbour: Connector;
beforeAll(async () => {
  neighbour = await loadConnector(FS_CONNECTOR, { root: fresh(base, 'neighbour'), cacheDir: false });
  await neighbour.put('present', bytes(4096));
});
afterAll(async () => {
  await neighbour.close();
  console.log('neighbour tenant (sandboxed fs-connector, exists + get of 4 KiB) while each attack ran:');
  console.table(underAttack);
});

/**
 * Runs `attack` while the neighbour tenant serves calls back to back; the
 * neighbour must complete calls before the attack settles (it is not
 * queued behind it) and every call must succeed.
 */
async function whileNeighbourServes<T>(name: string, attack: Promise<T>): Promise<T> {
  let settled = false;
  const guarded = attack.finally(() => {
    settled = true;
  });
  guarded.catch(() => {}); // inspected by the caller
  const latencies: number[] = [];
  while (!settled) {
    const t0 = process.hrtime.bigint();
    expect(await neighbour.exists('present')).toBe(true);
    expect((await neighbour.get('present'))?.length).toBe(4096);
    latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  latencies.sort((a, b) => a - b);
  const q = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN);
  underAttack.push({ attack: name, calls: latencies.length, p50Us: q(0.5), p99Us: q(0.99), maxUs: Math.round(latencies.at(-1) ?? NaN) });
  return guarded;
}

/** After an attack the connector serves honest keys again, on a fresh instance. */
async function stillServes(c: Connector): Promise<void> {
  const data = bytes(10_000);
  await c.put('honest', data);
  expect(Buffer.compare((await c.get('honest'))!, data)).toBe(0);
}

describe('hostile connectors', () => {
  it('an infinite loop is stopped at the deadline with TimeoutError, 4 at once, while a neighbour keeps serving', async () => {
    await using c = await openHostile('loop', { callTimeoutMs: 1500, maxInstances: 4 });
    const attacks = Promise.allSettled([1, 2, 3, 4].map(() => c.put('attack', bytes(1))));
    const results = await whileNeighbourServes('loop ×4 (1.5 s deadline)', attacks);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason;
      expect(err).toBeInstanceOf(TimeoutError);
      expect(err.message).toMatch(/callTimeoutMs/);
    }
    expect(underAttack.at(-1)!.calls).toBeGreaterThan(10);
    expect(c.stats()).toMatchObject({ timeouts: 4, instancesCreated: 4 });
    await stillServes(c);
    expect(c.stats().instancesCreated).toBe(5);
  });

  it('a memory bomb hits the memory cap with MemoryLimitError', async () => {
    await using c = await openHostile('memory', { memoryBytes: 32 * 2 ** 20 });
    const err = await whileNeighbourServes('memory bomb (32 MiB cap)', rejectsWith(c.put('attack', bytes(1)), MemoryLimitError, 'ERR_KVBOX_MEMORY_LIMIT'));
    expect(err.message).toMatch(/memoryBytes/);
    expect(c.stats()).toMatchObject({ memoryLimits: 1, traps: 0 });
    await stillServes(c);
  });

  it('unbounded recursion traps with TrapError (stack overflow)', async () => {
    await using c = await openHostile('recursion');
    const err = await whileNeighbourServes('deep recursion', rejectsWith(c.put('attack', bytes(1)), TrapError, 'ERR_KVBOX_TRAP'));
    expect(err.message).toMatch(/stack|out of bounds/i);
    expect(c.stats().traps).toBe(1);
    await stillServes(c);
  });

  it('a panic traps with TrapError carrying the panic message and its location, which also reaches the log as one record', async () => {
    await using c = await openHostile('panic');
    const err = await whileNeighbourServes('panic', rejectsWith(c.put('attack', bytes(1)), TrapError, 'ERR_KVBOX_TRAP'));
    expect(err.message).toMatch(/^put "attack": the connector trapped during put: panicked at [\w/]*lib\.rs:\d+:\d+: hostile connector panics on purpose; the instance was discarded \(wasm trap: wasm `unreachable` instruction executed\)$/);
    const log = c.drainLog();
    // The SDK's panic hook: one `error` record from the log interface, not a line-split stderr dump.
    expect(log.filter((r) => r.message.includes('panics on purpose'))).toMatchObject([{ source: 'log', level: 'error', op: 'put' }]);
    expect(log.some((r) => r.source === 'host' && r.level === 'error')).toBe(true);
    await stillServes(c);
  });

  it('a panic in open fails the open with TrapError carrying the panic message', async () => {
    const err = await rejectsWith(openHostile('panic', {}, { panic_in_open: true }), TrapError, 'ERR_KVBOX_TRAP');
    expect(err.message).toMatch(/the connector trapped during open: panicked at [\w/]*lib\.rs:\d+:\d+: hostile connector panics in open on purpose;/);
  });

  it('hoarding payload handles is stopped at limits.maxHostHandles', async () => {
    await using c = await openHostile('handles', { maxHostHandles: 64 });
    const err = await whileNeighbourServes('handle hoarding (64)', rejectsWith(c.put('attack', bytes(1)), TrapError, 'ERR_KVBOX_TRAP'));
    expect(err.message).toMatch(/too many host handles.*maxHostHandles = 64/);
    await stillServes(c);
  });

  it('an oversized list-keys page is refused with ConnectorError', async () => {
    await using c = await openHostile('huge-page');
    const err = await whileNeighbourServes('200 000-key page', rejectsWith(c.listKeys({ limit: 10 }), ConnectorError, 'ERR_KVBOX_CONNECTOR'));
    expect(err.message).toMatch(/200000 keys for a page of at most 10/);
  });

  it('host I/O refuses .., absolute, NUL and symlink-escaping paths with InvalidPathError, writing nothing outside', async () => {
    const root = fresh(base, 'paths');
    const outside = fresh(base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'do not read');
    mkdirSync(root);
    symlinkSync(outside, join(root, 'link'));
    await using c = await openHostile('paths', {}, {}, root);
    const attempts: [string, Promise<unknown>][] = [
      ['put ../escape', c.put('../escape', bytes(8))],
      ['put a/../../escape', c.put('a/../../escape', bytes(8))],
      ['put /tmp/kvbox-escape', c.put('/tmp/kvbox-escape', bytes(8))],
      ['put NUL', c.put('nul%00byte', bytes(8))],
      ['put through symlink', c.put('link/planted', bytes(8))],
      ['get through symlink', c.get('link/secret')],
      ['get ../..', c.get('../../etc/passwd')],
      ['exists /etc/passwd', c.exists('/etc/passwd')],
      ['remove through symlink', c.remove('link/secret')],
      ['size reserved name', c.size('.kvbox-tmp-1')],
      ['list ..', c.listKeys()],
    ];
    await whileNeighbourServes(
      'path escapes (11 calls)',
      Promise.allSettled(attempts.map(([, p]) => p)),
    );
    for (const [what, p] of attempts) {
      await rejectsWith(p, InvalidPathError, 'ERR_KVBOX_INVALID_PATH').catch((e) => {
        throw new Error(`${what}: ${e.message}`);
      });
    }
    expect(readdirSync(outside)).toEqual(['secret']);
    expect(existsSync('/tmp/kvbox-escape')).toBe(false);
    expect(existsSync(join(base, 'escape'))).toBe(false);
    await c.put('inside/ok', bytes(8));
    expect(await c.exists('inside/ok')).toBe(true);
  });

  it('a payload over the caller buffer kept past getInto is revoked, never read after the call', async () => {
    await using c = await openHostile('stash');
    const secret = Buffer.alloc(64 * 1024, 0x5a);
    await c.put('a', secret);
    await c.put('b', bytes(10));
    const first = Buffer.alloc(128 * 1024);
    expect(await c.getInto('a', first)).toBeUndefined(); // the stash attack returns the previous call's payload: none yet
    first.fill(0x11); // the caller reuses its buffer, as it may once the call settled
    const second = Buffer.alloc(128 * 1024);
    const n = await c.getInto('b', second);
    expect(n, 'the kept payload was emptied when the first call ended').toBe(0);
    expect(second.subarray(0, 64 * 1024).includes(0x11)).toBe(false);
  });

  it("finds nothing of an earlier tenant's secret in a later instance's memory (pool slots are reset, memory kept resident)", async () => {
    // A closed instance's written pages are returned to the kernel or, with
    // KVBOX_KEEP_PAGES=1 where the host allows it, reset in place and kept for
    // the slot's next instance (sandbox/runtime.rs KEEP_RESIDENT). Which slot a later tenant gets is the pool's choice: the unit
    // test a_reused_slot_holds_nothing_of_the_last_instance (one slot) makes
    // the reuse certain; this is the end-to-end check through kvbox.
    const secret = randomBytes(32);
    const scan = `scan-${secret.toString('hex')}`;
    const keeps = binding.instancePoolKeepsPages();
    for (let cycle = 0; cycle < 4; cycle++) {
      // Tenants open at once take different slots; each plants the secret.
      const planters = await Promise.all([0, 1, 2].map((i) => openHostile('residue', { maxInstances: 1 }, {}, fresh(base, `residue-plant-${cycle}-${i}`))));
      for (const p of planters) {
        await p.put('plant', secret);
        const at = await p.get(scan);
        expect(at?.length, 'the scan finds the secret in the instance that planted it').toBe(4);
      }
      await Promise.all(planters.map((p) => p.close()));
      const later = await Promise.all([0, 1, 2].map((i) => openHostile('residue', { maxInstances: 1 }, {}, fresh(base, `residue-scan-${cycle}-${i}`))));
      for (const l of later) expect(await l.get(scan), 'a later instance in a reused slot').toBeUndefined();
      await Promise.all(later.map((l) => l.close()));
    }
    console.log(`pool pages ${keeps ? 'kept resident, reset in place (KVBOX_KEEP_PAGES=1)' : 'returned to the kernel (the default)'}`);
  });

  describe('WASI', () => {
    let server: Server;
    let connections = 0;
    beforeAll(async () => {
      server = createServer((s) => {
        connections++;
        s.destroy();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('files, environment, arguments, TCP, UDP and name lookup are all denied', async () => {
      const port = (server.address() as { port: number }).port;
      await using c = await openHostile('wasi', {}, { port });
      const err = await whileNeighbourServes('WASI fs + sockets', rejectsWith(c.put('attack', bytes(1)), ConnectorError, 'ERR_KVBOX_CONNECTOR'));
      expect(err.message).toMatch(/wasi attack: preopens=0 env=0 args=0 /);
      expect(err.message).toMatch(/tcp-(create|connect)=/);
      expect(err.message).toMatch(/udp-(create|bind)=/);
      expect(err.message).toMatch(/dns=/);
      expect(err.message).not.toMatch(/LEAK/);
      expect(connections).toBe(0);
    });
  });

  it('a component exporting the wrong world is refused with LoadError', async () => {
    const wrong = join(import.meta.dirname, '..', 'guests', 'dist', 'hostile-wrong-world.wasm');
    const err = await whileNeighbourServes(
      'wrong world',
      rejectsWith(loadConnector(wrong, { root: fresh(base, 'wrong'), cacheDir: false }), LoadError, 'ERR_KVBOX_LOAD'),
    );
    expect(err.message).toMatch(/does not implement the world kvbox:connector\/connector@0\.1\.0/);
  });

  it('the native fast path is unaffected by a sandboxed neighbour looping', async () => {
    await using c = await openHostile('loop', { callTimeoutMs: 1000, maxInstances: 4 });
    await using n = await loadConnector(NATIVE_FS, { root: fresh(base, 'native-neighbour') });
    const attack = Promise.allSettled([1, 2, 3, 4].map(() => c.put('attack', bytes(1))));
    let served = 0;
    let settled = false;
    void attack.then(() => (settled = true));
    while (!settled) {
      await n.put(`k${served}`, bytes(1000));
      served++;
    }
    expect(served).toBeGreaterThan(10);
    expect((await attack).every((r) => r.status === 'rejected')).toBe(true);
  });
});
