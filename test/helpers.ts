/** Shared test helpers: real directories on a real disk, and data makers. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { type Connector, FS_CONNECTOR, loadConnector, NATIVE_FS, type OpenOptions } from '../host/index.js';

/**
 * A fresh directory for one test file, removed afterwards. Under /var/tmp,
 * which is disk-backed here (tmpfs O_DIRECT would prove nothing).
 */
export function scratch(prefix: string): string {
  const dir = mkdtempSync(join(process.env.KVBOX_TEST_DIR ?? '/var/tmp', `kvbox-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let seq = 0;
/** A new, never-used directory path inside `base`. */
export function fresh(base: string, name = 'tenant'): string {
  return join(base, `${name}-${++seq}`);
}

// Data makers and the file walk are the shipped conformance suite's own.
export { bytes, filesUnder, sha256 } from '../host/conformance/check.js';

/** Asserts that `promise` rejects with an error of `Class` whose code is `code`. */
export async function rejectsWith(promise: Promise<unknown>, Class: new (...a: never[]) => Error, code: string): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof Class)) throw new Error(`expected ${Class.name}, got ${String(err)}`, { cause: err });
    if ((err as Error & { code?: string }).code !== code) throw new Error(`expected code ${code}, got ${(err as { code?: string }).code}`);
    return err;
  }
  throw new Error(`expected a ${Class.name}, but the call succeeded`);
}

/** Both connector kinds, as `[name, open]` pairs for `describe.each`: the sandboxed fs-connector (no compiled-code cache) and the native fast path. */
export const CONNECTOR_KINDS: [string, (o: OpenOptions) => Promise<Connector>][] = [
  ['sandboxed', (o) => loadConnector(FS_CONNECTOR, { ...o, cacheDir: false })],
  ['native', (o) => loadConnector(NATIVE_FS, o)],
];

/**
 * Makes an ext4 image of `size` (`48M`) and loop-mounts it on `mnt`, for
 * full-disk tests; unmounts and deletes it after the file's tests.
 * @returns why not, when mounting is impossible (not root, no loop device).
 */
export function mountSmallDisk(image: string, mnt: string, size: string): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root (mount needs it)';
  try {
    execFileSync('truncate', ['-s', size, image]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', image], { stdio: 'pipe' });
    mkdirSync(mnt);
    execFileSync('mount', ['-o', 'loop', image, mnt], { stdio: 'pipe' });
  } catch (err) {
    return `cannot make and loop-mount an ext4 image: ${(err as Error).message.split('\n')[0]}`;
  }
  afterAll(() => {
    // Connectors closed by then freed their descriptors: a plain unmount must succeed.
    execFileSync('umount', [mnt]);
    rmSync(image, { force: true });
  });
  return undefined;
}
