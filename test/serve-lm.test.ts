import { describe, expect, it } from 'vitest';
import { bytes, scratch } from './helpers.js';
import { authed, serveConfig, startServer, tenant } from './serve/helpers.js';
import { EXIST, GET, HEALTH, LIST, LmClient, PUT } from './serve/lm-client.js';

const base = scratch('serve-lm');
const server = await startServer(
  serveConfig({
    alpha: tenant(base, 'alpha', { lm: { port: 0 }, limits: { maxObjectBytes: 2 << 20 } }),
    beta: tenant(base, 'beta', { connector: 'fs', lm: { port: 0 } }),
  }),
);
const lmPort = (name: string) => server.lm.get(name)!.port;

describe('lm:// listener', () => {
  it('stores a PUT without replying, and GET returns 200, the metadata stored with it and the payload', async () => {
    const c = await LmClient.connect(lmPort('alpha'));
    const payload = bytes(1 << 20);
    const meta = { fmt: 1, dtype: 7, location: 3, shape: [2, 32, 256, 128] as [number, number, number, number] };
    c.request(PUT, 'llama@1@0@abc@bfloat16', payload, meta);
    c.request(GET, 'llama@1@0@abc@bfloat16');
    const reply = await c.reply(true);
    expect(reply.code).toBe(200);
    expect(reply.length).toBe(payload.length);
    expect(reply.meta).toEqual(meta);
    expect(reply.payload.equals(payload)).toBe(true);
    c.close();
  });

  it('answers EXIST with 200 or 400, HEALTH with 200, a missing GET with 400', async () => {
    const c = await LmClient.connect(lmPort('beta'));
    c.request(PUT, 'present', bytes(4096));
    c.request(EXIST, 'present');
    expect((await c.reply(false)).code).toBe(200);
    c.request(EXIST, 'absent');
    expect((await c.reply(false)).code).toBe(400);
    c.request(GET, 'absent');
    const miss = await c.reply(true);
    expect([miss.code, miss.length]).toEqual([400, 0]);
    c.request(HEALTH, '');
    expect((await c.reply(false)).code).toBe(200);
    c.close();
  });

  it('gives LIST and unknown commands no reply and keeps the connection usable', async () => {
    const c = await LmClient.connect(lmPort('alpha'));
    c.request(LIST, '');
    c.request(99, 'whatever');
    c.request(HEALTH, '');
    const r = await c.reply(false);
    expect(r.code).toBe(200);
    expect(c.pending).toBe(0); // exactly one reply: HEALTH's
    c.close();
  });

  it('serves the tenant of its port only, and reads values stored over RESP with zero metadata', async () => {
    const resp = await authed(server.resp!.port, 'beta');
    const v = bytes(10_000);
    await resp.call('SET', 'from-resp', v);
    const beta = await LmClient.connect(lmPort('beta'));
    beta.request(GET, 'from-resp');
    const r = await beta.reply(true);
    expect([r.code, r.meta.fmt, r.meta.shape]).toEqual([200, 0, [0, 0, 0, 0]]);
    expect(r.payload.equals(v)).toBe(true);
    const alpha = await LmClient.connect(lmPort('alpha'));
    alpha.request(EXIST, 'from-resp');
    expect((await alpha.reply(false)).code).toBe(400);
    for (const c of [resp, beta, alpha]) c.close();
  });

  it("closes a connection whose PUT is longer than the tenant accepts, or negative, without reading it", async () => {
    for (const length of [1 << 30, -1]) {
      const c = await LmClient.connect(lmPort('alpha'));
      const h = Buffer.alloc(186, ' ');
      h.writeInt32LE(PUT, 0);
      h.writeInt32LE(length, 4);
      h.write('huge', 36);
      c.socket.write(h);
      await c.closed();
    }
    const errors = await server.metrics.registry.getSingleMetricAsString('kvbox_protocol_errors_total');
    expect(errors).toMatch(/kvbox_protocol_errors_total\{protocol="lm"\} 2/);
    const again = await LmClient.connect(lmPort('alpha'));
    again.request(HEALTH, '');
    expect((await again.reply(false)).code).toBe(200);
    again.close();
  });
});
