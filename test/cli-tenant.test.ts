/** `kvbox put / get / ls / rm / stats` on a real tenant directory, run as child processes. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kvboxIn, oneLine } from './cli-run.js';
import { bytes, fresh, scratch, sha256 } from './helpers.js';

const base = scratch('cli-tenant');
const kvbox = kvboxIn(base);

describe.each([
  ['sandboxed', [] as string[]],
  ['native', ['--native']],
])('kvbox tenant commands (%s)', (_name, kind) => {
  const root = fresh(base);
  const at = (...args: string[]) => [...args, '--root', root, ...kind];
  const big = bytes(3 << 20);
  const key = 'llama/3@1@0@9f2c@bfloat16 ✓';

  it('puts from a file and from stdin, and gets back the same bytes to stdout and to a file', () => {
    const file = join(base, `${_name}-in.bin`);
    writeFileSync(file, big);
    const put = kvbox(at('put', key, file));
    expect(put.status, put.stderr).toBe(0);
    expect(put.stdout).toMatch(/^stored "llama\/3@1@0@9f2c@bfloat16 ✓": 3 MiB in /);
    const piped = kvbox(at('put', 'from-stdin', '--json'), Buffer.from('piped bytes'));
    expect(piped.status, piped.stderr).toBe(0);
    expect(JSON.parse(piped.stdout)).toMatchObject({ key: 'from-stdin', size: 11 });

    const out = kvbox(at('get', key));
    expect(out.status, out.stderr).toBe(0);
    expect(sha256(out.raw)).toBe(sha256(big));
    const target = join(base, `${_name}-out.bin`);
    expect(kvbox(at('get', 'from-stdin', '-o', target)).status).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe('piped bytes');
  });

  it('lists keys, with sizes and as JSON', () => {
    const ls = kvbox(at('ls'));
    expect(ls.stdout.trim().split('\n').sort()).toEqual(['from-stdin', key]);
    const long = kvbox(at('ls', '--long', '--json', '--prefix', 'llama/'));
    expect(JSON.parse(long.stdout)).toEqual([{ key, size: big.length }]);
    expect(kvbox(at('ls', '-l')).stdout).toMatch(/^from-stdin\s+11 B\s+11$/m);
  });

  it('lists keys with control characters JSON-quoted, so none splits a line or reaches the terminal', () => {
    const odd = ['x\ny', 'a\u0001b', 'esc\u001b[2Jclear', '"quoted'];
    for (const k of odd) expect(kvbox(at('put', k, '-'), Buffer.from('v')).status).toBe(0);
    const lines = kvbox(at('ls', '--prefix', '')).stdout.trim().split('\n');
    for (const k of odd) expect(lines).toContain(JSON.stringify(k));
    expect(lines.join('\n')).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    expect(kvbox(at('ls', '-l')).stdout).toContain(JSON.stringify('esc\u001b[2Jclear'));
    expect(JSON.parse(kvbox(at('ls', '--json')).stdout)).toEqual(expect.arrayContaining(odd));
    expect(kvbox(at('put', 'rtl\u202eevil', '-'), Buffer.from('v')).status).toBe(0);
    expect(kvbox(at('ls')).stdout.split('\n'), 'a bidirectional override is escaped, not obeyed').toContain('"rtl\\u202eevil"');
    expect(kvbox(at('rm', ...odd, 'rtl\u202eevil')).status).toBe(0);
  });

  it('prints the tenant figures', () => {
    const stats = JSON.parse(kvbox(at('stats', '--json')).stdout) as { objects: number; bytesStored: number; directAlignment: number | null; straightTransfers: boolean };
    expect(stats).toMatchObject({ objects: 2, bytesStored: big.length + 11 });
    expect(stats, 'no per-operation counters from a process that made no calls').not.toHaveProperty('operations');
    const text = kvbox(at('stats')).stdout;
    expect(text).toMatch(/^objects\s+2$/m);
    // Straight transfers need O_DIRECT and transparent huge pages on advice; the kernel says whether it gives them.
    let thp = false;
    try {
      thp = /\[(always|madvise)\]/.test(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'));
    } catch {} // no THP file: no huge pages
    expect(stats.straightTransfers).toBe(stats.directAlignment !== null && thp);
    if (stats.directAlignment !== null) expect(text).toMatch(stats.straightTransfers ? /straight from and into allocBuffers/ : /transparent huge pages are off/);
  });

  it('exits 1 for a missing key on get and rm, and removes by key, --prefix and --all', () => {
    const miss = kvbox(at('get', 'nope'));
    expect(miss.status).toBe(1);
    expect(miss.stderr).toMatch(/^kvbox: no object under "nope"/);
    expect(miss.stdout).toBe('');
    const rm = kvbox(at('rm', 'from-stdin', 'nope'));
    expect(rm.status).toBe(1);
    expect(rm.stdout).toMatch(/removed 1 object/);
    expect(rm.stderr).toMatch(/no object under "nope"/);
    expect(kvbox(at('rm', 'nope', '--force')).status).toBe(0);
    expect(kvbox(at('put', 'other', '-'), Buffer.from('x')).status).toBe(0);
    expect(JSON.parse(kvbox(at('rm', '--prefix', 'llama/', '--json')).stdout)).toEqual({ removed: [key], absent: [] });
    expect(kvbox(at('rm', '--all')).stdout).toMatch(/removed 1 object/);
    expect(kvbox(at('ls')).stdout).toBe('');
  });

  it('refuses reading commands on a missing tenant', () => {
    const missing = kvbox(['ls', '--root', join(root, 'no-such-tenant'), ...kind]);
    expect(missing.status).toBe(1);
    expect(oneLine(missing.stderr)).toMatch(/^kvbox: InvalidArgumentError \(ERR_KVBOX_INVALID_ARGUMENT\): --root .*no-such-tenant does not exist/);
  });

  it('names the unreadable input file in a typed error', () => {
    const r = kvbox(at('put', 'k', join(base, 'no-such-file')));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^kvbox: InvalidArgumentError \(ERR_KVBOX_INVALID_ARGUMENT\): put: cannot read .*no-such-file: ENOENT/);
  });
});
