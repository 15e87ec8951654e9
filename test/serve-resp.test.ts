import { describe, expect, it } from 'vitest';
import { bytes, scratch } from './helpers.js';
import { authed, password, serveConfig, startServer, tenant } from './serve/helpers.js';
import { RespClient, text } from './serve/resp-client.js';

const base = scratch('serve-resp');
const CHUNK = 256 * 1024;
const server = await startServer(
  serveConfig({
    alpha: tenant(base, 'alpha', { connector: 'fs', limits: { maxObjectBytes: 1 << 20 } }),
    beta: tenant(base, 'beta'),
    plain: tenant(base, 'plain', { auth: { password: `env:KVBOX_TEST_PW_PLAIN` } }),
  }),
);
const port = server.resp!.port;

describe('RESP as LMCache sends it', () => {
  it('answers AUTH with a username, SET, GET, EXISTS and DEL with the exact bytes LMCache expects', async () => {
    const c = await RespClient.connect(port);
    c.raw(`*3\r\n$4\r\nAUTH\r\n$5\r\nalpha\r\n$${password('alpha').length}\r\n${password('alpha')}\r\n`);
    expect((await c.readRaw(5)).toString()).toBe('+OK\r\n');
    const key = 'meta-llama/Llama-3-8B@1@0@9f2c4e@bfloat16';
    const value = bytes(CHUNK);
    c.send('SET', key, value);
    expect((await c.readRaw(5)).toString()).toBe('+OK\r\n');
    c.send('GET', key);
    const header = `$${CHUNK}\r\n`;
    expect((await c.readRaw(header.length)).toString()).toBe(header);
    expect((await c.readRaw(CHUNK)).equals(value)).toBe(true);
    expect((await c.readRaw(2)).toString()).toBe('\r\n');
    c.send('GET', key + '-missing');
    expect((await c.readRaw(5)).toString()).toBe('$-1\r\n');
    c.send('EXISTS', key);
    expect((await c.readRaw(4)).toString()).toBe(':1\r\n');
    c.send('DEL', key);
    expect((await c.readRaw(4)).toString()).toBe(':1\r\n');
    c.send('EXISTS', key);
    expect((await c.readRaw(4)).toString()).toBe(':0\r\n');
    c.send('DEL', key);
    expect((await c.readRaw(4)).toString()).toBe(':0\r\n');
    c.close();
  });

  it('serves one connection per worker, each with one request in flight', async () => {
    const workers = await Promise.all(Array.from({ length: 6 }, () => authed(port, 'alpha')));
    const values = workers.map(() => bytes(CHUNK));
    await Promise.all(workers.map(async (c, i) => expect(text(await c.call('SET', `w${i}`, values[i]!))).toBe('OK')));
    const back = await Promise.all(workers.map((c, i) => c.call('GET', `w${i}`)));
    back.forEach((b, i) => expect((b as Buffer).equals(values[i]!)).toBe(true));
    for (const c of workers) c.close();
  });

  it('takes AUTH with the password alone as the user "default"', async () => {
    const c = await RespClient.connect(port);
    expect(text(await c.call('AUTH', password('plain')))).toBe('OK');
    expect(text(await c.call('SET', 'k', 'v'))).toBe('OK');
    c.close();
  });
});

