/**
 * The batched API's rows (contract 0.2.0): `existsMany` of 1 000 keys per
 * key, and `putMany` / `getManyInto` of 64 × 1 MiB and 16 × 4 MiB at batch
 * level, against the single-key API doing the same work with as many calls
 * in flight as the batch uses threads, and against the C O_DIRECT reference
 * with that many threads; and — the comparison users of cache-only
 * connectors make — kvbox with `durable: false` against a C program doing
 * what LMCache's native filesystem connector does (`bench/odirect_ref.c lmcache-put|get`:
 * buffered write + rename, no fsync; buffered reads), same threads.
 * Alternatives are interleaved, round by round.
 *
 *   npm run bench -- --only batch        (this section alone)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { allocBuffer, type ConnectorComponent } from '../host/index.js';
import { dropCaches, median } from './probes.js';
import { inService, pool } from './systems.js';

/** Threads a batch is split over (limits.maxInstances), calls in flight for the single-key API, threads of the C reference. */
export const BATCH_THREADS = 4;
export const SHAPES = [
  { count: 64, size: 1 << 20 },
  { count: 16, size: 4 << 20 },
] as const;

export interface BatchRow {
  system: string;
  op: 'put' | 'get-into';
  shape: string;
  gbPerSec: number;
}

export interface BatchResults {
  rows: BatchRow[];
  /** µs per key of existsMany(1 000 keys) and of 1 000 sequential exists calls. */
  existsUsPerKey: Record<string, number>;
}

const shapeLabel = (s: { count: number; size: number }) => `${s.count} × ${s.size >> 20} MiB`;

