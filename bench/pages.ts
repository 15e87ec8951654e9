/**
 * `npm run bench:pages`: what the memory behind a buffer costs O_DIRECT on
 * this machine, without kvbox (bench/pages.c): cold reads and durable writes
 * straight from/into huge pages, through a bounce buffer plus a copy, and
 * straight from/into 4 KiB pages; then the first touch of fresh and of
 * reused huge pages. The figures behind `native/core/src/io/huge_pages.rs`.
 *
 *   npm run bench:pages -- [--mib 1,4,16] [--objects 48]
 *
 * Needs root for `drop_caches` (reads are warm otherwise) and `cc`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '1,4,16' }, objects: { type: 'string', default: '48' } } });
const work = mkdtempSync(join(process.env.KVBOX_BENCH_DIR ?? '/var/tmp', 'kvbox-pages-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const binary = join(work, 'pages');
execFileSync('cc', ['-O2', '-o', binary, join(import.meta.dirname, 'pages.c')]);
for (const mib of values.mib.split(',')) {
  process.stdout.write(execFileSync(binary, [work, mib, values.objects], { encoding: 'utf8' }));
}
