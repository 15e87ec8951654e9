/** The first run from a checkout: what CI runs, and what a machine without Rust is told. */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratch } from './helpers.js';

const repo = join(import.meta.dirname, '..');
const base = scratch('first-run');

describe('first run', () => {
  it("has CI run exactly the README's set-up commands, and nothing else", () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const block = /<!-- ci: set-up -->\s*```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const documented = block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
    expect(documented).toEqual(['npm install && npm run demo', 'npm test']);
    const ci = readFileSync(join(repo, '.ci', 'run'), 'utf8');
    const commands = ci.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !/^(set |cd |start=|echo )/.test(l));
    expect(commands).toEqual(documented);
  });

  it('fails a build without Rust with one line saying what to install', () => {
    // cargo and rustc that are not there: stubs failing as a missing command does, ahead of the real ones.
    const stubs = join(base, 'no-rust');
    mkdirSync(stubs);
    for (const tool of ['cargo', 'rustc']) {
      writeFileSync(join(stubs, tool), '#!/bin/sh\nexit 127\n');
      chmodSync(join(stubs, tool), 0o755);
    }
    const PATH = [stubs, ...(process.env.PATH ?? '').split(delimiter)].join(delimiter);
    const r = spawnSync(process.execPath, [join(repo, 'scripts', 'build.mjs')], { env: { ...process.env, PATH }, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^kvbox: building from source needs Rust ≥ 1\.95 .*rustup.*npm install @kvbox\/kvbox$/)]);
  });

  it('refuses an unknown step of the system package check', () => {
    const r = spawnSync(process.execPath, [join(repo, 'scripts', 'system-deps.mjs'), 'deploy'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage: node scripts\/system-deps.mjs build\|test/);
  });
});
