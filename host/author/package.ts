/** Facts about the installed kvbox package an author's project refers to. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package's root directory (next to dist/, guests/, crates/, wit/). */
export function packageRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

/** The package version. */
export function kvboxVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