describe('RESP commands', () => {
  it('refuses commands before AUTH and wrong credentials', async () => {
    const c = await RespClient.connect(port);
    expect(text(await c.call('GET', 'k'))).toMatch(/^-NOAUTH/);
    expect(text(await c.call('PING'))).toMatch(/^-NOAUTH/);
    expect(text(await c.call('AUTH', 'alpha', 'wrong'))).toMatch(/^-WRONGPASS/);
    expect(text(await c.call('AUTH', 'nobody', password('alpha')))).toMatch(/^-WRONGPASS/);
    expect(text(await c.call('AUTH', 'beta', password('alpha')))).toMatch(/^-WRONGPASS/);
    expect(text(await c.call('HELLO', '2'))).toMatch(/^-NOAUTH/);
    expect(text(await c.call('QUIT'))).toBe('OK');
    await c.closed();
  });

  it('answers HELLO 2 (with AUTH) and refuses protocol 3 cleanly', async () => {
    const c = await RespClient.connect(port);
    expect(text(await c.call('HELLO', '3'))).toMatch(/^-NOPROTO/);
    const hello = (await c.call('HELLO', '2', 'AUTH', 'beta', password('beta'), 'SETNAME', 'w1')) as Buffer[];
    expect(hello.map((x) => (Buffer.isBuffer(x) ? x.toString() : x))).toEqual(expect.arrayContaining(['server', 'redis', 'proto', 2]));
    expect(text(await c.call('CLIENT', 'GETNAME'))).toBe('w1');
    expect(text(await c.call('CLIENT', 'SETINFO', 'LIB-NAME', 'test'))).toBe('OK');
    expect(text(await c.call('PING'))).toBe('PONG');
    expect(text(await c.call('ECHO', 'hi'))).toBe('hi');
    expect(await c.call('COMMAND', 'COUNT')).toBeGreaterThan(15);
    expect(await c.call('COMMAND', 'DOCS')).toEqual([]);
    expect(text(await c.call('INFO'))).toMatch(/tenant:beta/);
    c.close();
  });

  it('answers unknown commands, wrong arity, SET options and non-UTF-8 keys with errors, and keeps the connection', async () => {
    const c = await authed(port, 'beta');
    expect(text(await c.call('FLUSHALL'))).toMatch(/^-ERR unknown command 'FLUSHALL'/);
    expect(text(await c.call('GET'))).toBe("-ERR wrong number of arguments for 'get' command");
    expect(text(await c.call('SET', 'k', 'v', 'EX', '10'))).toMatch(/^-ERR syntax error/);
    expect(text(await c.call('GET', Buffer.from([0xff, 0xfe])))).toMatch(/^-ERR invalid key/);
    expect(text(await c.call('GET', ''))).toMatch(/^-ERR ERR_KVBOX_INVALID_KEY/);
    expect(text(await c.call('PING'))).toBe('PONG');
    c.close();
  });

  it('replies to pipelined requests in order, and a pipelined GET sees the SET before it', async () => {
    const c = await authed(port, 'beta');
    const v = bytes(100_000);
    c.socket.cork();
    c.send('SET', 'p', v);
    c.send('GET', 'p');
    c.send('STRLEN', 'p');
    c.send('EXISTS', 'p', 'p', 'nope');
    c.send('DEL', 'p', 'nope');
    c.send('GET', 'p');
    c.socket.uncork();
    expect(text(await c.read())).toBe('OK');
    expect(((await c.read()) as Buffer).equals(v)).toBe(true);
    expect(await c.read()).toBe(100_000);
    expect(await c.read()).toBe(2);
    expect(await c.read()).toBe(1);
    expect(await c.read()).toBeNull();
    c.close();
  });

  it('reads several keys with MGET, counts them with DBSIZE and walks them with SCAN MATCH and COUNT', async () => {
    const c = await authed(port, 'beta');
    for (let i = 0; i < 25; i++) await c.call('SET', `scan:${i % 2 ? 'odd' : 'even'}:${i}`, `v${i}`);
    const got = (await c.call('MGET', 'scan:even:0', 'missing', 'scan:odd:1')) as Array<Buffer | null>;
    expect(got.map((x) => x && x.toString())).toEqual(['v0', null, 'v1']);
    const seen: string[] = [];
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, keys] = (await c.call('SCAN', cursor, 'MATCH', 'scan:odd:*', 'COUNT', '4')) as [Buffer, Buffer[]];
      cursor = next.toString();
      seen.push(...keys.map(String));
    } while (cursor !== '0' && ++rounds < 100);
    expect(seen.sort()).toEqual(Array.from({ length: 12 }, (_, k) => `scan:odd:${2 * k + 1}`).sort());
    expect(await c.call('DBSIZE')).toBeGreaterThanOrEqual(25);
    expect(text(await c.call('SCAN', '12345'))).toBe('-ERR invalid cursor');
    c.close();
  });

  it("accepts a value of exactly the tenant's maxObjectBytes and refuses one byte more before reading it", async () => {
    const c = await authed(port, 'alpha');
    const max = bytes(1 << 20);
    expect(text(await c.call('SET', 'max', max))).toBe('OK');
    expect(((await c.call('GET', 'max')) as Buffer).equals(max)).toBe(true);
    c.raw(`*3\r\n$3\r\nSET\r\n$4\r\nover\r\n$${(1 << 20) + 1}\r\n`);
    expect(text(await c.read())).toMatch(/^-ERR Protocol error: a bulk of 1048577 bytes is over/);
    await c.closed();
  });
});

describe('tenant isolation', () => {
  it('keeps each tenant to its own keys under concurrent load (3 tenants × 4 connections, random walks against a model)', async () => {
    const names = ['alpha', 'beta', 'plain'];
    const prefix = `iso-${Date.now()}`;
    const models = new Map(names.map((n) => [n, new Map<string, string>()]));
    // Every tenant uses the same key names: isolation must come from the server, not the keys.
    const keys = Array.from({ length: 8 }, (_, i) => `${prefix}:k${i}`);
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    await Promise.all(
      names.flatMap((name) =>
        Array.from({ length: 4 }, async (_, w) => {
          const c = name === 'plain' ? await RespClient.connect(port) : await authed(port, name);
          if (name === 'plain') await c.call('AUTH', password('plain'));
          const model = models.get(name)!;
          // Each connection owns every 4th key, so its model is exact whatever the interleaving.
          const mine = keys.filter((_, i) => i % 4 === w);
          for (let step = 0; step < 60; step++) {
            const key = mine[rand(mine.length)]!;
            const op = rand(4);
            if (op === 0) {
              const v = `${name}:${step}:${rand(1e6)}`;
              expect(text(await c.call('SET', key, v))).toBe('OK');
              model.set(key, v);
            } else if (op === 1) {
              expect(await c.call('DEL', key)).toBe(model.delete(key) ? 1 : 0);
            } else if (op === 2) {
              const got = await c.call('GET', key);
              expect(got === null ? null : text(got)).toBe(model.get(key) ?? null);
            } else {
              expect(await c.call('EXISTS', key)).toBe(model.has(key) ? 1 : 0);
            }
          }
          c.close();
        }),
      ),
    );
    for (const name of names) {
      const c = await RespClient.connect(port);
      await c.call('AUTH', ...(name === 'plain' ? [password('plain')] : [name, password(name)]));
      const got = (await c.call('MGET', ...keys)) as Array<Buffer | null>;
      const model = models.get(name)!;
      expect(got.map((g) => (g === null ? null : g.toString()))).toEqual(keys.map((k) => model.get(k) ?? null));
      c.close();
    }
  });
});
