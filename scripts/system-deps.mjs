#!/usr/bin/env node
// Makes sure the Debian packages kvbox's build (or its tests) need are
// installed: installs the missing ones with apt when running as root, else
// prints the one `sudo apt-get install …` line to run and exits 1.
//
//   node scripts/system-deps.mjs build   (npm run build runs this)
//   node scripts/system-deps.mjs test    (npm test runs this)
//
// To need another package, add one line to PACKAGES.
import { spawnSync } from 'node:child_process';

const hasRustupWasm = () => (spawnSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' }).stdout ?? '').split('\n').includes('wasm32-wasip2');
// Rust guests build with rustup's wasm32-wasip2 target when it is installed;
// otherwise (rustup cannot download targets on our CI machines) with Debian's
// rustc-web toolchain and the standard library built on the fly.
const debianGuestToolchain = () => !hasRustupWasm();

/** Every system package: for which step, why, and (optionally) when it is needed. */
const PACKAGES = [
  { name: 'rustc-web', step: 'build', why: 'WebAssembly guests (Rust compiler with wasm targets)', when: debianGuestToolchain },
  { name: 'cargo-web', step: 'build', why: 'WebAssembly guests (its cargo)', when: debianGuestToolchain },
  { name: 'rust-web-src', step: 'build', why: 'WebAssembly guests (standard library sources)', when: debianGuestToolchain },
  { name: 'lld-19', step: 'build', why: 'WebAssembly guests (wasm-ld-19)', when: debianGuestToolchain },
  { name: 'wasi-libc', step: 'build', why: 'WebAssembly guests (libc for wasm32-wasip1)', when: debianGuestToolchain },
  { name: 'clang-19', step: 'test', why: 'the C connector template, built end to end by test/kit.test.ts' },
  { name: 'libclang-rt-19-dev-wasm32', step: 'test', why: 'the C connector template (compiler runtime for wasm32)' },
  { name: 'e2fsprogs', step: 'test', why: 'mkfs.ext4, for the full-disk test' },
  { name: 'redis-server', step: 'test', why: 'a real Redis server, for the RESP tests' },
  { name: 'redis-tools', step: 'test', why: 'redis-cli and redis-benchmark, real RESP clients for the tests' },
];

const step = process.argv[2];
if (step !== 'build' && step !== 'test') {
  console.error('usage: node scripts/system-deps.mjs build|test');
  process.exit(2);
}
const wanted = PACKAGES.filter((p) => p.step === step && (p.when?.() ?? true));
if (wanted.length === 0) process.exit(0);

if (spawnSync('dpkg-query', ['--version']).status !== 0) {
  // Not Debian-like: name what is wanted; the step that needs it says so again if it is missing.
  console.warn(`kvbox: not a Debian system; make sure these are installed: ${wanted.map((p) => `${p.name} (${p.why})`).join('; ')}`);
  process.exit(0);
}
const installed = (name) => /install ok installed/.test(spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' }).stdout ?? '');
const missing = wanted.filter((p) => !installed(p.name));
if (missing.length === 0) process.exit(0);

const names = missing.map((p) => p.name);
if (process.getuid?.() !== 0) {
  console.error(`kvbox: missing system packages for the ${step} (${missing.map((p) => `${p.name}: ${p.why}`).join('; ')}); run: sudo apt-get install -y ${names.join(' ')}`);
  process.exit(1);
}
console.log(`kvbox: installing Debian packages for the ${step}: ${missing.map((p) => `${p.name} (${p.why})`).join(', ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...names]]) {
  const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(`kvbox: apt-get ${args.join(' ')} failed (exit ${r.status}); install them by hand: apt-get install -y ${names.join(' ')}`);
    process.exit(1);
  }
}
