/**
 * The `kvbox` program's conventions (help, usage errors, runtime errors) and
 * the demo, run as a real child process on real files.
 */
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kvboxIn, oneLine } from './cli-run.js';
import { filesUnder, fresh, mountSmallDisk, scratch } from './helpers.js';

const base = scratch('cli');
const kvbox = kvboxIn(base);

describe('kvbox program', () => {
  it('prints help listing every command, and per-command help listing its options', () => {
    const help = kvbox(['--help']);
    expect(help.status).toBe(0);
    for (const c of ['demo', 'put', 'get', 'ls', 'rm', 'stats']) expect(help.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    const demo = kvbox(['demo', '--help']);
    expect(demo.status).toBe(0);
    expect(demo.stdout).toMatch(/Usage: kvbox demo/);
    for (const o of ['--root', '--connector', '--native', '--config', '--create', '--json']) expect(demo.stdout).toContain(o);
    expect(kvbox(['get', '--help']).stdout).toMatch(/-o, --output <file>/);
    // Reading commands list no option that only writing ones use.
    for (const c of ['get', 'ls', 'stats']) {
      const h = kvbox([c, '--help']).stdout;
      for (const o of ['--create', '--quota-bytes', '--no-durable']) expect(h, `${c} ${o}`).not.toContain(o);
    }
    expect(kvbox(['rm', '--help']).stdout).toContain('--no-durable');
    const unknown = kvbox(['ls', '--root', '/tmp', '--create']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--create'/);
  });

  it('prints the version from package.json', () => {
    const r = kvbox(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    [['frobnicate'], /^kvbox: unknown command 'frobnicate' \(see kvbox --help\)$/],
    [['demo', '--frob'], /^kvbox: unknown option '--frob' \(see kvbox demo --help\)$/],
    [['ls'], /required option '-r, --root <dir>' not specified/],
    [['ls', '--root', base, '--config', '{nope'], /option '--config <json\|@file>' argument '\{nope' is invalid\. not JSON/],
    [['ls', '--root', base, '--config', '[1]'], /must be a JSON object/],
    [['demo', '--native', '--connector', 'x.wasm'], /cannot be used with option '--native'/],
    [['put', '--root', base], /missing required argument 'key'/],
    [['ls', '--root', base, 'extra'], /too many arguments/],
    [['put', '--root', base, '--quota-bytes', '1G', 'k', '-'], /--quota-bytes <n>.*must be a non-negative integer/],
    [['rm', '--root', base], /^kvbox: give keys, --prefix <text> or --all \(exactly one of them\) \(see kvbox rm --help\)$/],
  ])('exits 2 with one line on the usage error %j', (args, message) => {
    const r = kvbox(args);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toMatch(message);
  });

  it('exits 1 with the typed error, naming the file, when the connector is not a component', () => {
    const notWasm = join(base, 'not-a-component.wasm');
    writeFileSync(notWasm, 'hello, not wasm');
    const r = kvbox(['demo', '--root', fresh(base), '--connector', notWasm]);
    expect(r.status).toBe(1);
    expect(oneLine(r.stderr)).toMatch(new RegExp(`^kvbox: LoadError \\(ERR_KVBOX_LOAD\\): ${notWasm}: `));
  });
});

describe('kvbox demo', () => {
  it('round-trips objects of 0 B to 16 MiB through the sandboxed connector on real files', () => {
    const root = fresh(base);
    const r = kvbox(['demo', '--root', root]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/O_DIRECT, \d+-byte alignment/);
    expect(r.stdout).toMatch(/demo ok/);
    expect(r.stdout.match(/^demo-model.* yes$/gm)).toHaveLength(7);
    expect(r.stdout).toMatch(/^removed .*: yes$/m);
    // 7 objects put, one removed: what stays is under the tenant directory.
    expect(filesUnder(root)).toHaveLength(6);
    // The second run finds the compiled component in the on-disk cache.
    expect(kvbox(['demo', '--root', root]).stdout).toMatch(/ disk in /);
  });

  it('prints its results as JSON with --json, on the native fast path too', () => {
    const r = kvbox(['demo', '--root', fresh(base), '--native', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; rows: Array<{ verified: boolean }>; component: { origin: string } };
    expect(out.ok).toBe(true);
    expect(out.component.origin).toBe('builtin');
    expect(out.rows.map((row) => row.verified)).toEqual(Array(7).fill(true));
  });

  it('refuses a root it cannot reach (a symbolic-link loop, a file on the way) with a typed one-line error', () => {
    const dir = fresh(base, 'unreachable');
    mkdirSync(dir, { recursive: true });
    symlinkSync('loop', join(dir, 'loop'));
    writeFileSync(join(dir, 'file'), 'x');
    for (const [root, why] of [
      [join(dir, 'loop'), /ELOOP/],
      [join(dir, 'file', 'tenant'), /ENOTDIR/],
    ] as const) {
      const r = kvbox(['demo', '--root', root]);
      expect(r.status, root).toBe(1);
      expect(oneLine(r.stderr)).toMatch(/^kvbox: InvalidArgumentError \(ERR_KVBOX_INVALID_ARGUMENT\): --root .* cannot be used: /);
      expect(r.stderr).toMatch(why);
    }
  });

  it('refuses a root whose parent does not exist, and creates it with --create', () => {
    const root = join(fresh(base, 'missing-mount'), 'tenant');
    const refused = kvbox(['demo', '--root', root]);
    expect(refused.status).toBe(1);
    expect(oneLine(refused.stderr)).toMatch(/InvalidArgumentError \(ERR_KVBOX_INVALID_ARGUMENT\): .*does not exist.*--create/);
    expect(existsSync(join(root, '..'))).toBe(false);
    const created = kvbox(['demo', '--root', root, '--create']);
    expect(created.status, created.stderr).toBe(0);
    expect(filesUnder(root)).toHaveLength(6);
  });

  it('prints the rows it completed and removes every object it stored when a put fails', () => {
    const root = fresh(base);
    mkdirSync(root);
    // 2 MB holds the objects up to 1 MiB; the 4 MiB one goes over the quota.
    const r = kvbox(['demo', '--root', root, '--quota-bytes', String(2_000_000)]);
    expect(r.status).toBe(1);
    expect(r.stdout.match(/^demo-model.* yes$/gm)).toHaveLength(5);
    expect(r.stderr).toMatch(/cleaned up: removed 5 object\(s\)/);
    expect(r.stderr).toMatch(/^kvbox: QuotaExceededError \(ERR_KVBOX_QUOTA\): put "demo-model@1@0@4MiB/m);
    expect(filesUnder(root)).toEqual([]);
  });
});

// Root and a loop device make a real full disk; without them the quota test above covers the clean-up.
const smallDisk = join(base, 'small-disk');
const unavailable = mountSmallDisk(join(base, 'small.img'), smallDisk, '12M');
if (unavailable) console.warn(`full-disk demo test skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('kvbox demo on a full disk', () => {
  it('fails with NoSpaceError after printing the rows that fit, and leaves nothing behind', () => {
    const root = join(smallDisk, 'tenant');
    const r = kvbox(['demo', '--root', root]);
    expect(r.status).toBe(1);
    expect(r.stdout.match(/^demo-model.* yes$/gm)!.length).toBeGreaterThanOrEqual(5);
    expect(r.stderr).toMatch(/^kvbox: NoSpaceError \(ERR_KVBOX_NO_SPACE\): put "demo-model@1@0@(4|16)MiB/m);
    expect(r.stderr).toMatch(/cleaned up: removed \d+ object\(s\)/);
    expect(filesUnder(root)).toEqual([]);
  });
});
