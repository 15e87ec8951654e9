import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { register } from '../host/cli/serve.js';
import { createServer } from '../host/index.js';
import { createLogger } from '../host/serve/log.js';
import { bytes, scratch } from './helpers.js';
import { authed, password, serveConfig, tenant } from './serve/helpers.js';
import { RespClient, text } from './serve/resp-client.js';

const base = scratch('serve-hostile');
const PANIC = new URL('../guests/dist/hostile-panic.wasm', import.meta.url).pathname;

describe('a hostile connector behind the server', () => {
  it('turns its trap into an error reply, logs its panic message with tenant, time and operation, counts it, and leaves other tenants alone', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const sha256 = createHash('sha256').update(readFileSync(PANIC)).digest('hex');
    const server = await createServer(
      serveConfig({ evil: tenant(base, 'evil', { connector: PANIC, sha256 }), good: tenant(base, 'good') }),
      { logger: createLogger('info', sink) },
    );
    try {
      const evil = await authed(server.resp!.port, 'evil');
      const good = await authed(server.resp!.port, 'good');
      const [bad, fine] = await Promise.all([evil.call('SET', 'attack', bytes(1)), good.call('SET', 'k', bytes(1000))]);
      expect(text(bad)).toMatch(/^-ERR ERR_KVBOX_TRAP /);
      expect(text(fine)).toBe('OK');
      expect(text(await evil.call('PING'))).toBe('PONG'); // the connection survives its connector's trap
      const record = lines.find((l) => typeof l.msg === 'string' && l.msg.includes('panics on purpose'));
      expect(record).toMatchObject({ tenant: 'evil', op: 'put', source: 'log' });
      expect(Date.parse(record!.time as string)).not.toBeNaN();
      const metrics = await server.metrics.registry.metrics();
      expect(metrics).toMatch(/kvbox_traps_total\{tenant="evil"\} 1/);
      expect(metrics).toMatch(/kvbox_traps_total\{tenant="good"\} 0/);
      expect(metrics).toMatch(/kvbox_operations_total\{tenant="evil",op="put",result="error"\} 1/);
      // A failed login is logged for the audit trail, without the password it tried.
      const intruder = await RespClient.connect(server.resp!.port);
      expect(text(await intruder.call('AUTH', 'good', 'guess-1234'))).toMatch(/^-WRONGPASS/);
      const failed = lines.find((l) => l.msg === 'authentication failed');
      expect(failed).toMatchObject({ listener: 'resp', command: 'AUTH' });
      expect(failed!.remote).toMatch(/127\.0\.0\.1/);
      expect(JSON.stringify(lines)).not.toContain('guess-1234');
      intruder.close();
      evil.close();
      good.close();
    } finally {
      await server.close();
    }
  });
});

describe('hostile clients of a full RESP listener', () => {
  /** Connects, sends `send`, and resolves with everything the server wrote before it closed the connection. */
  const exchange = (port: number, send = ''): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(send));
      let got = '';
      socket.on('data', (d) => (got += d.toString()));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
  const openFds = () => readdirSync('/proc/self/fd').length;

  it('closes refused and unauthenticated connections, keeps no descriptor for them, and shuts down with them around', async () => {
    const server = await createServer(serveConfig({ fulla: tenant(base, 'fulla') }, { resp: { port: 0, maxConnections: 4, authTimeoutMs: 400 } }), { logger: createLogger('silent') });
    let closed = false;
    try {
      const port = server.resp!.port;
      // Four idle clients that never authenticate fill the listener...
      const idle = Array.from({ length: 4 }, () => exchange(port));
      await new Promise((r) => setTimeout(r, 100));
      const before = openFds();
      // ...so 200 more are refused, each after sending a command the server never reads.
      const refused = await Promise.all(Array.from({ length: 200 }, () => exchange(port, 'PING\r\nAUTH a x\r\n')));
      expect(new Set(refused)).toEqual(new Set(['-ERR max number of clients reached\r\n']));
      // Every refused socket is gone on the server's side too (it used to keep one descriptor each).
      for (let i = 0; i < 50 && openFds() > before; i++) await new Promise((r) => setTimeout(r, 20));
      expect(openFds()).toBeLessThanOrEqual(before);
      // The idle four are closed for not authenticating, which frees the listener for a real tenant.
      expect(await Promise.all(idle)).toEqual(Array(4).fill('-ERR authentication timeout\r\n'));
      const a = await authed(port, 'fulla');
      expect(text(await a.call('SET', 'k', bytes(10)))).toBe('OK');
      const metrics = await server.metrics.registry.metrics();
      expect(metrics).toMatch(/kvbox_connections_refused_total\{protocol="resp"\} 200/);
      expect(metrics).toMatch(/kvbox_auth_timeouts_total 4/);
      // Full again, and a client refused after sending AUTH: the shutdown still finishes (it used to hang).
      const more = Array.from({ length: 3 }, () => exchange(port));
      await new Promise((r) => setTimeout(r, 100));
      expect(await exchange(port, 'AUTH a x\r\n')).toBe('-ERR max number of clients reached\r\n');
      await server.close();
      closed = true;
      a.close();
      await Promise.all(more);
    } finally {
      if (!closed) await server.close();
    }
  });
});

