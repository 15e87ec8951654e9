/**
 * What a connector component says about itself, read without compiling it:
 * metadata, the embedded manifest, the contract version(s) it targets, and
 * each import judged against kvbox's sandbox.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { binding } from '../binding.js';
import { LoadError, native } from '../errors.js';
import { CONTRACT_VERSIONS } from '../generated/contract.js';

/** How the sandbox treats an import. */
export type ImportVerdict = 'contract' | 'provided' | 'denied' | 'missing';

/** One import and its verdict. */
export interface ImportReport {
  name: string;
  verdict: ImportVerdict;
  /** Why, for `denied` and `missing`. */
  note?: string;
}

/** The report of {@link inspectComponent}. */
export interface ComponentReport {
  file: string;
  bytes: number;
  sha256: string;
  component: boolean;
  name?: string;
  version?: string;
  description?: string;
  licenses?: string;
  authors?: string;
  /** Contract versions named by its `kvbox:connector` imports and exports. */
  contractVersions: string[];
  exports: string[];
  imports: ImportReport[];
  producers: Array<{ field: string; name: string; version: string }>;
  /** The embedded `kvbox:manifest`, parsed. */
  manifest?: Record<string, unknown>;
}

// WASI interfaces the sandbox links, and how (native/core/src/sandbox/state.rs, `Sandbox::new`).
const WASI: Array<[RegExp, ImportVerdict, string?]> = [
  [/^wasi:sockets\//, 'denied', 'linked, but every address and name lookup is refused: no network'],
  [/^wasi:filesystem\//, 'denied', 'linked with no preopened directory: no files (use kvbox:connector/objects)'],
  [/^wasi:cli\/environment/, 'denied', 'empty: no environment variables or arguments'],
  [/^wasi:cli\/stdin/, 'denied', 'empty'],
  [/^wasi:(cli|clocks|io|random)\//, 'provided'],
];

/** How kvbox's sandbox treats import `name` (exported for tests). */
export function importVerdict(name: string): ImportReport {
  if (name.startsWith('kvbox:connector/')) {
    const version = /@(.+)$/.exec(name)?.[1];
    if (version !== undefined && !(CONTRACT_VERSIONS as readonly string[]).includes(version)) {
      return { name, verdict: 'missing', note: `contract ${version} is not one this kvbox loads (${CONTRACT_VERSIONS.join(', ')}): loading this component fails` };
    }
    return { name, verdict: 'contract' };
  }
  for (const [re, v, note] of WASI) if (re.test(name)) return { name, verdict: v, ...(note ? { note } : {}) };
  return { name, verdict: 'missing', note: 'not provided by kvbox: loading this component fails' + (name.startsWith('wasi:http') ? ' (componentize-js: disable the http and fetch-event features)' : '') };
}

/** The contract versions named by a component's `kvbox:connector/…@version` imports and exports, sorted. */
export function contractVersionsOf(names: readonly string[]): string[] {
  const versions = new Set<string>();
  for (const n of names) {
    const m = /^kvbox:connector\/[\w-]+@(.+)$/.exec(n);
    if (m) versions.add(m[1]!);
  }
  return [...versions].sort();
}

/**
 * Inspects the component at `file`.
 * @throws {@link LoadError} when the file cannot be read or is not WebAssembly
 */
export async function inspectComponent(file: string): Promise<ComponentReport> {
  let wasm: Buffer;
  try {
    wasm = await readFile(file);
  } catch (err) {
    throw new LoadError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const info = await native(`inspect ${file}`, () => binding.inspectComponent(wasm)).catch((err: Error) => {
    throw new LoadError(`${file}: ${err.message}`, { cause: err });
  });
  let manifest: Record<string, unknown> | undefined;
  if (info.manifest !== undefined && info.manifest !== null) {
    try {
      manifest = JSON.parse(info.manifest) as Record<string, unknown>;
    } catch {
      manifest = { unreadable: info.manifest.slice(0, 200) };
    }
  }
  const opt = (v: string | null | undefined) => v ?? undefined;
  return {
    file,
    bytes: wasm.length,
    sha256: createHash('sha256').update(wasm).digest('hex'),
    component: info.component,
    name: opt(info.name),
    version: opt(info.version),
    description: opt(info.description),
    licenses: opt(info.licenses),
    authors: opt(info.authors),
    contractVersions: contractVersionsOf([...info.imports, ...info.exports]),
    exports: info.exports,
    imports: info.imports.map(importVerdict),
    producers: info.producers,
    manifest,
  };
}
