import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ServeConfigInput } from '../host/index.js';
import { fresh, scratch } from './helpers.js';
import { authed, password, pause, serveConfig, spawnServe, tenant, writeConfig } from './serve/helpers.js';
import { RespClient, text } from './serve/resp-client.js';

const base = scratch('serve-process');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Writers: each connection SETs fresh keys until its connection fails; every +OK is recorded. */
function writers(port: number, names: string[], perTenant: number) {
  const acked = new Map<string, string>(); // `${tenant}/${key}` → sha256
  const sent = new Map<string, string>();
  let stop = false;
  const done = Promise.all(
    names.flatMap((name) =>
      Array.from({ length: perTenant }, async (_, w) => {
        const c = await authed(port, name);
        for (let i = 0; !stop && i < 100_000; i++) {
          const key = `${name}-w${w}-${i}`;
          const value = randomBytes(4096 + ((i * 7919) % (512 << 10)));
          sent.set(`${name}/${key}`, sha(value));
          try {
            const r = await c.call('SET', key, value);
            if (text(r) !== 'OK') throw new Error(`SET answered ${text(r)}`);
          } catch (err) {
            if ((err as Error).message.startsWith('SET answered')) throw err;
            return; // the connection ended: the server is gone
          }
          acked.set(`${name}/${key}`, sha(value));
        }
        c.close();
      }),
    ),
  );
  return { acked, sent, done, halt: () => (stop = true) };
}

/** Waits (bounded) until `acked` holds at least `n` entries. */
async function progress(acked: Map<string, string>, n: number): Promise<void> {
  for (let i = 0; i < 3000 && acked.size < n; i++) await pause(20);
  expect(acked.size).toBeGreaterThanOrEqual(n);
}

/** Checks every acknowledged key whole, and every key sent but not acknowledged absent or whole. */
async function verify(port: number, acked: Map<string, string>, sent: Map<string, string>): Promise<void> {
  const clients = new Map<string, RespClient>();
  for (const [id, digest] of sent) {
    const [name, key] = id.split('/') as [string, string];
    if (!clients.has(name)) clients.set(name, await authed(port, name));
    const got = await clients.get(name)!.call('GET', key);
    if (acked.has(id)) {
      expect(Buffer.isBuffer(got), `acknowledged ${id} is missing`).toBe(true);
      expect(sha(got as Buffer), `acknowledged ${id} is not whole`).toBe(digest);
    } else if (got !== null) {
      expect(sha(got as Buffer), `unacknowledged ${id} is torn`).toBe(digest);
    }
  }
  for (const c of clients.values()) c.close();
}

function config(dir: string): ServeConfigInput {
  return serveConfig({
    sandboxed: tenant(dir, 'sandboxed', { connector: 'fs', durable: true }),
    native: tenant(dir, 'native', { durable: true }),
  });
}

describe('kvbox serve as a process', () => {
  /** Starts a server, writes from 6 connections, sends `signal` once `acked` SETs were acknowledged, restarts and verifies. */
  async function interrupt(name: string, signal: NodeJS.Signals, acked: number) {
    const dir = fresh(base, name);
    const first = await spawnServe(base, config(dir), `${name}.json`);
    const w = writers(first.resp, ['sandboxed', 'native'], 3);
    await progress(w.acked, acked);
    first.child.kill(signal);
    const exit = await first.exited;
    w.halt();
    await w.done;
    const second = await spawnServe(base, config(dir), `${name}.json`);
    try {
      await verify(second.resp, w.acked, w.sent);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    return { exit, lines: first.lines };
  }

  it('keeps every acknowledged SET whole when SIGKILLed during SETs', async () => {
    expect((await interrupt('kill', 'SIGKILL', 60)).exit.signal).toBe('SIGKILL');
  });

  it('shuts down gracefully on SIGTERM: requests in flight are answered, nothing acknowledged is lost, exit code 0', async () => {
    const { exit, lines } = await interrupt('term', 'SIGTERM', 30);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });

  it('reloads its configuration file on SIGHUP, adding a tenant without dropping other connections', async () => {
    const dir = fresh(base, 'hup');
    const alpha = tenant(dir, 'alpha');
    const first = await spawnServe(base, serveConfig({ alpha }), 'hup.json');
    try {
      const a = await authed(first.resp, 'alpha');
      expect(text(await a.call('SET', 'before', 'reload'))).toBe('OK');
      // Rewrite the same file with one more tenant (its password in a file: the process's environment is fixed), then signal.
      const secret = join(base, 'beta.password');
      writeFileSync(secret, `${password('beta')}\n`, { mode: 0o600 });
      writeConfig(base, serveConfig({ alpha, beta: { ...tenant(dir, 'beta'), auth: { username: 'beta', password: `file:${secret}` } } }), 'hup.json');
      first.child.kill('SIGHUP');
      let beta: RespClient | undefined;
      for (let i = 0; i < 200 && !beta; i++) {
        beta = await authed(first.resp, 'beta').catch(() => undefined);
        if (!beta) await pause(25);
      }
      expect(beta, 'tenant beta never became available').toBeDefined();
      expect(text(await a.call('GET', 'before'))).toBe('reload');
      expect(a.ended).toBe(false);
      expect(await beta!.call('GET', 'before')).toBeNull();
      a.close();
      beta!.close();
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
  });
});

