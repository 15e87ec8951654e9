/**
 * Several `kvbox serve` processes serving one tenant on one shared S3 store
 * (a real SeaweedFS on loopback), driven by concurrent RESP clients and
 * compared with a model of what was acknowledged.
 *
 * The model (docs/scaling.md, "Consistency model"):
 * - a key written by one client at a time reads back exactly what was last
 *   acknowledged, through any node, at once (read-after-write across nodes);
 * - a key written by many clients at once always reads as one whole value
 *   that some client wrote (never a mix), and once they stop, every node
 *   returns the same one (last writer wins);
 * - listings through any node show exactly the model's keys;
 * - each node's object count converges to the tenant's total within the
 *   usage refresh interval.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ServeConfigInput } from '../host/index.js';
import { SECRET_KEY, startStore } from './s3/seaweed.js';
import { type RespClient, text } from './serve/resp-client.js';
import { authed, pause, serveConfig, spawnServe, tenant, type ServeProcess } from './serve/helpers.js';

const store = await startStore();
const NODES = 3;
const CLIENTS = 6;
const OPS_PER_CLIENT = 60;
const OWN_KEYS = 6;
const HOT_KEYS = 3;
const REFRESH_MS = 300;

/** A value that shows whether it is whole: `tag` repeated to `length` bytes. */
function value(tag: string, length: number): Buffer {
  const unit = Buffer.from(tag.padEnd(24, '.'));
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += unit.length) unit.copy(out, i);
  return out;
}

/** The tag of a whole value, or a description of how it is torn. */
function tagOf(v: Buffer): string {
  const unit = v.subarray(0, 24);
  for (let i = 24; i < v.length; i += 24) {
    if (!v.subarray(i, i + 24).equals(unit.subarray(0, Math.min(24, v.length - i)))) return `TORN at byte ${i}`;
  }
  return unit.toString().replace(/\.+$/, '');
}

