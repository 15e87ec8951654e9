/**
 * A caller must never crash the process (issue 16): the memory a call lends
 * stays valid whatever JS does meanwhile, and a connector's directory lock
 * outlives every call admitted before `close()`.
 */
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { compileConnector, FS_CONNECTOR, NATIVE_FS } from '../host/index.js';
import { bytes, CONNECTOR_KINDS, fresh, scratch, sha256 } from './helpers.js';

const base = scratch('reliability-caller');

function pattern(n: number): Uint8Array {
  const u8 = new Uint8Array(n);
  for (let i = 0; i < n; i += 4096) u8[i] = (i / 4096) & 0xff;
  return u8;
}

/**
 * Every way JS can detach an ArrayBuffer. Node either refuses to transfer an
 * untransferable buffer or clones it instead; either way it must stay attached.
 */
function tryToDetach(buffer: ArrayBuffer): void {
  for (const attempt of detachAttempts(buffer)) {
    try {
      attempt();
    } catch {
      // refused: fine
    }
    expect(buffer.byteLength, 'the lent buffer is still attached').toBe(64 << 20);
  }
}

function detachAttempts(buffer: ArrayBuffer): (() => unknown)[] {
  const attempts: (() => unknown)[] = [
    () => structuredClone(buffer, { transfer: [buffer] }),
    () => {
      const { port1, port2 } = new MessageChannel();
      try {
        port1.postMessage(buffer, [buffer]);
      } finally {
        port1.close();
        port2.close();
      }
    },
  ];
  const transfer = (ArrayBuffer.prototype as { transfer?: () => ArrayBuffer }).transfer;
  if (typeof transfer === 'function') attempts.push(() => transfer.call(buffer));
  return attempts;
}

describe.each(CONNECTOR_KINDS)('%s connector: a caller detaching a lent buffer', (_, open) => {
  it('cannot detach the buffer of a put in flight, and the put stores every byte', async () => {
    await using store = await open({ root: fresh(base) });
    const data = pattern(64 << 20);
    const want = sha256(data);
    const put = store.put('k', data);
    await new Promise(setImmediate);
    tryToDetach(data.buffer as ArrayBuffer);
    await put;
    expect(data.byteLength).toBe(64 << 20);
    expect(sha256((await store.get('k'))!)).toBe(want);
  });

  it('cannot detach the target of a getInto in flight, and the bytes land in it', async () => {
    await using store = await open({ root: fresh(base) });
    const data = pattern(64 << 20);
    await store.put('k', data);
    const target = new Uint8Array(64 << 20);
    const read = store.getInto('k', target);
    await new Promise(setImmediate);
    tryToDetach(target.buffer as ArrayBuffer);
    expect(await read).toBe(64 << 20);
    expect(sha256(target)).toBe(sha256(data));
  });
});

describe.each([
  ['sandboxed', FS_CONNECTOR],
  ['native', NATIVE_FS],
] as const)('%s connector: close() and the directory lock', (_, source) => {
  it('resolves only after calls admitted before it finished; a reopen sees their objects and exact usage', async () => {
    const root = fresh(base);
    const component = await compileConnector(source, { cacheDir: false });
    let store = await component.open({ root });
    let stored = 0;
    for (let round = 0; round < 20; round++) {
      const data = bytes(2 << 20);
      const put = store.put(`k${round}`, data);
      await store.close();
      await expect(put).resolves.toBeUndefined();
      stored += data.length;
      store = await component.open({ root });
      expect(sha256((await store.get(`k${round}`))!)).toBe(sha256(data));
      expect(store.stats()).toMatchObject({ objects: round + 1, bytesStored: stored });
    }
    await store.close();
  });
});