describe('a tenant that opens too many RESP connections', () => {
  it('is refused past auth.maxConnections (connection closed), counted, and never takes other tenants\' connections', async () => {
    const server = await createServer(serveConfig({ greedy: tenant(base, 'greedy', { auth: { username: 'greedy', password: 'env:KVBOX_TEST_PW_GREEDY', maxConnections: 3 } }), calm: tenant(base, 'calm') }), {
      logger: createLogger('silent'),
    });
    const clients: RespClient[] = [];
    try {
      const port = server.resp!.port;
      const gauge = async (name: string) => Number(new RegExp(`kvbox_tenant_connections\\{tenant="${name}"\\} (\\d+)`).exec(await server.metrics.registry.metrics())?.[1]);
      for (let i = 0; i < 3; i++) clients.push(await authed(port, 'greedy'));
      // Authenticating again as the same tenant does not count twice.
      expect(text(await clients[0]!.call('AUTH', 'greedy', password('greedy')))).toBe('OK');
      expect(await gauge('greedy')).toBe(3);
      const fourth = await RespClient.connect(port);
      expect(text(await fourth.call('AUTH', 'greedy', password('greedy')))).toBe('-ERR max number of clients reached for this user (3)');
      await fourth.closed();
      // Another tenant is unaffected, and one of its connections switching to the full tenant is refused
      // and closed — its slot with its own tenant is given back.
      const calm = await authed(port, 'calm');
      const switcher = await authed(port, 'calm');
      expect(await gauge('calm')).toBe(2);
      expect(text(await switcher.call('AUTH', 'greedy', password('greedy')))).toMatch(/^-ERR max number of clients reached for this user/);
      await switcher.closed();
      for (let i = 0; i < 50 && (await gauge('calm')) !== 1; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await gauge('calm')).toBe(1);
      expect(text(await calm.call('SET', 'k', bytes(10)))).toBe('OK');
      // A greedy connection that ends frees its slot.
      clients.shift()!.close();
      for (let i = 0; i < 50 && (await gauge('greedy')) !== 2; i++) await new Promise((r) => setTimeout(r, 10));
      clients.push(await authed(port, 'greedy'));
      expect(await gauge('greedy')).toBe(3);
      expect(await server.metrics.registry.metrics()).toMatch(/kvbox_tenant_connections_refused_total\{tenant="greedy"\} 2/);
      // A reload lowering the cap keeps the connections open (they still work) and refuses new ones until
      // enough of them end; one that reopens the tenant (another root) drops them and starts the count afresh.
      const cfg = (auth: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
        serveConfig({ greedy: tenant(base, 'greedy', { auth: { username: 'greedy', password: 'env:KVBOX_TEST_PW_GREEDY', ...auth }, ...extra }), calm: tenant(base, 'calm') });
      expect(await server.reload(cfg({ maxConnections: 1 }))).toMatchObject({ updated: ['greedy'] });
      expect(text(await clients[0]!.call('SET', 'k', bytes(10)))).toBe('OK');
      const late = await RespClient.connect(port);
      expect(text(await late.call('AUTH', 'greedy', password('greedy')))).toBe('-ERR max number of clients reached for this user (1)');
      await late.closed();
      expect(await server.reload(cfg({ maxConnections: 1 }, { root: join(base, 'greedy-2') }))).toMatchObject({ reopened: ['greedy'] });
      for (const c of clients) await c.closed();
      for (let i = 0; i < 50 && (await gauge('greedy')) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await gauge('greedy')).toBe(0);
      clients.push(await authed(port, 'greedy'));
      expect(text(await clients.at(-1)!.call('SET', 'k', bytes(10)))).toBe('OK');
      calm.close();
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });
});

describe('kvbox serve command', () => {
  const program = () => {
    const p = new Command('kvbox').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    register(p);
    return p;
  };

  it('registers `serve` with --config and --hash-password', () => {
    const serve = program().commands.find((c) => c.name() === 'serve')!;
    expect(serve.options.map((o) => o.long)).toEqual(['--config', '--hash-password']);
  });

  it('refuses to start without --config', async () => {
    const err = await program()
      .parseAsync(['node', 'kvbox', 'serve'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommanderError);
    expect((err as Error).message).toMatch(/--config <file> is required/);
  });
});
