import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { CALL_CHANNEL, type CallEvent, hashSecret, LATENCY_BUCKETS_MS, loadConnector, NATIVE_FS } from '../host/index.js';
import { bytes, fresh, scratch } from './helpers.js';
import { authed, serveConfig, startServer, tenant } from './serve/helpers.js';
import { text } from './serve/resp-client.js';

const base = scratch('serve-metrics');

describe('library per-operation metrics', () => {
  it('counts calls, hits, misses, errors and bytes per operation, with a latency histogram', async () => {
    await using store = await loadConnector(NATIVE_FS, { root: fresh(base), durable: false });
    await store.put('a', bytes(1000));
    await store.get('a');
    await store.get('nope');
    await store.getInto('a', Buffer.alloc(2000));
    await store.exists('a');
    await expect(store.getInto('a', Buffer.alloc(10))).rejects.toThrow();
    const ops = store.stats().operations;
    expect(ops.put).toMatchObject({ calls: 1, errors: 0, bytes: 1000 });
    expect(ops.get).toMatchObject({ calls: 2, hits: 1, misses: 1, bytes: 1000 });
    expect(ops.getInto).toMatchObject({ calls: 2, hits: 1, errors: 1, bytes: 1000 });
    expect(ops.exists).toMatchObject({ calls: 1, hits: 1 });
    expect(ops.put.latency.counts).toHaveLength(LATENCY_BUCKETS_MS.length + 1);
    expect(ops.get.latency.counts.reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('publishes one diagnostics_channel event per call', async () => {
    const events: CallEvent[] = [];
    const listener = (m: unknown) => events.push(m as CallEvent);
    subscribe(CALL_CHANNEL, listener);
    try {
      await using store = await loadConnector(NATIVE_FS, { root: fresh(base), durable: false });
      await store.put('k', bytes(10));
      await store.exists('missing');
      expect(events.filter((e) => e.connector === store).map((e) => [e.op, e.outcome, e.bytes])).toEqual([
        ['put', 'ok', 10],
        ['exists', 'miss', 0],
      ]);
    } finally {
      unsubscribe(CALL_CHANNEL, listener);
    }
  });
});

describe('admin listener', async () => {
  const token = 'admin-token-for-tests';
  const tenants = { alpha: tenant(base, 'alpha'), beta: tenant(base, 'beta') };
  const adminToken = await hashSecret(token);
  const server = await startServer(serveConfig(tenants, { admin: { port: 0, token: adminToken } }));
  const admin = `http://127.0.0.1:${server.admin!.port}`;

  it('exports per-tenant operation counters, latency histograms and usage in Prometheus text format', async () => {
    const c = await authed(server.resp!.port, 'alpha');
    await c.call('SET', 'm', bytes(5000));
    await c.call('GET', 'm');
    await c.call('GET', 'missing');
    await c.call('AUTH', 'alpha', 'wrong');
    c.close();
    const res = await fetch(`${admin}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const body = await res.text();
    expect(body).toMatch(/kvbox_operations_total\{tenant="alpha",op="put",result="ok"\} 1/);
    expect(body).toMatch(/kvbox_operations_total\{tenant="alpha",op="getInto",result="miss"\} 1/); // GET reads into a pooled buffer of the last size seen
    expect(body).toMatch(/kvbox_payload_bytes_total\{tenant="alpha",direction="written"\} 5000/);
    expect(body).toMatch(/kvbox_operation_seconds_bucket\{le="\+Inf",tenant="alpha",op="put"\} 1/);
    expect(body).toMatch(/kvbox_stored_objects\{tenant="alpha"\} 1/);
    expect(body).toMatch(/kvbox_in_flight\{tenant="beta"\} 0/);
    expect(body).toMatch(/kvbox_traps_total\{tenant="alpha"\} 0/);
    expect(body).toMatch(/kvbox_near_deadline_total\{tenant="alpha"\} 0/);
    expect(body).toMatch(/kvbox_auth_failures_total 1/);
    expect(body).toMatch(/kvbox_commands_total\{tenant="alpha",protocol="resp",command="GET",result="ok"\} 2/);
  });

  it('answers /healthz and /readyz', async () => {
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${admin}/readyz`)).json()).toEqual({ status: 'ready' });
    expect((await fetch(`${admin}/nope`)).status).toBe(404);
  });

  it('reloads with the bearer token: adds a tenant and keeps the other tenants’ connections', async () => {
    const alpha = await authed(server.resp!.port, 'alpha');
    expect((await fetch(`${admin}/reload`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${admin}/reload`, { method: 'POST', headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const next = serveConfig({ ...tenants, gamma: tenant(base, 'gamma') }, { admin: { port: 0, token: adminToken } });
    const report = await server.reload(next);
    expect(report).toEqual({ added: ['gamma'], removed: [], reopened: [], updated: [] });
    expect(text(await alpha.call('SET', 'still', 'here'))).toBe('OK');
    const gamma = await authed(server.resp!.port, 'gamma');
    expect(text(await gamma.call('GET', 'still'))).toBe('null');
    const res = await fetch(`${admin}/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    // The server was started from an object: reloading it again without a new config re-applies the last one.
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ added: [], removed: [], reopened: [], updated: [] });
    alpha.close();
    gamma.close();
  });

  it('removes a tenant on reload and drops only its connections', async () => {
    const alpha = await authed(server.resp!.port, 'alpha');
    const beta = await authed(server.resp!.port, 'beta');
    const report = await server.reload(serveConfig({ alpha: tenants.alpha }, { admin: { port: 0, token: adminToken } }));
    expect(report.removed.sort()).toEqual(['beta', 'gamma']);
    await beta.closed();
    expect(text(await alpha.call('PING'))).toBe('PONG');
    alpha.close();
  });
});
