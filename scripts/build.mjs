#!/usr/bin/env node
// `npm run build` (and `npm install` in a checkout, through `prepare`): checks
// for Rust, installs the Debian packages the guests need when missing
// (scripts/system-deps.mjs), then builds the native addon, the WebAssembly
// guests and the TypeScript library, saying what it does and how long it took.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { targetDir } from './target-dir.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUST_MIN = [1, 95];

function fail(line) {
  console.error(line);
  process.exit(1);
}

function checkRust() {
  const v = spawnSync('rustc', ['--version'], { encoding: 'utf8' });
  const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' });
  const install = 'install it with rustup (https://rustup.rs), or use the published package, which needs no Rust: npm install @kvbox/kvbox';
  if (v.status !== 0 || cargo.status !== 0) fail(`kvbox: building from source needs Rust ≥ ${RUST_MIN.join('.')} (rustc and cargo on PATH): ${install}`);
  const [major, minor] = (v.stdout.match(/rustc (\d+)\.(\d+)/) ?? []).slice(1).map(Number);
  if (major < RUST_MIN[0] || (major === RUST_MIN[0] && minor < RUST_MIN[1])) {
    fail(`kvbox: building from source needs Rust ≥ ${RUST_MIN.join('.')}, found ${v.stdout.trim()}: run rustup update stable`);
  }
  return v.stdout.trim();
}

function run(what, cmd, args, env = {}) {
  console.log(`kvbox: ${what}`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) fail(`kvbox: ${what.split(' (')[0]} failed (exit ${r.status ?? r.signal})`);
  console.log(`kvbox: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

const rust = checkRust();
run('checking the system packages the build needs', process.execPath, [join(root, 'scripts', 'system-deps.mjs'), 'build']);
const CARGO_TARGET_DIR = targetDir();
run(`[1/4] native addon (${rust}, release profile; compiled dependencies cached in ${CARGO_TARGET_DIR}; minutes when cold)`, 'npm', ['run', '--silent', 'build:native'], { CARGO_TARGET_DIR });
run('[2/4] C ABI: native/libkvbox_connector.so and the C test fixtures (test/cabi/dist/)', 'npm', ['run', '--silent', 'build:cabi'], { CARGO_TARGET_DIR });
run('[3/4] WebAssembly connectors (guests/dist/*.wasm)', 'npm', ['run', '--silent', 'build:guests'], { CARGO_TARGET_DIR });
run('[4/4] TypeScript library and CLI (dist/)', 'npm', ['run', '--silent', 'build:ts']);
