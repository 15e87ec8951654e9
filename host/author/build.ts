/**
 * `kvbox build`: builds the connector project in a directory into
 * `dist/<name>.wasm` — compile for whichever toolchain is present, wrap a
 * core module into a component, embed the manifest — and says what it made.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { binding } from '../binding.js';
import { BuildError, native } from '../errors.js';
import { kvboxVersion } from './package.js';
import { compileConfigSchema } from './config-schema.js';
import { contractVersionsOf } from './inspect.js';
import { MANIFEST_FILE, type ProjectManifest, readProject } from './project.js';
import { SDK_PATH } from './templates.js';
import { builtWasm, cargoBuild, detectC, detectRust, findJco, findPackage, installHint, run, toComponent } from './toolchain.js';

/** What a build made. */
export interface BuildResult {
  /** Absolute path of the component. */
  path: string;
  bytes: number;
  /** sha256 (hex) of the file: what a deployment pins. */
  sha256: string;
  /** How it was built (`rust: debian-build-std`, `js: componentize-js 0.23.0`, `c: clang-19`). */
  toolchain: string;
  ms: number;
}

/** Options of {@link buildProject}. */
export interface BuildOptions {
  /** Tool output: 'inherit' shows it, 'pipe' keeps it for the error. */
  stdio?: 'inherit' | 'pipe';
}

/**
 * One cargo target directory per user (`$KVBOX_CARGO_TARGET_DIR`, else
 * `$CARGO_TARGET_DIR`, else `~/.cache/kvbox/cargo-target`): on the Debian
 * path the standard library is rebuilt for every new target directory and
 * profile (minutes), so every project shares one, with the template's profile.
 */
export function cargoTargetDir(): string {
  return process.env.KVBOX_CARGO_TARGET_DIR || process.env.CARGO_TARGET_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kvbox', 'cargo-target');
}

/**
 * Builds the project in `dir`.
 * @throws {@link BuildError} (no or bad kvbox.json, a missing toolchain with the commands that install it, a failed compile with its last lines)
 */
export async function buildProject(dir: string, options: BuildOptions = {}): Promise<BuildResult> {
  const started = performance.now();
  const root = resolve(dir);
  const project = readProject(root);
  if (project.configSchema !== undefined) {
    try {
      compileConfigSchema(project.configSchema, true);
    } catch (err) {
      throw new BuildError(`${join(root, MANIFEST_FILE)}: configSchema is not a valid JSON Schema: ${(err as Error).message}`, { cause: err });
    }
  }
  const work = join(root, 'target', 'kvbox');
  mkdirSync(work, { recursive: true });
  const component = join(work, `${project.name}.component.wasm`);
  const toolchain = await compile(project, root, work, component, options.stdio ?? 'inherit');
  const raw = readFileSync(component);
  const info = await native('inspect the component', () => binding.inspectComponent(raw));
  const targets = contractVersionsOf([...info.imports, ...info.exports]);
  if (targets.join() !== project.contract) {
    throw new BuildError(
      `${join(root, MANIFEST_FILE)} says contract ${project.contract}, but the component built from ${root} targets ${targets.join(' and ') || 'no kvbox:connector interface'}: build it against wit/${project.contract} (the template's bindings, the Rust SDK's version) or correct "contract"`,
    );
  }
  const wasm = await native('embed manifest', () =>
    binding.embedManifest(raw, {
      name: project.name,
      version: project.version,
      description: project.description,
      license: project.license,
      authors: project.authors ?? [],
      json: JSON.stringify(project),
      toolVersion: kvboxVersion(),
    }),
  ).catch((err: Error) => {
    throw new BuildError(`cannot embed the manifest of ${join(root, 'kvbox.json')}: ${err.message}`, { cause: err });
  });
  mkdirSync(join(root, 'dist'), { recursive: true });
  const path = join(root, 'dist', `${project.name}.wasm`);
  writeFileSync(path, wasm);
  rmSync(component, { force: true });
  return { path, bytes: wasm.length, sha256: createHash('sha256').update(wasm).digest('hex'), toolchain, ms: performance.now() - started };
}

