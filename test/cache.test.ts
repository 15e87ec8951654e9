import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratch } from './helpers.js';

const ROOT = join(import.meta.dirname, '..');

/** Compiles the FS connector in a new process; returns where the code came from. */
function originInNewProcess(cacheDir: string): string {
  const script = `
    const { compileConnector, FS_CONNECTOR } = await import(${JSON.stringify(join(ROOT, 'host', 'index.ts'))});
    const c = await compileConnector(FS_CONNECTOR, { cacheDir: ${JSON.stringify(cacheDir)} });
    console.log(c.origin);`;
  return execFileSync(process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' }).trim();
}

describe('compiled-component cache', () => {
  const base = scratch('cache');

  it('compiles once, then loads from disk in a new process', () => {
    const dir = join(base, 'c1');
    expect(originInNewProcess(dir)).toBe('compiled');
    expect(readdirSync(dir).filter((f) => f.endsWith('.cwasm'))).toHaveLength(1);
    expect(originInNewProcess(dir)).toBe('disk');
  });

  it('ignores cache files others could have written, and forged ones', () => {
    const dir = join(base, 'c2');
    originInNewProcess(dir);
    const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.cwasm'))!);
    chmodSync(file, 0o666);
    expect(originInNewProcess(dir)).toBe('compiled');
    writeFileSync(file, 'forged machine code', { mode: 0o600 });
    chmodSync(file, 0o600);
    expect(originInNewProcess(dir)).toBe('compiled');
    expect(originInNewProcess(dir)).toBe('disk');
  });
});
