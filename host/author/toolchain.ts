/**
 * Which toolchain builds WebAssembly connectors here, and how to run it:
 * shared by `scripts/build-guests.ts` (kvbox's own guests) and `kvbox build`
 * (an author's project), so the detection and its "what is missing" message
 * live once.
 *
 * Rust, in this order: rustup's `wasm32-wasip2` target (a plain `cargo build`
 * emits components); else Debian's `rustc-web` path — the standard library
 * built for `wasm32-wasip1` on the fly (`-Zbuild-std`) and jco's WASI
 * preview1 adapter turning the core module into a component. C: clang with
 * the wasm32-wasi target and `wasm-ld` (Debian's `wasm-ld-19` is found too).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuildError } from '../errors.js';

/** A Rust toolchain that can build components. */
export type RustToolchain = { kind: 'rustup-wasip2'; target: 'wasm32-wasip2' } | { kind: 'debian-build-std'; target: 'wasm32-wasip1'; rustc: string };

const DEBIAN_RUST = 'sudo apt-get install rustc-web cargo-web rust-web-src lld-19 wasi-libc';

function probe(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

/**
 * Finds a Rust toolchain for components (`KVBOX_FORCE_BUILD_STD=1` skips rustup's).
 * @throws {@link BuildError} naming what is missing and the commands that install it.
 */
export function detectRust(): RustToolchain {
  const installed = probe('rustup', ['target', 'list', '--installed']) ?? '';
  if (installed.split('\n').includes('wasm32-wasip2') && !process.env.KVBOX_FORCE_BUILD_STD) return { kind: 'rustup-wasip2', target: 'wasm32-wasip2' };
  const missing: string[] = [];
  const rustc = probe('/usr/bin/rustc', ['--version']);
  if (!rustc) missing.push('/usr/bin/rustc (Debian package rustc-web)');
  if (!probe('/usr/bin/cargo', ['--version'])) missing.push('/usr/bin/cargo (Debian package cargo-web)');
  if (!existsSync('/usr/lib/rustlib/src/rust/library/std')) missing.push('standard library sources (Debian package rust-web-src)');
  if (!probe('wasm-ld-19', ['--version'])) missing.push('wasm-ld-19 (Debian package lld-19)');
  if (!existsSync('/usr/lib/wasm32-wasi/libc.a')) missing.push('wasi-libc (Debian package wasi-libc)');
  if (rustc && missing.length === 0) return { kind: 'debian-build-std', target: 'wasm32-wasip1', rustc: rustc.trim() };
  throw new BuildError(
    'no Rust toolchain for WebAssembly components. Either\n' +
      '  - install the rustup target:  rustup target add wasm32-wasip2\n' +
      `  - or install Debian packages: ${DEBIAN_RUST}\n` +
      `Missing for the Debian path: ${missing.join('; ')}.`,
  );
}

/** How to run one cargo build. */
export interface CargoBuild {
  /** The workspace or package directory. */
  cwd: string;
  /** `-p` packages; none builds the package in `cwd`. */
  packages?: string[];
  features?: string;
  /** `CARGO_TARGET_DIR`: one per user keeps the standard library built once per profile. */
  targetDir: string;
  /** Where cargo's output goes ('inherit' or 'pipe' to keep it for an error). */
  stdio?: 'inherit' | 'pipe';
}

/**
 * Runs `cargo build --release` for the toolchain's target.
 * @throws {@link BuildError} with cargo's last lines when it fails.
 */
export function cargoBuild(tc: RustToolchain, b: CargoBuild): void {
  const args = ['build', '--release', '--target', tc.target, ...(b.packages ?? []).flatMap((p) => ['-p', p])];
  if (b.features) args.push('--features', b.features);
  const env: NodeJS.ProcessEnv = { ...process.env, CARGO_TARGET_DIR: b.targetDir };
  let cargo = 'cargo';
  if (tc.kind === 'debian-build-std') {
    cargo = '/usr/bin/cargo';
    args.push('-Zbuild-std=std,panic_abort');
    Object.assign(env, {
      RUSTC: '/usr/bin/rustc',
      RUSTC_BOOTSTRAP: '1',
      CARGO_TARGET_WASM32_WASIP1_LINKER: 'wasm-ld-19',
      CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS: '-Clink-self-contained=no -L/usr/lib/wasm32-wasi',
    });
  }
  run(cargo, args, { cwd: b.cwd, env, stdio: b.stdio ?? 'inherit' }, 'cargo build');
}

/** The core module or component cargo wrote for `crate`. */
export function builtWasm(tc: RustToolchain, targetDir: string, crate: string): string {
  return join(targetDir, tc.target, 'release', `${crate.replaceAll('-', '_')}.wasm`);
}

/**
 * Writes the component for a built module to `out`: a copy for wasm32-wasip2,
 * else `jco new --wasi-reactor` (jco ships the WASI preview1 adapter).
 */
export function toComponent(tc: RustToolchain | 'core', built: string, out: string, jco: string): void {
  if (tc !== 'core' && tc.kind === 'rustup-wasip2') copyFileSync(built, out);
  else run(jco, ['new', built, '--wasi-reactor', '-o', out], { stdio: 'pipe' }, 'jco new');
}

/**
 * The jco executable: the project's own (`node_modules/.bin/jco` under `from`),
 * else the one installed with kvbox.
 * @throws {@link BuildError} when neither exists.
 */
export function findJco(from: string): string {
  const dir = findPackage('@bytecodealliance/jco', from);
  const bin = dir && (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { bin?: { jco?: string } }).bin?.jco;
  if (dir && bin) return join(dir, bin);
  throw new BuildError(`jco is needed to make a component: ${installHint(from, ['@bytecodealliance/jco@1.35.0'])}`);
}

/**
 * What to run when npm packages a build needs are missing from project `root`: `npm install` there when
 * its package.json already lists them all (a project made by `kvbox new` does), else the install line.
 */
export function installHint(root: string, specs: string[]): string {
  const names = specs.map((s) => s.slice(0, s.lastIndexOf('@')));
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: object; devDependencies?: object };
    const listed = { ...pkg.dependencies, ...pkg.devDependencies };
    if (names.every((n) => n in listed)) return `run npm install in ${root} (its package.json lists ${names.join(', ')})`;
  } catch {
    // no package.json: the install line below
  }
  return `npm install --save-dev ${specs.join(' ')}`;
}

