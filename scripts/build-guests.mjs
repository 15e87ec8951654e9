#!/usr/bin/env node
// Builds every connector under guests/ into a WebAssembly component in guests/dist/.
//
// Two toolchains are supported, detected in this order:
//  1. rustup with the wasm32-wasip2 target: a plain `cargo build` emits components.
//  2. Debian's rustc-web (1.9x, /usr/bin/rustc) + rust-web-src + lld-19 + wasi-libc:
//     the standard library is built for wasm32-wasip1 on the fly (-Zbuild-std), and
//     jco's WASI preview1 adapter turns each core module into a component.
// When neither is complete, the script names exactly what is missing and exits 1.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const guests = join(root, 'guests');
const dist = join(guests, 'dist');
const members = readFileSync(join(guests, 'Cargo.toml'), 'utf8')
  .match(/members\s*=\s*\[([^\]]*)\]/)[1]
  .match(/"([^"]+)"/g)
  .map((m) => m.slice(1, -1))
  .filter((m) => existsSync(join(guests, m, 'Cargo.toml')))
  .filter((m) => /crate-type\s*=\s*\["cdylib"\]/.test(readFileSync(join(guests, m, 'Cargo.toml'), 'utf8')));
// A member listing `variants` under [package.metadata.kvbox] is built once per
// variant, with that Cargo feature, into `<member>-<variant>.wasm` (the hostile
// fixtures: one attack per component); the variant `default` is the plain
// build, into `<member>.wasm` (fs-connector: 0.2.0 by default, 0.1.0 with a feature).
const variantsOf = (m) => {
  const list = readFileSync(join(guests, m, 'Cargo.toml'), 'utf8').match(/^variants\s*=\s*\[([^\]]*)\]/m);
  return list ? list[1].match(/"([^"]+)"/g).map((v) => v.slice(1, -1)) : [];
};
const builds = members.flatMap((m) => {
  const variants = variantsOf(m);
  return variants.length === 0
    ? [{ member: m, out: m }]
    : variants.map((v) => (v === 'default' ? { member: m, out: m } : { member: m, feature: v, out: `${m}-${v}` }));
});

function probe(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

function run(cmd, args, env) {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { cwd: guests, stdio: 'inherit', env: { ...process.env, ...env } });
}

function detect() {
  const installed = probe('rustup', ['target', 'list', '--installed']) ?? '';
  if (installed.split('\n').includes('wasm32-wasip2') && !process.env.KVBOX_FORCE_BUILD_STD) {
    return { kind: 'rustup-wasip2' };
  }
  const missing = [];
  const rustcVersion = probe('/usr/bin/rustc', ['--version']);
  if (!rustcVersion) missing.push('/usr/bin/rustc (Debian package rustc-web)');
  if (!probe('/usr/bin/cargo', ['--version'])) missing.push('/usr/bin/cargo (Debian package cargo-web)');
  if (!existsSync('/usr/lib/rustlib/src/rust/library/std')) missing.push('standard library sources (Debian package rust-web-src)');
  if (!probe('wasm-ld-19', ['--version'])) missing.push('wasm-ld-19 (Debian package lld-19)');
  if (!existsSync('/usr/lib/wasm32-wasi/libc.a')) missing.push('wasi-libc (Debian package wasi-libc)');
  if (missing.length === 0) return { kind: 'debian-build-std', rustcVersion: rustcVersion.trim() };
  console.error(
    'kvbox: cannot build the WebAssembly guests. Either\n' +
      '  - install the rustup target:  rustup target add wasm32-wasip2\n' +
      '  - or install Debian packages: sudo apt-get install rustc-web cargo-web rust-web-src lld-19 wasi-libc\n' +
      `Missing for the Debian path: ${missing.join('; ')}.`,
  );
  process.exit(1);
}

const toolchain = detect();
console.log(`kvbox: building guests [${builds.map((b) => b.out).join(', ')}] with ${toolchain.kind}${toolchain.rustcVersion ? ` (${toolchain.rustcVersion})` : ''}`);
mkdirSync(dist, { recursive: true });
const started = Date.now();

const target = toolchain.kind === 'rustup-wasip2' ? 'wasm32-wasip2' : 'wasm32-wasip1';
const targetDir = process.env.CARGO_TARGET_DIR || join(guests, 'target');
const jco = join(root, 'node_modules', '.bin', 'jco');

function cargoBuild(packages, features) {
  const common = ['build', '--release', '--target', target, ...packages.flatMap((m) => ['-p', m])];
  if (features) common.push('--features', features);
  if (toolchain.kind === 'rustup-wasip2') {
    run('cargo', common);
  } else {
    run('/usr/bin/cargo', [...common, '-Zbuild-std=std,panic_abort'], {
      RUSTC: '/usr/bin/rustc',
      RUSTC_BOOTSTRAP: '1',
      CARGO_TARGET_WASM32_WASIP1_LINKER: 'wasm-ld-19',
      CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS: '-Clink-self-contained=no -L/usr/lib/wasm32-wasi',
    });
  }
}

function emit({ member, out }) {
  const built = join(targetDir, target, 'release', `${member.replaceAll('-', '_')}.wasm`);
  const file = join(dist, `${out}.wasm`);
  if (target === 'wasm32-wasip2') execFileSync('cp', [built, file]);
  else run(jco, ['new', built, '--wasi-reactor', '-o', file]);
  console.log(`kvbox: ${file}`);
}

const plain = builds.filter((b) => !b.feature);
cargoBuild(plain.map((b) => b.member));
plain.forEach(emit);
for (const b of builds.filter((b) => b.feature)) {
  cargoBuild([b.member], b.feature);
  emit(b);
}

// Fixtures no compiler emits: a built component edited as text with jco's
// wasm-tools (`print` → edit → `parse`). Each adds definitions to the first
// core module (the connector's own) right after its first memory or table.
const derived = [
  // Six extra linear memories of 1000 pages (62.5 MiB) each.
  { out: 'hostile-memories', base: 'hostile-panic', after: /\(memory \(;0;\)[^\n]*\n/, add: '(memory 1000)\n'.repeat(6) },
  // Fifty extra tables of a million elements each.
  { out: 'hostile-tables', base: 'hostile-panic', after: /\(table \(;0;\)[^\n]*\n/, add: '(table 1000000 funcref)\n'.repeat(50) },
];
for (const d of derived) {
  const wat = execFileSync(jco, ['print', join(dist, `${d.base}.wasm`)], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const m = d.after.exec(wat);
  if (!m) throw new Error(`kvbox: cannot derive ${d.out}: ${d.after} not found in ${d.base}`);
  const edited = join(targetDir, `${d.out}.wat`);
  writeFileSync(edited, wat.slice(0, m.index + m[0].length) + d.add + wat.slice(m.index + m[0].length));
  run(jco, ['parse', edited, '-o', join(dist, `${d.out}.wasm`)]);
}
builds.push(...derived.map((d) => ({ out: d.out })));
console.log(`kvbox: guests built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
// Keep the listing honest: nothing stale from a removed guest.
for (const f of readdirSync(dist)) {
  if (f.endsWith('.wasm') && !builds.some((b) => b.out === f.slice(0, -5))) console.warn(`kvbox: stale ${join(dist, f)} (no such guest)`);
}
