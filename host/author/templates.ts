/**
 * `kvbox new`: a small, buildable connector project from the templates in
 * `guests/templates/<lang>/` (shipped in the package), which passes
 * conformance unmodified.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { kvboxVersion, packageRoot } from './package.js';
import { CONTRACTS, type Lang, LANGS, NAME } from './project.js';

/** Where a Rust project finds the SDK (`kvbox-connector`): in its own node_modules, relative to its Cargo.toml. */
export const SDK_PATH = 'node_modules/@kvbox/kvbox/crates/connector-sdk';

/** What {@link newProject} made. */
export interface NewProject {
  dir: string;
  files: string[];
}

/**
 * Writes project `name` in language `lang` into `dir` (default `./<name>`).
 * @throws {@link InvalidArgumentError} for a bad name or language, or a directory that exists and is not empty
 */
export function newProject(name: string, lang: string, dir = name): NewProject {
  if (!NAME.test(name)) throw new InvalidArgumentError(`connector name ${JSON.stringify(name)}: use lowercase letters, digits and dashes, starting with a letter (at most 64)`);
  if (!(LANGS as readonly string[]).includes(lang)) throw new InvalidArgumentError(`--lang ${JSON.stringify(lang)}: one of ${LANGS.join(', ')}`);
  const target = resolve(dir);
  if (existsSync(target) && readdirSync(target).length > 0) throw new InvalidArgumentError(`${target} exists and is not empty`);
  const pkg = packageRoot();
  const vars: Record<string, string> = {
    name,
    crate: name.replaceAll('-', '_'),
    // Relative, so the project builds on any machine: the SDK of the kvbox its own `npm install` brings.
    sdk: SDK_PATH,
    kvbox_version: kvboxVersion(),
    contract: CONTRACTS[0],
  };
  const files: string[] = [];
  const copy = (from: string, to: string) => {
    for (const entry of readdirSync(from)) {
      const src = join(from, entry);
      // npm drops .gitignore files from packages, so templates name them _gitignore.
      const dst = join(to, entry === '_gitignore' ? '.gitignore' : entry);
      if (statSync(src).isDirectory()) {
        mkdirSync(dst, { recursive: true });
        copy(src, dst);
      } else if (/\.(o|wasm)$/.test(entry)) {
        cpSync(src, dst);
        files.push(dst);
      } else {
        writeFileSync(dst, readFileSync(src, 'utf8').replace(/\{\{(\w+)\}\}/g, (m, k: string) => vars[k] ?? m));
        files.push(dst);
      }
    }
  };
  mkdirSync(target, { recursive: true });
  copy(join(pkg, 'guests', 'templates', lang as Lang), target);
  // The frozen contract, for reading and for the JS build (componentize-js reads WIT from the project).
  cpSync(join(pkg, 'wit', CONTRACTS[0]), join(target, 'wit'), { recursive: true });
  files.push(join(target, 'wit'));
  return { dir: target, files };
}