/**
 * The directory of npm package `name` as Node would find it from `from` (a
 * project directory), else (unless `alsoKvboxOwn` is false) from kvbox's own
 * installation; packages whose `exports` hide `package.json` are found too.
 */
export function findPackage(name: string, from: string, alsoKvboxOwn = true): string | undefined {
  const bases = [join(from, 'package.json'), ...(alsoKvboxOwn ? [fileURLToPath(import.meta.url)] : [])];
  for (const base of bases) {
    for (const dir of createRequire(base).resolve.paths(name) ?? []) {
      if (existsSync(join(dir, name, 'package.json'))) return join(dir, name);
    }
  }
  return undefined;
}

/** clang and wasm-ld for C connectors. */
export interface CToolchain {
  clang: string;
  /** Absolute path of `wasm-ld`, else Debian's `wasm-ld-19`, for `-fuse-ld=` (clang looks for `wasm-ld` only, or takes a path). */
  linker: string;
  /** `--sysroot`: wasi-libc. */
  sysroot: string;
}

/**
 * Finds clang, wasm-ld and wasi-libc.
 * @throws {@link BuildError} naming what is missing and how to install it.
 */
export function detectC(): CToolchain {
  const clang = ['clang', 'clang-19'].find((c) => probe(c, ['--version']));
  const linker = ['wasm-ld', 'wasm-ld-19'].map((l) => probe('sh', ['-c', `command -v ${l}`])?.trim()).find((l) => l && probe(l, ['--version']));
  const sysroot = ['/usr', process.env.WASI_SYSROOT].find((s) => s && existsSync(join(s, 'lib', 'wasm32-wasi', 'libc.a')));
  const missing = [!clang && 'clang (Debian package clang-19)', !linker && 'wasm-ld (Debian package lld-19)', !sysroot && 'wasi-libc (Debian package wasi-libc, or set WASI_SYSROOT)'].filter(Boolean);
  if (clang && linker && sysroot) return { clang, linker, sysroot };
  throw new BuildError(`no C toolchain for WebAssembly: missing ${missing.join('; ')}. Install: sudo apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 (or use wasi-sdk and set WASI_SYSROOT)`);
}

/**
 * Runs a build tool.
 * @throws {@link BuildError} with the tool's last output lines when it fails.
 */
export function run(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; stdio?: 'inherit' | 'pipe' }, what: string): string {
  const isJs = cmd.endsWith('.js');
  const r = spawnSync(isJs ? process.execPath : cmd, isJs ? [cmd, ...args] : args, { cwd: o.cwd, env: o.env ?? process.env, stdio: o.stdio === 'inherit' ? 'inherit' : 'pipe', encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new BuildError(`${what}: cannot run ${cmd}: ${r.error.message}`, { cause: r.error });
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new BuildError(`${what} failed (exit ${r.status ?? r.signal})${tail ? `:\n${tail}` : ''}`);
  }
  return `${r.stdout ?? ''}`;
}
