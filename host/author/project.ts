/**
 * A connector project: the directory `kvbox new` makes and `kvbox build`
 * builds, described by its `kvbox.json` — the manifest embedded in the
 * component, and the language that says how to build it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { BuildError } from '../errors.js';

/** Languages with a template and a build. */
export const LANGS = ['rust', 'js', 'c'] as const;
export type Lang = (typeof LANGS)[number];

/** The contract versions `kvbox new` can target (the newest first). */
export const CONTRACTS = ['0.2.0'] as const;

/** A connector name: lowercase letters, digits and dashes, starting with a letter (it names files and crates). */
export const NAME = /^[a-z][a-z0-9-]{0,63}$/;

const schema = z
  .object({
    name: z.string().regex(NAME, 'lowercase letters, digits and dashes, starting with a letter, at most 64'),
    version: z.string().regex(/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/, 'a semantic version such as 0.1.0'),
    description: z.string().max(1000).optional(),
    license: z.string().max(200).optional(),
    authors: z.array(z.string().max(200)).max(50).optional(),
    lang: z.enum(LANGS),
    contract: z.enum(CONTRACTS),
    /** A JSON Schema of the connector's configuration, embedded as is. */
    configSchema: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** `kvbox.json`. */
export type ProjectManifest = z.infer<typeof schema>;

/** The file name. */
export const MANIFEST_FILE = 'kvbox.json';

/**
 * Reads and checks `dir/kvbox.json`.
 * @throws {@link BuildError} naming the file and every offending field.
 */
export function readProject(dir: string): ProjectManifest {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BuildError(`no ${MANIFEST_FILE} in ${dir}: run kvbox build in a project made by kvbox new (or write one: see docs/writing-a-connector.md)`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BuildError(`${file} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new BuildError(`${file}: ${issues}`);
  }
  return parsed.data;
}
