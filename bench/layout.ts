/**
 * `npm run bench:layout`: what the on-disk layout costs, without kvbox. The
 * same objects written and read by plain syscalls (Node `fs`) in two layouts:
 * one flat directory (what the C references and LMCache's connector use) and
 * the fs connector's 256 shard directories (`crates/layout`). Puts do what
 * kvbox's durable put does (temporary file, fdatasync, rename, directory
 * fsync); reads are cold (page cache, dentries and inodes dropped), one object
 * at a time. The layouts alternate round by round; prints µs per object.
 *
 *   npm run bench:layout -- [--rounds 4] [--objects 384] [--kib 256]
 *
 * Needs root for `drop_caches` (reads are reported as warm otherwise).
 */
import { closeSync, fdatasyncSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dropCaches, median } from './probes.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '4' }, objects: { type: 'string', default: '384' }, kib: { type: 'string', default: '256' } } });
const [ROUNDS, N, SIZE] = [Number(values.rounds), Number(values.objects), Number(values.kib) << 10];
const work = mkdtempSync(join(process.env.KVBOX_BENCH_DIR ?? '/var/tmp', 'kvbox-layout-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));


/** Directory of object `i`: the root, or one of 256 shards (as the layout's top byte of a hash). */
const layouts = {
  flat: (_i: number) => '',
  '256 shards': (i: number) => (Math.imul(i + 1, 2654435761) >>> 24).toString(16).padStart(2, '0'),
} as const;

const data = Buffer.alloc(SIZE, 7);
const target = Buffer.alloc(SIZE);
const us: Record<string, number[]> = {};
const add = (k: string, v: number) => (us[k] ??= []).push(v);
let cold = true;

for (let r = 0; r < ROUNDS; r++) {
  const order = Object.entries(layouts);
  if (r % 2) order.reverse();
  for (const [name, shard] of order) {
    const root = join(work, `${name.replace(/\W/g, '')}-${r}`);
    mkdirSync(root);
    const dirs = new Map<string, number>();
    const dirFd = (d: string) => {
      let fd = dirs.get(d);
      if (fd === undefined) {
        mkdirSync(join(root, d), { recursive: true });
        fd = openSync(join(root, d), 'r');
        dirs.set(d, fd);
      }
      return fd;
    };
    let t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const d = shard(i);
      const dir = dirFd(d);
      const tmp = join(root, d, `.tmp-${i}`);
      const fd = openSync(tmp, 'wx');
      writeSync(fd, data, 0, SIZE, 0);
      fdatasyncSync(fd);
      closeSync(fd);
      renameSync(tmp, join(root, d, `k${i}.obj`));
      fsyncSync(dir);
    }
    add(`${name} put`, Number(process.hrtime.bigint() - t) / N / 1e3);
    for (const fd of dirs.values()) closeSync(fd);
    cold = dropCaches(3) && cold;
    t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const fd = openSync(join(root, shard(i), `k${i}.obj`), 'r');
      readSync(fd, target, 0, SIZE, 0);
      closeSync(fd);
    }
    add(`${name} ${cold ? 'cold ' : ''}read`, Number(process.hrtime.bigint() - t) / N / 1e3);
    rmSync(root, { recursive: true, force: true });
  }
}

console.log(`${N} objects of ${SIZE >> 10} KiB per layout and round, ${ROUNDS} rounds alternating; µs per object (median, then every round):`);
for (const [k, v] of Object.entries(us)) console.log(`  ${k.padEnd(22)} ${median(v).toFixed(0).padStart(6)}   ${v.map((x) => x.toFixed(0)).join(' ')}`);
