/**
 * The systems the throughput benchmark compares, each able to put `count`
 * objects of `size` bytes into a directory and read them back, with
 * `concurrency` operations in flight.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { allocBuffer, type ConnectorComponent } from '../host/index.js';

export interface System {
  name: string;
  /** Nanoseconds to put the batch. */
  put(dir: string, data: Buffer, count: number, concurrency: number): Promise<number>;
  /** Nanoseconds to read the batch back (verifying lengths). */
  get(dir: string, size: number, count: number, concurrency: number): Promise<number>;
  /** Nanoseconds to read the batch back into preallocated, reused buffers (one per lane). */
  getInto(dir: string, size: number, count: number, concurrency: number): Promise<number>;
}

/**
 * One reused, already-touched target buffer per lane, as an application keeps staging buffers; `aligned`:
 * from kvbox's `allocBuffer`, what its docs tell callers to use (the C reference's are aligned too).
 */
function targets(size: number, concurrency: number, aligned = false): Buffer[] {
  return Array.from({ length: concurrency }, () => (aligned ? allocBuffer(size) : Buffer.allocUnsafeSlow(size)).fill(1));
}

/**
 * Makes `dir` a tenant in service for the fs layout (crates/layout): its 256 shard directories exist, as
 * they do after a tenant's first ≈ 1 500 puts (keys hash evenly over the shards). The timed puts then pay what puts in service pay,
 * as the C references do writing into their one existing directory; a new tenant's first puts also make
 * the shards (one `mkdir`, and when durable one more directory sync, per new shard: docs/benchmarks.md,
 * "Tenants in service"), a cost of the tenant's first puts only, shown by the batch rows' "new tenant" lane.
 */
export function inService(dir: string): void {
  for (let shard = 0; shard < 256; shard++) mkdirSync(join(dir, shard.toString(16).padStart(2, '0')), { recursive: true });
}

/** `data` in an `allocBuffer` (O_DIRECT-aligned: kvbox writes it with no bounce copy), made before timing. */
function alignedCopy(data: Buffer): Buffer {
  const out = allocBuffer(data.length);
  data.copy(out);
  return out;
}

/** Like {@link pool}, handing each task its lane number. */
async function lanes(count: number, concurrency: number, task: (i: number, lane: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async (_, lane) => {
      while (next < count) await task(next++, lane);
    }),
  );
}

/** Runs `count` tasks with at most `concurrency` in flight. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await task(next++);
  });
  await Promise.all(lanes);
}

function check(got: number | undefined, size: number, what: string): void {
  if (got !== size) throw new Error(`${what}: read ${got} bytes, expected ${size}`);
}

/**
 * A kvbox connector (sandboxed or native) opened on each batch directory; `fsLayout`: it stores objects in
 * the fs layout, so its tenants are made {@link inService} first.
 */
export function kvboxSystem(name: string, component: ConnectorComponent, maxInstances: number, durable = true, fsLayout = true): System {
  const opened = new Map<string, Awaited<ReturnType<ConnectorComponent['open']>>>();
  const connector = async (dir: string) => {
    let c = opened.get(dir);
    if (!c) {
      if (fsLayout) inService(dir);
      c = await component.open({ root: dir, durable, limits: { maxInstances } });
      opened.set(dir, c);
    }
    return c;
  };
  return {
    name,
    async put(dir, data, count, concurrency) {
      const c = await connector(dir);
      const source = alignedCopy(data);
      const t = process.hrtime.bigint();
      await pool(count, concurrency, (i) => c.put(`bench@1@0@${i}@bf16`, source));
      return Number(process.hrtime.bigint() - t);
    },
    async get(dir, size, count, concurrency) {
      const c = await connector(dir);
      const t = process.hrtime.bigint();
      await pool(count, concurrency, async (i) => check((await c.get(`bench@1@0@${i}@bf16`))?.length, size, name));
      return Number(process.hrtime.bigint() - t);
    },
    async getInto(dir, size, count, concurrency) {
      const c = await connector(dir);
      const bufs = targets(size, concurrency, true);
      const t = process.hrtime.bigint();
      await lanes(count, concurrency, async (i, lane) => check(await c.getInto(`bench@1@0@${i}@bf16`, bufs[lane]!), size, name));
      const ns = Number(process.hrtime.bigint() - t);
      await c.close();
      opened.delete(dir);
      return ns;
    },
  };
}

/** What a user would write with Node's fs: writeFile + fsync + rename (+ directory fsync); readFile. */
export const nodeFs: System = {
  name: 'node-fs',
  async put(dir, data, count, concurrency) {
    const t = process.hrtime.bigint();
    await pool(count, concurrency, async (i) => {
      const tmp = join(dir, `.tmp-${i}`);
      const fh = await open(tmp, 'w');
      await fh.writeFile(data);
      await fh.datasync();
      await fh.close();
      await rename(tmp, join(dir, `o${i}`));
      const d = await open(dir, 'r');
      await d.sync();
      await d.close();
    });
    return Number(process.hrtime.bigint() - t);
  },
  async get(dir, size, count, concurrency) {
    const t = process.hrtime.bigint();
    await pool(count, concurrency, async (i) => check((await readFile(join(dir, `o${i}`))).length, size, 'node-fs'));
    return Number(process.hrtime.bigint() - t);
  },
  async getInto(dir, size, count, concurrency) {
    const bufs = targets(size, concurrency);
    const t = process.hrtime.bigint();
    await lanes(count, concurrency, async (i, lane) => {
      const fh = await open(join(dir, `o${i}`), 'r');
      const { bytesRead } = await fh.read(bufs[lane]!, 0, size, 0);
      await fh.close();
      check(bytesRead, size, 'node-fs');
    });
    return Number(process.hrtime.bigint() - t);
  },
};

/** The C O_DIRECT reference (bench/odirect_ref.c), one process per batch, timed inside. */
export function cReference(binary: string): System {
  const run = (op: string, dir: string, size: number, count: number, threads: number) =>
    Number(execFileSync(binary, [op, dir, String(size), String(count), String(threads)], { encoding: 'utf8' }).trim());
  return {
    name: 'c-odirect',
    put: async (dir, data, count, concurrency) => run('put', dir, data.length, count, concurrency),
    get: async (dir, size, count, concurrency) => run('get', dir, size, count, concurrency),
    // The reference always reads into buffers allocated once per thread.
    getInto: async (dir, size, count, concurrency) => run('get', dir, size, count, concurrency),
  };
}