/** A small deterministic generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

describe(`${NODES} kvbox serve nodes on one shared S3 store`, () => {
  const base = mkdtempSync(join(process.env.KVBOX_TEST_DIR ?? '/var/tmp', 'kvbox-multinode-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  const nodes: ServeProcess[] = [];
  afterAll(async () => {
    for (const n of nodes) {
      n.child.kill('SIGTERM');
      await n.exited;
    }
  });

  it('serves concurrent clients through every node consistently with the model', async () => {
    process.env.KVBOX_TEST_S3_SECRET = SECRET_KEY;
    const prefix = `multinode/${process.pid}`;
    for (let i = 0; i < NODES; i++) {
      // Both connector kinds share the store: nodes 0 and 2 sandboxed, node 1 native.
      const t = tenant(base, 'shared', {
        connector: i === 1 ? 'native-fs' : 'fs',
        root: undefined,
        storage: { ...store.storage(prefix, { usageRefreshMs: REFRESH_MS }), credentials: { accessKeyId: 'kvbox-test-key', secretAccessKey: 'env:KVBOX_TEST_S3_SECRET' } },
      });
      const config: ServeConfigInput = serveConfig({ shared: t });
      nodes.push(await spawnServe(base, config, `node-${i}.json`));
    }

    // Every client holds one connection to every node and picks a node per request.
    const clients: RespClient[][] = [];
    for (let c = 0; c < CLIENTS; c++) clients.push(await Promise.all(nodes.map((n) => authed(n.resp, 'shared'))));

    const model = new Map<string, string>(); // key → tag acknowledged last (own keys)
    const hotWritten = new Map<string, Set<string>>(); // key → every tag ever sent
    const hotAcked = new Map<string, Set<string>>();
    const failures: string[] = [];

    await Promise.all(
      clients.map(async (conns, c) => {
        const random = rng(1000 + c);
        const pick = () => conns[Math.floor(random() * conns.length)]!;
        const other = (not: RespClient) => conns.find((x) => x !== not && random() < 0.5) ?? conns.find((x) => x !== not)!;
        for (let op = 0; op < OPS_PER_CLIENT; op++) {
          const r = random();
          if (r < 0.25) {
            // A contended key: many writers.
            const key = `hot-${Math.floor(random() * HOT_KEYS)}`;
            const tag = `c${c}:${op}`;
            if (!hotWritten.has(key)) hotWritten.set(key, new Set());
            hotWritten.get(key)!.add(tag);
            const via = pick();
            const reply = await via.call('SET', key, value(tag, 1024 + Math.floor(random() * 64 * 1024)));
            if (text(reply) !== 'OK') failures.push(`SET ${key}: ${JSON.stringify(reply)}`);
            else {
              if (!hotAcked.has(key)) hotAcked.set(key, new Set());
              hotAcked.get(key)!.add(tag);
            }
            const back = await other(via).call('GET', key);
            if (!Buffer.isBuffer(back)) failures.push(`GET ${key} after an acknowledged SET: ${JSON.stringify(back)}`);
            else if (!hotWritten.get(key)!.has(tagOf(back))) failures.push(`GET ${key}: ${tagOf(back)} was never written`);
          } else {
            // One of this client's own keys: exactly one writer.
            const key = `c${c}/k${Math.floor(random() * OWN_KEYS)}`;
            const via = pick();
            if (r < 0.75) {
              const tag = `c${c}:${op}`;
              const reply = await via.call('SET', key, value(tag, Math.floor(random() * 256 * 1024)));
              if (text(reply) !== 'OK') failures.push(`SET ${key}: ${JSON.stringify(reply)}`);
              else model.set(key, tag);
            } else if (r < 0.85) {
              const reply = await via.call('DEL', key);
              const expected = model.has(key) ? 1 : 0;
              if (reply !== expected) failures.push(`DEL ${key}: ${JSON.stringify(reply)}, model says ${expected}`);
              model.delete(key);
            }
            // Read it back through another node: read-after-write across nodes.
            const reader = other(via);
            const back = await reader.call('GET', key);
            const want = model.get(key);
            const got = Buffer.isBuffer(back) ? tagOf(back) : back;
            if (got !== (want ?? null)) failures.push(`GET ${key} via another node: ${JSON.stringify(got)}, model says ${JSON.stringify(want ?? null)}`);
            const exists = await pick().call('EXISTS', key);
            if (exists !== (want === undefined ? 0 : 1)) failures.push(`EXISTS ${key}: ${JSON.stringify(exists)}`);
          }
        }
      }),
    );
    expect(failures).toEqual([]);

    // Quiescent: every node agrees with the model.
    const expectedKeys = [...model.keys(), ...hotAcked.keys()].sort();
    for (const [n, conn] of clients[0]!.entries()) {
      for (const [key, tag] of model) {
        const back = await conn.call('GET', key);
        expect(Buffer.isBuffer(back) ? tagOf(back) : back, `node ${n} ${key}`).toBe(tag);
      }
      const listed: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = (await conn.call('SCAN', cursor, 'COUNT', '7')) as [Buffer, Buffer[]];
        cursor = next.toString();
        listed.push(...keys.map((k) => k.toString()));
      } while (cursor !== '0');
      expect(listed.sort(), `node ${n} lists the model's keys`).toEqual(expectedKeys);
    }
    for (const key of hotAcked.keys()) {
      const seen = await Promise.all(clients[0]!.map(async (conn) => tagOf((await conn.call('GET', key)) as Buffer)));
      expect(new Set(seen).size, `every node returns the same ${key}`).toBe(1);
      expect(hotAcked.get(key)!.has(seen[0]!), `${key} holds an acknowledged write`).toBe(true);
    }

    // Usage converges: each node's DBSIZE is the tenant's total within the refresh interval.
    const deadline = Date.now() + 20 * REFRESH_MS + 10_000;
    let sizes: unknown[] = [];
    while (Date.now() < deadline) {
      sizes = await Promise.all(clients[0]!.map((conn) => conn.call('DBSIZE')));
      if (sizes.every((s) => s === expectedKeys.length)) break;
      await pause(REFRESH_MS);
    }
    expect(sizes).toEqual(nodes.map(() => expectedKeys.length));
    for (const conns of clients) for (const conn of conns) conn.close();
  }, 240_000);
});
