/**
 * Sandboxed instances come from wasmtime's pooling allocator, which reserves
 * about 4 TiB of address space up front (native/core/src/sandbox/runtime.rs).
 * A process that turns it off (`KVBOX_INSTANCE_POOL=0`) or whose address
 * space is capped (`ulimit -v`) still runs connectors, and compiled code
 * cached by one kind of process loads in the other. Each case runs in a new
 * process: the choice is made once, when the runtime starts.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratch } from './helpers.js';

const ROOT = join(import.meta.dirname, '..');

/** Opens a sandboxed tenant, puts and gets an object; prints `origin value`. */
function roundTrip(base: string, cacheDir: string, env: Record<string, string>, shellPrefix = ''): string {
  const script = `
    const { compileConnector, FS_CONNECTOR } = await import(${JSON.stringify(join(ROOT, 'host', 'index.ts'))});
    const component = await compileConnector(FS_CONNECTOR, { cacheDir: ${JSON.stringify(cacheDir)} });
    const tenants = [];
    for (let i = 0; i < 3; i++) tenants.push(await component.open({ root: ${JSON.stringify(base)} + '/t' + Date.now() + '-' + i }));
    await tenants[2].put('k', Buffer.from('pooled or not'));
    console.log(component.origin, String(await tenants[2].get('k')));
    for (const t of tenants) await t.close();`;
  const node = [process.execPath, '--import', 'tsx/esm', '--input-type=module', '-e', script];
  const quoted = node.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const r = spawnSync('bash', ['-c', `${shellPrefix}exec ${quoted}`], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.trim();
}

describe('instance pool', () => {
  const base = scratch('pool');

  it('runs connectors with the pool turned off, sharing the compiled-code cache both ways', () => {
    const cache = join(base, 'cache');
    expect(roundTrip(base, cache, { KVBOX_INSTANCE_POOL: '0' })).toBe('compiled pooled or not');
    expect(roundTrip(base, cache, { KVBOX_INSTANCE_POOL: '1' })).toBe('disk pooled or not');
    expect(roundTrip(base, cache, { KVBOX_INSTANCE_POOL: '0' })).toBe('disk pooled or not');
    expect(readdirSync(cache).filter((f) => f.endsWith('.cwasm'))).toHaveLength(1);
  });

  it('refuses a KVBOX_INSTANCE_POOL it does not understand with a LoadError naming it', () => {
    const script = `
      const { compileConnector, FS_CONNECTOR } = await import(${JSON.stringify(join(ROOT, 'host', 'index.ts'))});
      try { await compileConnector(FS_CONNECTOR, { cacheDir: false }); console.log('loaded'); }
      catch (e) { console.log(e.name, e.code, e.message); }`;
    const r = spawnSync(process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, KVBOX_INSTANCE_POOL: 'off' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^LoadError ERR_KVBOX_LOAD .*KVBOX_INSTANCE_POOL must be 0 \(no instance pool\) or 1 \(the default\), not "off"/);
  });

  it('runs connectors in a process whose address space is capped below the pool (ulimit -v 96 GiB)', () => {
    // Node and three 4 GiB (+ guard) linear-memory reservations fit in 96 GiB; the 4 TiB pool does not.
    expect(roundTrip(base, join(base, 'cache-ulimit'), {}, 'ulimit -v 100663296; ')).toBe('compiled pooled or not');
  });
});
