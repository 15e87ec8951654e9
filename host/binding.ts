/**
 * Loads the native addon: the local build (`native/kvbox.<platform>.node`,
 * from `npm run build` in a checkout) when there is one, else the platform
 * package npm installed as an optional dependency
 * (`@kvbox/kvbox-<platform>`). When neither loads, importing kvbox fails
 * with {@link UnsupportedPlatformError}, which names the platform and what
 * to do.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setImmediate } from 'node:timers';
import type * as Binding from '../native/binding.cjs';
import { UnsupportedPlatformError } from './errors.js';

const require = createRequire(import.meta.url);

/** The npm name of this package; platform packages are `<name>-<platform>` (scripts/pack.mjs). */
export const PACKAGE_NAME = '@kvbox/kvbox';
/** Platforms with a published binary package. */
export const PUBLISHED_PLATFORMS: readonly string[] = ['linux-x64-gnu'];
/** The oldest glibc the published linux-x64-gnu binary loads on (measured by scripts/pack.mjs). */
export const GLIBC_FLOOR = '2.17';

/** This process's platform in napi-rs naming: `linux-x64-gnu`, `linux-arm64-musl`, `darwin-arm64`, … */
export function platformName(): string {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform !== 'linux') return process.platform === 'win32' ? `${base}-msvc` : base;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return `${base}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
}

function load(): typeof Binding {
  const platform = platformName();
  const local = new URL(`../native/kvbox.${platform}.node`, import.meta.url);
  if (existsSync(local)) return require(local.pathname) as typeof Binding;
  const pkg = `${PACKAGE_NAME}-${platform}`;
  if (!PUBLISHED_PLATFORMS.includes(platform)) {
    throw new UnsupportedPlatformError(
      `kvbox has no prebuilt binary for ${platform} (published: ${PUBLISHED_PLATFORMS.join(', ')}); ` +
        'build it from a git checkout with Rust installed (`npm install` there builds the addon), or run kvbox on linux-x64 with glibc ≥ ' +
        GLIBC_FLOOR,
    );
  }
  try {
    return require(pkg) as typeof Binding;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND' && e.message.includes(pkg)) {
      throw new UnsupportedPlatformError(
        `the native binary for ${platform} is missing: the optional dependency ${pkg} was not installed ` +
          `(npm skips optional dependencies with --omit=optional, or when node_modules came from another platform); reinstall with \`npm install ${PACKAGE_NAME}\``,
        { cause: err },
      );
    }
    throw new UnsupportedPlatformError(`cannot load ${pkg} (it needs Linux with glibc ≥ ${GLIBC_FLOOR}): ${e.message}`, { cause: err });
  }
}

/** The addon's exports; private to the library (the facade owns the API). */
export const binding: typeof Binding = load();
// Node's own `setImmediate`, kept now: a test's fake timers may replace the global one later, and
// the addon settles some calls after a turn of the event loop with it (native/node/src/settle.rs).
binding.useSetImmediate(setImmediate);

export type { NativeBatch, NativeCancel, NativeComponent, NativeConnector, NativeLogRecord } from '../native/binding.cjs';
