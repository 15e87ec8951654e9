import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesUnder, scratch } from './helpers.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli.js');

describe('kvbox CLI', () => {
  const base = scratch('cli');

  it('runs the demo round trip through the sandboxed connector on real files', () => {
    const out = execFileSync(process.execPath, [CLI, 'demo', '--dir', base], { encoding: 'utf8' });
    expect(out).toMatch(/O_DIRECT, \d+-byte alignment/);
    expect(out).toMatch(/demo ok/);
    expect(out.match(/^demo-model.* yes$/gm)).toHaveLength(7);
    expect(out).toMatch(/^removed .*: yes$/m);
    // 7 objects put, one removed; everything under the tenant directory.
    expect(filesUnder(join(base, 'tenants', 'demo'))).toHaveLength(6);
    const second = execFileSync(process.execPath, [CLI, 'demo', '--dir', base], { encoding: 'utf8' });
    expect(second).toMatch(/ disk in /);
  });

  it('fails with usage on an unknown command', () => {
    const r = spawnSync(process.execPath, [CLI, 'frobnicate'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command/);
  });
});
