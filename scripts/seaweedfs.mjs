#!/usr/bin/env node
// Builds (once) and locates the SeaweedFS `weed` binary the S3 tests and
// benchmarks run as their real object store, at one pinned version.
//
//   node scripts/seaweedfs.mjs          prints the binary's path, building it if needed
//
// `go install …/weed@<version>` is refused for this module (its go.mod has
// replace directives), so the module is downloaded through the Go module
// proxy, copied to a writable folder and built there with `go build ./weed`
// (about 5 minutes on 2 cores). The binary is cached under
// ~/.cache/kvbox-build/seaweedfs-<version>/weed, keyed by version: a second
// run is instant. Needs Go ≥ 1.24 (`go` on PATH or /usr/local/go/bin/go).
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEED_MODULE = 'github.com/seaweedfs/seaweedfs';
export const WEED_VERSION = 'v0.0.0-20261109003541-7506e5f91cd6';

/** Where the built binary lives. */
export function weedPath() {
  const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kvbox-build');
  return join(cache, `seaweedfs-${WEED_VERSION}`, 'weed');
}

function goBinary() {
  if (spawnSync('go', ['version']).status === 0) return 'go';
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('kvbox: building SeaweedFS for the S3 tests needs Go ≥ 1.24 (`go` on PATH or /usr/local/go/bin/go); none found');
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) {
    throw new Error(`kvbox: \`${cmd} ${args.join(' ')}\` failed (exit ${r.status ?? r.signal}):\n${(r.stderr ?? '').slice(-4000)}`);
  }
  return r.stdout;
}

/** The `weed` binary, built from the Go module proxy on first use. @returns its path */
export function ensureWeed({ log = console.log } = {}) {
  const out = weedPath();
  if (existsSync(out)) return out;
  const go = goBinary();
  const env = { ...process.env, GOFLAGS: '-buildvcs=false', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' };
  log(`kvbox: building SeaweedFS ${WEED_VERSION} for the S3 tests (once, ~5 min on 2 cores; cached at ${out})`);
  const started = Date.now();
  const info = JSON.parse(run(go, ['mod', 'download', '-json', `${WEED_MODULE}@${WEED_VERSION}`], { env }));
  if (!info.Dir) throw new Error(`kvbox: go mod download gave no source folder for ${WEED_MODULE}@${WEED_VERSION}: ${info.Error ?? ''}`);
  const work = mkdtempSync(join(tmpdir(), 'kvbox-weed-src-'));
  try {
    const src = join(work, 'seaweedfs');
    cpSync(info.Dir, src, { recursive: true });
    // The module cache is read-only; go build may need to write (go.sum).
    run('chmod', ['-R', 'u+w', src]);
    mkdirSync(join(out, '..'), { recursive: true });
    const partial = `${out}.partial-${process.pid}`;
    run(go, ['build', '-o', partial, './weed'], { cwd: src, env, stdio: ['ignore', 'inherit', 'pipe'] });
    chmodSync(partial, 0o755);
    renameSync(partial, out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  log(`kvbox: built SeaweedFS in ${Math.round((Date.now() - started) / 1000)} s`);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(ensureWeed({ log: (m) => console.error(m) }));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
