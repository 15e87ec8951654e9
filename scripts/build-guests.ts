// Builds every connector under guests/ into a WebAssembly component in guests/dist/
// (run with tsx: `npm run build:guests`).
//
// The toolchain is detected by host/author/toolchain.ts, which `kvbox build` uses too:
// rustup's wasm32-wasip2 target, else Debian's rustc-web with -Zbuild-std for
// wasm32-wasip1 plus jco's WASI preview1 adapter. When neither is complete it
// names exactly what is missing, and this script exits 1.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtWasm, cargoBuild, detectRust, run, type RustToolchain, toComponent } from '../host/author/toolchain.js';

interface Build {
  member?: string;
  feature?: string;
  out: string;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const guests = join(root, 'guests');
const dist = join(guests, 'dist');
const members = readFileSync(join(guests, 'Cargo.toml'), 'utf8')
  .match(/members\s*=\s*\[([^\]]*)\]/)![1]!
  .match(/"([^"]+)"/g)!
  .map((m) => m.slice(1, -1))
  .filter((m) => existsSync(join(guests, m, 'Cargo.toml')))
  .filter((m) => /crate-type\s*=\s*\["cdylib"\]/.test(readFileSync(join(guests, m, 'Cargo.toml'), 'utf8')));
// A member listing `variants` under [package.metadata.kvbox] is built once per
// variant, with that Cargo feature, into `<member>-<variant>.wasm` (the hostile
// fixtures: one attack per component); the variant `default` is the plain
// build, into `<member>.wasm`.
const variantsOf = (m: string): string[] => {
  const list = readFileSync(join(guests, m, 'Cargo.toml'), 'utf8').match(/^variants\s*=\s*\[([^\]]*)\]/m);
  return list ? list[1]!.match(/"([^"]+)"/g)!.map((v) => v.slice(1, -1)) : [];
};
const builds: Build[] = members.flatMap((m): Build[] => {
  const variants = variantsOf(m);
  return variants.length === 0
    ? [{ member: m, out: m }]
    : variants.map((v) => (v === 'default' ? { member: m, out: m } : { member: m, feature: v, out: `${m}-${v}` }));
});

let toolchain: RustToolchain;
try {
  toolchain = detectRust();
} catch (err) {
  console.error(`kvbox: cannot build the WebAssembly guests: ${(err as Error).message}`);
  process.exit(1);
}
console.log(`kvbox: building guests [${builds.map((b) => b.out).join(', ')}] with ${toolchain.kind}${toolchain.kind === 'debian-build-std' ? ` (${toolchain.rustc})` : ''}`);
mkdirSync(dist, { recursive: true });
const started = Date.now();

const targetDir = process.env.CARGO_TARGET_DIR || join(guests, 'target');
const jco = join(root, 'node_modules', '.bin', 'jco');

function cargo(packages: string[], features?: string): void {
  console.log(`$ cargo build -p ${packages.join(' -p ')}${features ? ` --features ${features}` : ''}`);
  cargoBuild(toolchain, { cwd: guests, packages, features, targetDir });
}

function emit({ member, out }: Build): void {
  const file = join(dist, `${out}.wasm`);
  toComponent(toolchain, builtWasm(toolchain, targetDir, member!), file, jco);
  console.log(`kvbox: ${file}`);
}

const plain = builds.filter((b) => !b.feature);
cargo(plain.map((b) => b.member!));
plain.forEach(emit);
for (const b of builds.filter((b) => b.feature)) {
  cargo([b.member!], b.feature);
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
  console.log(`$ jco parse ${edited}`);
  run(jco, ['parse', edited, '-o', join(dist, `${d.out}.wasm`)], { stdio: 'inherit' }, 'jco parse');
}
builds.push(...derived.map((d) => ({ out: d.out })));
console.log(`kvbox: guests built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
// Keep the listing honest: nothing stale from a removed guest.
for (const f of readdirSync(dist)) {
  if (f.endsWith('.wasm') && !builds.some((b) => b.out === f.slice(0, -5))) console.warn(`kvbox: stale ${join(dist, f)} (no such guest)`);
}