async function compile(p: ProjectManifest, root: string, work: string, out: string, stdio: 'inherit' | 'pipe'): Promise<string> {
  switch (p.lang) {
    case 'rust': {
      const tc = detectRust();
      // A project made by `kvbox new` takes the SDK from its own node_modules: missing until npm install.
      if (readFileSync(join(root, 'Cargo.toml'), 'utf8').includes(SDK_PATH) && !existsSync(join(root, SDK_PATH, 'Cargo.toml'))) {
        // Installed higher up (an npm workspace hoists packages to its root): say where, for Cargo.toml.
        const hoisted = findPackage('@kvbox/kvbox', root, false);
        const fix = hoisted && existsSync(join(hoisted, 'crates', 'connector-sdk', 'Cargo.toml'))
          ? `kvbox is installed at ${hoisted} (hoisted): set kvbox-connector's path in Cargo.toml to ${relative(root, join(hoisted, 'crates', 'connector-sdk'))}`
          : installHint(root, [`@kvbox/kvbox@^${kvboxVersion()}`]);
        throw new BuildError(`the Rust SDK is not in ${join(root, SDK_PATH)}: ${fix}`);
      }
      // Needed after cargo unless rustup's wasm32-wasip2 makes the component itself: checked first.
      const jco = tc.kind === 'rustup-wasip2' ? '' : findJco(root);
      const targetDir = cargoTargetDir();
      cargoBuild(tc, { cwd: root, targetDir, stdio });
      const built = builtWasm(tc, targetDir, crateName(root));
      if (!existsSync(built)) throw new BuildError(`cargo succeeded but ${built} is missing: is the crate type "cdylib"?`);
      toComponent(tc, built, out, jco);
      return `rust: ${tc.kind}`;
    }
    case 'c': {
      const tc = detectC();
      const jco = findJco(root);
      const sources = [...listC(join(root, 'src')), ...listC(join(root, 'bindings'))];
      const objects = existsSync(join(root, 'bindings')) ? readdirSync(join(root, 'bindings')).filter((f) => f.endsWith('.o')).map((f) => join(root, 'bindings', f)) : [];
      const core = join(work, 'core.wasm');
      const args = ['--target=wasm32-wasi', `--sysroot=${tc.sysroot}`, '-Os', '-mexec-model=reactor', `-fuse-ld=${tc.linker}`, '-Wall', '-Wl,--strip-all', '-o', core, ...sources, ...objects];
      run(tc.clang, args, { cwd: root, stdio }, 'clang');
      toComponent('core', core, out, jco);
      return `c: ${tc.clang}`;
    }
    case 'js': {
      const { componentize, version, grant } = await loadComponentize(root);
      const cwd = process.cwd();
      // componentize-js reads the WIT through WASI (its splicer is a component
      // on jco's preview2-shim, which grants no directory by default since
      // 0.26) and only beneath the current directory.
      await grant(root);
      process.chdir(root);
      try {
        const { component } = await componentize({
          sourcePath: 'src/connector.js',
          witPath: 'wit',
          worldName: 'connector',
          // kvbox links no wasi:http: without these the component imports it and the load fails.
          disableFeatures: ['http', 'fetch-event'],
        });
        writeFileSync(out, component);
      } catch (err) {
        throw new BuildError(`componentize-js failed on ${join(root, 'src/connector.js')}: ${(err as Error).message}`, { cause: err });
      } finally {
        process.chdir(cwd);
      }
      return `js: componentize-js ${version}`;
    }
  }
}

function listC(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.c') && statSync(join(dir, f)).isFile()).map((f) => join(dir, f)) : [];
}

function crateName(root: string): string {
  const toml = readFileSync(join(root, 'Cargo.toml'), 'utf8');
  const name = toml.match(/^\[package\][^[]*?^name\s*=\s*"([^"]+)"/ms)?.[1];
  if (!name) throw new BuildError(`no [package] name in ${join(root, 'Cargo.toml')}`);
  return name;
}

type Componentize = (o: { sourcePath: string; witPath: string; worldName: string; disableFeatures: string[] }) => Promise<{ component: Uint8Array }>;

interface ComponentizeJs {
  componentize: Componentize;
  version: string;
  /** Lets componentize-js's WASI splicer read `dir` (and nothing else). */
  grant(dir: string): Promise<void>;
}

/** componentize-js: the project's own, else the one installed with kvbox. */
async function loadComponentize(root: string): Promise<ComponentizeJs> {
  const dir = findPackage('@bytecodealliance/componentize-js', root);
  if (dir) {
    const pkgPath = join(dir, 'package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string; exports?: { import?: string } };
    const mod = (await import(pathToFileURL(join(dir, pkg.exports?.import ?? 'src/componentize.js')).href)) as { componentize: Componentize };
    // The shim instance componentize-js itself imports.
    const shim = createRequire(pkgPath).resolve('@bytecodealliance/preview2-shim/filesystem');
    const fs = (await import(pathToFileURL(shim).href)) as { _setPreopens?: (p: Record<string, string>) => void };
    return {
      componentize: mod.componentize,
      version: pkg.version,
      grant: async (d) => fs._setPreopens?.({ [d]: d }),
    };
  }
  throw new BuildError(`a JavaScript connector needs componentize-js: ${installHint(root, ['@bytecodealliance/componentize-js@0.23.0', '@bytecodealliance/preview2-shim@0.26.1'])}`);
}