export async function batchRows(
  components: { wasm: ConnectorComponent; native: ConnectorComponent },
  work: string,
  rounds: number,
  refBinary: string,
): Promise<BatchResults> {
  const samples = new Map<string, number[]>();
  const add = (k: string, v: number) => samples.set(k, [...(samples.get(k) ?? []), v]);
  type Lane = { name: string; put: (dir: string, keys: string[], data: Buffer) => Promise<number>; getInto: (dir: string, keys: string[], bufs: Buffer[]) => Promise<number> };
  const timed = async (f: () => Promise<unknown>) => {
    const t = process.hrtime.bigint();
    await f();
    return Number(process.hrtime.bigint() - t);
  };
  const kvbox = (name: string, component: ConnectorComponent, batched: boolean, durable = true, newTenant = false): Lane => {
    const open = (dir: string) => component.open({ root: dir, durable, limits: { maxInstances: BATCH_THREADS } });
    return {
      name,
      async put(dir, keys, data) {
        if (!newTenant) inService(dir);
        await using c = await open(dir);
        return await timed(async () => {
          if (batched) {
            const r = await c.putMany(keys.map((k) => [k, data] as const));
            if (r.errors.size) throw [...r.errors.values()][0];
          } else await pool(keys.length, BATCH_THREADS, (i) => c.put(keys[i]!, data));
        });
      },
      async getInto(dir, keys, bufs) {
        await using c = await open(dir);
        return await timed(async () => {
          if (batched) {
            const r = await c.getManyInto(keys, bufs);
            if (r.errors.size || r.hits.includes(0)) throw new Error(`${name}: getManyInto missed`);
          } else await pool(keys.length, BATCH_THREADS, async (i) => void (await c.getInto(keys[i]!, bufs[i]!)));
        });
      },
    };
  };
  /** A lane of bench/odirect_ref.c, `mode` '' (O_DIRECT, durable) or 'lmcache-' (buffered, no fsync). */
  const cLane = (name: string, mode: '' | 'lmcache-'): Lane => {
    const run = (op: string, dir: string, size: number, count: number) =>
      Number(execFileSync(refBinary, [`${mode}${op}`, dir, String(size), String(count), String(BATCH_THREADS)], { encoding: 'utf8' }));
    return { name, put: async (dir, keys, data) => run('put', dir, data.length, keys.length), getInto: async (dir, keys, bufs) => run('get', dir, bufs[0]!.length, keys.length) };
  };
  const cRef = cLane(`c-odirect ×${BATCH_THREADS}`, '');
  const lmRef = cLane(`lmcache-like C ×${BATCH_THREADS}`, 'lmcache-');
  const lanes: Lane[] = [
    kvbox('wasm putMany/getManyInto', components.wasm, true),
    kvbox('native putMany/getManyInto', components.native, true),
    kvbox(`wasm put/getInto ×${BATCH_THREADS} in flight`, components.wasm, false),
    cRef,
    kvbox('wasm batched, durable: false', components.wasm, true, false),
    lmRef,
    kvbox('wasm batched, durable: false, new tenant', components.wasm, true, false, true),
  ];
  for (let round = 0; round < rounds; round++) {
    for (const shape of SHAPES) {
      const keys = Array.from({ length: shape.count }, (_, i) => `batch@1@0@${i.toString(16)}@bf16`);
      // Aligned like the C reference's buffers (allocBuffer), so no side pays a bounce copy.
      const data = allocBuffer(shape.size).fill(round + 3);
      const bufs = keys.map(() => allocBuffer(shape.size).fill(1));
      for (let i = 0; i < lanes.length; i++) {
        const lane = lanes[(i + round) % lanes.length]!;
        const dir = join(work, `batch-${round}-${shape.count}-${i}`);
        mkdirSync(dir);
        const bytes = shape.count * shape.size;
        // Every lane's puts start with the page cache dropped, so each one fills
        // recently freed pages: on a VM, pages the guest has not touched lately
        // can cost ~9 µs each on first touch (docs/benchmarks.md, "Why page-cache
        // writes swing"), and whichever lane met them would lose by 5×.
        dropCaches();
        add(`${lane.name}|put|${shapeLabel(shape)}`, bytes / (await lane.put(dir, keys, data)));
        dropCaches();
        add(`${lane.name}|get-into|${shapeLabel(shape)}`, bytes / (await lane.getInto(dir, keys, bufs)));
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const rows: BatchRow[] = [...samples].map(([k, v]) => {
    const [system, op, shape] = k.split('|');
    return { system: system!, op: op as BatchRow['op'], shape: shape!, gbPerSec: median(v) };
  });

  // existsMany of 1 000 keys (half stored) against 1 000 sequential exists, interleaved.
  const existsUs: Record<string, number[]> = {};
  const stores = {
    wasm: await components.wasm.open({ root: join(work, 'exists-wasm'), limits: { maxInstances: BATCH_THREADS } }),
    native: await components.native.open({ root: join(work, 'exists-native'), limits: { maxInstances: BATCH_THREADS } }),
  };
  const keys = Array.from({ length: 1000 }, (_, i) => `exists@1@0@${i.toString(16)}@bf16`);
  for (const c of Object.values(stores)) await c.putMany(keys.filter((_, i) => i % 2 === 0).map((k) => [k, Buffer.alloc(1024)] as const));
  for (const c of Object.values(stores)) await c.existsMany(keys); // instances warm
  for (let round = 0; round < rounds * 4; round++) {
    for (const [name, c] of Object.entries(stores)) {
      (existsUs[`${name} existsMany`] ??= []).push((await timed(() => c.existsMany(keys))) / 1e3 / keys.length);
      if (round % 4 === 0) {
        (existsUs[`${name} exists, sequential`] ??= []).push(
          (await timed(async () => {
            for (const k of keys) await c.exists(k);
          })) /
            1e3 /
            keys.length,
        );
      }
    }
  }
  await Promise.all(Object.values(stores).map((c) => c.close()));
  const existsUsPerKey = Object.fromEntries(Object.entries(existsUs).map(([k, v]) => [k, median(v)]));
  return { rows, existsUsPerKey };
}

/** The batched targets of contract 0.2.0, from the rows. */
export function batchTargets(r: BatchResults): Array<{ target: string; value: number; ok: (v: number) => boolean }> {
  const gb = (system: string, op: string, shape: string) => r.rows.find((x) => x.system === system && x.op === op && x.shape === shape)!.gbPerSec;
  const cName = `c-odirect ×${BATCH_THREADS}`;
  const lmName = `lmcache-like C ×${BATCH_THREADS}`;
  const one = shapeLabel(SHAPES[0]);
  return [
    { target: 'batched exists ≤ 2 µs per key (wasm, existsMany of 1 000)', value: r.existsUsPerKey['wasm existsMany']!, ok: (v) => v <= 2 },
    { target: `batched 1 MiB put ≥ 0.9× C reference, same threads (wasm, ${one})`, value: gb('wasm putMany/getManyInto', 'put', one) / gb(cName, 'put', one), ok: (v) => v >= 0.9 },
    { target: `batched 1 MiB get-into ≥ 0.9× C reference, same threads (wasm, ${one})`, value: gb('wasm putMany/getManyInto', 'get-into', one) / gb(cName, 'get-into', one), ok: (v) => v >= 0.9 },
    { target: `durable: false puts ≥ 1.2× LMCache-like C (wasm, ${one}, tenant in service)`, value: gb('wasm batched, durable: false', 'put', one) / gb(lmName, 'put', one), ok: (v) => v >= 1.2 },
    { target: `cold gets ≥ 1.5× LMCache-like C (wasm, durable: false, ${one})`, value: gb('wasm batched, durable: false', 'get-into', one) / gb(lmName, 'get-into', one), ok: (v) => v >= 1.5 },
  ];
}
