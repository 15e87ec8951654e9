/**
 * The binding's threads (native/node/src/workers.rs, settle.rs): promises
 * settled through one channel per JS thread, a worker pool with a spinning
 * hand-off. Checked from the outside: kvbox inside Node worker threads (each
 * its own environment and channel), a worker exiting with calls in flight,
 * and a process whose calls are done exiting on its own (the channel keeps
 * the loop alive only while promises are pending).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { binding } from '../host/binding.js';
import { loadConnector, NATIVE_FS } from '../host/index.js';
import { fresh, scratch } from './helpers.js';

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const base = scratch('threads');

describe('threads', () => {
  it('serves calls from worker threads, and outlives workers that exit with calls in flight', async () => {
    const code = `
      const { loadConnector, NATIVE_FS } = await import(${JSON.stringify(dist)});
      const { workerData, parentPort } = await import('node:worker_threads');
      const c = await loadConnector(NATIVE_FS, { root: workerData });
      await c.put('a', Buffer.from('x'));
      const found = await Promise.all(Array.from({ length: 200 }, () => c.exists('a')));
      parentPort.postMessage(found.filter(Boolean).length);
      for (let i = 0; i < 100; i++) c.put('k' + i, Buffer.alloc(100_000)).catch(() => {});
      process.exit(0); // with those puts still in flight
    `;
    for (let i = 0; i < 4; i++) {
      const w = new Worker(code, { eval: true, workerData: fresh(base, `worker-${i}`) });
      const found = await new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      expect(found).toBe(200);
      expect(await new Promise((resolve) => w.once('exit', resolve))).toBe(0);
    }
    await using c = await loadConnector(NATIVE_FS, { root: fresh(base, 'main') });
    await c.put('m', Buffer.from('still serving'));
    expect((await c.get('m'))?.toString()).toBe('still serving');
  });

  it('lets a process exit by itself once its calls are done', async () => {
    const script = `
      const { loadConnector, NATIVE_FS } = await import(${JSON.stringify(dist)});
      const c = await loadConnector(NATIVE_FS, { root: ${JSON.stringify(fresh(base, 'exit'))} });
      await Promise.all(Array.from({ length: 50 }, (_, i) => c.put('k' + i, Buffer.alloc(1000))));
      console.log((await c.listKeys({ limit: 100 })).keys.length);
      // no close, no process.exit: an idle binding must not hold the loop open
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    expect(stdout.trim()).toBe('50');
  });

  it('runs every call with the spinning hand-off on and off', async () => {
    const before = binding.workerSpinMicros();
    try {
      await using c = await loadConnector(NATIVE_FS, { root: fresh(base, 'spin') });
      for (const spin of [0, 200, 0]) {
        expect(binding.workerSpinMicros(spin)).toBe(spin);
        for (let i = 0; i < 200; i++) await c.put(`s${spin}-${i}`, Buffer.from(String(i)));
        const got = await Promise.all(Array.from({ length: 200 }, (_, i) => c.get(`s${spin}-${i}`)));
        expect(got.map((b) => b?.toString())).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
      }
    } finally {
      binding.workerSpinMicros(before);
    }
  });
});
