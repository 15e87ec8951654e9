import fc from 'fast-check';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { bytes, scratch } from './helpers.js';
import { authed, password, pause, serveConfig, startServer, tenant } from './serve/helpers.js';
import { RespClient, text } from './serve/resp-client.js';

const base = scratch('serve-fuzz');
const server = await startServer(serveConfig({ fuzz: tenant(base, 'fuzz', { limits: { maxObjectBytes: 2 << 20 } }) }, { bufferPoolBytes: 8 << 20 }));
const port = server.resp!.port;
const RUNS = process.env.KVBOX_FUZZ === 'long' ? 3000 : 150;

async function metric(name: string): Promise<number> {
  const body = await server.metrics.registry.getSingleMetricAsString(name.replace(/\{.*$/, ''));
  const line = body.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name.replace(/\}$/, '') + ','));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Sends `input` on a fresh connection, half-closes, and collects everything the server sends until it closes. */
function exchange(input: Buffer, auth: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' }, () => {
      if (auth) s.write(`*3\r\n$4\r\nAUTH\r\n$4\r\nfuzz\r\n$${password('fuzz').length}\r\n${password('fuzz')}\r\n`);
      s.end(input);
    });
    const out: Buffer[] = [];
    s.on('data', (d: Buffer) => out.push(d));
    s.on('error', () => {}); // the server may reset after a protocol error
    s.on('close', () => resolve(Buffer.concat(out)));
    s.setTimeout(20_000, () => reject(new Error(`no close after ${JSON.stringify(input.toString('latin1').slice(0, 100))}`)));
  });
}

/** Whether `b` is a sequence of complete RESP replies. */
function wellFormedReplies(b: Buffer): boolean {
  let at = 0;
  const one = (): boolean => {
    const eol = b.indexOf('\r\n', at);
    if (eol < 0) return false;
    const kind = b[at];
    const line = b.toString('latin1', at + 1, eol);
    at = eol + 2;
    if (kind === 0x2b || kind === 0x2d) return true;
    if (kind === 0x3a) return /^-?\d+$/.test(line);
    if (kind === 0x24) {
      const n = Number(line);
      if (n === -1) return true;
      at += n + 2;
      return at <= b.length && b.toString('latin1', at - 2, at) === '\r\n';
    }
    if (kind === 0x2a) {
      for (let i = 0; i < Number(line); i++) if (!one()) return false;
      return true;
    }
    return false;
  };
  while (at < b.length) if (!one()) return false;
  return true;
}

const token = fc.constantFrom('*', '$', '\r\n', '\n', '\r', '-1', '0', '1', '3', '99999999999', 'GET', 'SET', 'SCAN', 'HELLO', 'AUTH', 'k', ' ', '\0', '$-5');
const request = fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant('x'.repeat(70_000))), { maxLength: 4 }).map((args) => {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) parts.push(`$${a.length}\r\n`, typeof a === 'string' ? a : Buffer.from(a).toString('latin1'), '\r\n');
  return parts.join('');
});
/** Valid requests, token soup and random bytes, spliced and truncated. */
const malformed = fc
  .tuple(fc.array(fc.oneof(request, token, fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u).toString('latin1'))), { maxLength: 12 }), fc.nat())
  .map(([pieces, cut]) => {
    const all = Buffer.from(pieces.join(''), 'latin1');
    return all.subarray(0, all.length === 0 ? 0 : cut % (all.length + 1));
  });

describe('RESP listener under hostile input', () => {
  it('answers malformed RESP with replies or an error and a close, never crashes, and leaves other connections working', async () => {
    const control = await authed(port, 'fuzz');
    await fc.assert(
      fc.asyncProperty(malformed, fc.boolean(), async (input, auth) => {
        const out = await exchange(input, auth);
        expect(wellFormedReplies(out), JSON.stringify(out.toString('latin1').slice(0, 200))).toBe(true);
        expect(text(await control.call('PING'))).toBe('PONG');
      }),
      { numRuns: RUNS },
    );
    // Nothing left behind: only the control connection is open, and no pooled buffer was lost beyond the pool's bound.
    for (let i = 0; i < 100 && (await metric('kvbox_connections{protocol="resp"}')) !== 1; i++) await pause(20);
    expect(await metric('kvbox_connections{protocol="resp"}')).toBe(1);
    expect(server.ready).toBe(true);
    control.close();
  });

  it('refuses a 1 GiB bulk header at once, before and after AUTH, without waiting for the bytes', async () => {
    for (const auth of [false, true]) {
      const c = auth ? await authed(port, 'fuzz') : await RespClient.connect(port);
      c.raw(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1073741824\r\n`);
      expect(text(await c.read())).toMatch(/^-ERR Protocol error: a bulk of 1073741824 bytes is over this connection's limit/);
      await c.closed();
    }
  });

  it('stops reading from a client that does not read its replies, and delivers every reply once it does', async () => {
    const value = bytes(1 << 20);
    const c = await authed(port, 'fuzz');
    expect(text(await c.call('SET', 'big', value))).toBe('OK');
    const before = await metric('kvbox_commands_total{tenant="fuzz",protocol="resp",command="GET",result="ok"}');
    const n = 300; // 300 MiB of replies, if the server buffered them all
    c.socket.pause();
    c.socket.cork();
    for (let i = 0; i < n; i++) c.send('GET', 'big');
    c.socket.uncork();
    // Wait (bounded) until the server makes no more progress.
    let served = -1;
    for (let i = 0, still = 0; i < 200 && still < 5; i++) {
      await pause(50);
      const now = (await metric('kvbox_commands_total{tenant="fuzz",protocol="resp",command="GET",result="ok"}')) - before;
      still = now === served ? still + 1 : 0;
      served = now;
    }
    // Socket buffers hold a few MiB: the server ran a handful of GETs, not all 300.
    expect(served).toBeGreaterThan(0);
    expect(served).toBeLessThan(64);
    c.socket.resume();
    for (let i = 0; i < n; i++) expect(((await c.read()) as Buffer).equals(value)).toBe(true);
    c.close();
  });
});
