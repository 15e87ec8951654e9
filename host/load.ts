/** Loading connectors: from a path or bytes, through the compiled-code cache. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binding, type NativeComponent } from './binding.js';
import { Connector } from './connector.js';
import { InvalidArgumentError, LoadError, native } from './errors.js';
// For {@link} in docs only.
import type { UnavailableError } from './errors.js';
import { checkKnownFields, checkOpenOptions, describe, type OpenOptions } from './options.js';

/** Path of the bundled sandboxed filesystem connector (`guests/fs-connector`). */
export const FS_CONNECTOR: string = fileURLToPath(new URL('../guests/dist/fs-connector.wasm', import.meta.url));

/**
 * The built-in native filesystem connector: the trusted fast path. Same
 * configuration and on-disk layout as {@link FS_CONNECTOR}, no sandbox.
 * Load it like any connector: `loadConnector(NATIVE_FS, { root })`.
 */
export const NATIVE_FS = 'builtin:fs';

/** Where compiled components are cached: `$KVBOX_CACHE_DIR`, else `$XDG_CACHE_HOME/kvbox`, else `~/.cache/kvbox`. */
export function defaultCacheDir(): string {
  return process.env.KVBOX_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kvbox');
}

/** Where to find a connector: a path to a `.wasm` component, a `file:` URL, its bytes, or {@link NATIVE_FS}. */
export type ConnectorSource = string | URL | Uint8Array;

/** Options for compiling a component. */
export interface CompileOptions {
  /** On-disk cache of compiled code [{@link defaultCacheDir}]; `false` for none. */
  cacheDir?: string | false;
  /**
   * The artifact's expected sha256 (64 hex digits) — of the `.wasm` bytes, as
   * `kvbox build` and `kvbox inspect` print it: anything else is refused before
   * it is compiled. Not the compiled-cache key ({@link ConnectorComponent.digest}).
   */
  sha256?: string;
}

/** The fields of {@link CompileOptions} (the type keeps the list complete). */
const COMPILE_FIELDS = Object.keys({ cacheDir: true, sha256: true } satisfies Record<keyof CompileOptions, true>);

/**
 * A compiled connector component; open it for any number of tenants.
 */
export class ConnectorComponent {
  readonly #native: NativeComponent;

  /** @internal Use {@link compileConnector}. */
  constructor(nativeComponent: NativeComponent) {
    this.#native = nativeComponent;
  }

  /** sha256 (hex) of the component and the engine configuration: the compiled-code cache key. */
  get digest(): string {
    return this.#native.digest;
  }

  /** sha256 (hex) of the `.wasm` bytes alone (of the `.so` for a trusted native library) — what a deployment pins; `undefined` for {@link NATIVE_FS}. */
  get sha256(): string | undefined {
    return this.#native.sha256 ?? undefined;
  }

  /** The contract version the component targets (`0.1.0`); `undefined` for {@link NATIVE_FS}. */
  get contractVersion(): string | undefined {
    return this.#native.contractVersion ?? undefined;
  }

  /** Where this load found the code: `memory`, `disk` or `compiled`; `builtin` for {@link NATIVE_FS}; `native` for a trusted `.so` ({@link loadNativeLibrary}). */
  get origin(): 'memory' | 'disk' | 'compiled' | 'builtin' | 'native' {
    return this.#native.origin as 'memory' | 'disk' | 'compiled' | 'builtin' | 'native';
  }

  /**
   * Opens the connector for one tenant.
   * @throws {@link InvalidArgumentError}, {@link InvalidConfigError}, {@link BusyError} (root already open), {@link TrapError}, {@link StorageIoError},
   *   {@link UnavailableError} (an S3 store that cannot be reached)
   */
  async open(options: OpenOptions): Promise<Connector> {
    const o = checkOpenOptions(options);
    const nativeConnector = await native(`open ${o.where}`, () =>
      this.#native.open({
        root: o.root,
        storage: o.storageJson,
        config: o.configJson,
        durable: o.durable,
        directIo: o.directIo,
        checksums: o.checksums,
        limits: o.limits,
        quota: o.quota,
      }),
    );
    return new Connector(nativeConnector);
  }
}

/**
 * Compiles a connector component (or finds it compiled, in memory or on disk).
 * @example
 * ```ts
 * // Pin the artifact a deployment vetted (kvbox inspect prints its sha256).
 * const component = await compileConnector('/opt/kv/my-connector.wasm', { sha256: '3f1c…' });
 * ```
 * @throws {@link LoadError} when the bytes are not a component, or target a contract version this
 *   host does not support (the message names both), or export the contract's functions with other types,
 *   or do not hash to `options.sha256` (the message names both hashes).
 * @throws {@link InvalidArgumentError} when `options.sha256` is not 64 hex digits.
 */
export async function compileConnector(source: ConnectorSource, options: CompileOptions = {}): Promise<ConnectorComponent> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`compile options must be an object, got ${describe(options)}`);
  checkKnownFields(options, COMPILE_FIELDS);
  const pin = options.sha256;
  if (pin !== undefined && (typeof pin !== 'string' || !/^[0-9a-fA-F]{64}$/.test(pin))) {
    throw new InvalidArgumentError(`sha256 must be 64 hex digits, got ${describe(pin)}`);
  }
  if (source === NATIVE_FS) {
    if (pin !== undefined) throw new InvalidArgumentError('sha256 pins a .wasm artifact; the built-in connector has none');
    return new ConnectorComponent(binding.nativeFsComponent());
  }
  const wasm = await readSource(source);
  if (pin !== undefined) {
    const actual = createHash('sha256').update(wasm).digest('hex');
    if (actual !== pin.toLowerCase()) {
      const what = source instanceof Uint8Array ? 'the connector bytes' : String(source);
      throw new LoadError(`${what} has sha256 ${actual}, not the pinned ${pin.toLowerCase()}: refusing to load it`);
    }
  }
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  if (cacheDir !== false && typeof cacheDir !== 'string') {
    throw new InvalidArgumentError(`cacheDir must be a path or false, got ${describe(cacheDir)}`);
  }
  const nativeComponent = await native('load', () => binding.loadComponent(wasm, cacheDir || undefined));
  return new ConnectorComponent(nativeComponent);
}

/**
 * Loads a connector and opens it for one tenant.
 * @example
 * ```ts
 * const store = await loadConnector(FS_CONNECTOR, { root: './data/tenant-a', config: { namespace: 'llama' } });
 * ```
 * @throws {@link LoadError}, {@link InvalidArgumentError}, {@link InvalidConfigError}
 */
export async function loadConnector(source: ConnectorSource, options: OpenOptions & CompileOptions): Promise<Connector> {
  checkOpenOptions(options, COMPILE_FIELDS);
  const { cacheDir, sha256, ...open } = options;
  const component = await compileConnector(source, { cacheDir, sha256 });
  return component.open(open);
}

/** How to vouch for a trusted native connector library. */
export interface NativeLibraryOptions {
  /** The library file's expected sha256, 64 hex digits; the load is refused unless it matches. */
  sha256: string;
}

/** The fields of {@link NativeLibraryOptions}. */
const NATIVE_LIBRARY_FIELDS = Object.keys({ sha256: true } satisfies Record<keyof NativeLibraryOptions, true>);

/**
 * Loads a **trusted native connector**: a shared library exporting the
 * connector C ABI (`connector_create` … `connector_list_keys`, as LMCache's
 * native connectors do). **It runs as native code inside this process, with
 * no sandbox** — load only libraries you built or audited.
 *
 * Refused ({@link LoadError}) unless the file's sha256 is `sha256`, the file is
 * a regular file (not a symbolic link) and neither it nor its directory is
 * owned by anyone but this user or root, or writable by group or others. The
 * file is opened once; the bytes hashed are the bytes loaded.
 *
 * kvbox guards what it can around the library: `get` is sized with
 * `file_size` first, objects carry a 24-byte seal checked on every read
 * (truncated or misdirected bytes fail with {@link CorruptError}), listings
 * are parsed strictly ({@link ConnectorError}), quotas are kept by kvbox.
 * See docs/c-abi.md.
 * @example
 * ```ts
 * const lib = await loadNativeLibrary('/opt/kv/libmyconn.so', { sha256: '9f2c…' });
 * await using store = await lib.open({ root: '/var/lib/kv/tenant-a', config: { shards: 4 } });
 * ```
 * @throws {@link LoadError}, {@link InvalidArgumentError}
 */
export async function loadNativeLibrary(path: string, options: NativeLibraryOptions): Promise<ConnectorComponent> {
  if (typeof path !== 'string' || path === '') throw new InvalidArgumentError(`path must be a non-empty string, got ${describe(path)}`);
  if (typeof options?.sha256 !== 'string') throw new InvalidArgumentError(`options.sha256 must be a hex string, got ${describe(options?.sha256)}`);
  checkKnownFields(options, NATIVE_LIBRARY_FIELDS);
  const nativeComponent = await native(`load native ${path}`, () => binding.loadNativeLibrary(path, options.sha256));
  return new ConnectorComponent(nativeComponent);
}

/**
 * Loads a trusted native connector library ({@link loadNativeLibrary}) and
 * opens it for one tenant. The connector's `base_path` is the tenant root.
 * @throws {@link LoadError}, {@link InvalidArgumentError}, {@link InvalidConfigError}, {@link BusyError}
 */
export async function loadNativeConnector(path: string, options: OpenOptions & NativeLibraryOptions): Promise<Connector> {
  checkOpenOptions(options, NATIVE_LIBRARY_FIELDS);
  const { sha256, ...open } = options;
  const library = await loadNativeLibrary(path, { sha256 });
  return library.open(open);
}

async function readSource(source: ConnectorSource): Promise<Buffer> {
  if (source instanceof Uint8Array) {
    return Buffer.isBuffer(source) ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  }
  if (typeof source !== 'string' && !(source instanceof URL)) {
    throw new InvalidArgumentError(`connector source must be a path, URL or bytes, got ${describe(source)}`);
  }
  try {
    return await readFile(source);
  } catch (err) {
    throw new LoadError(`cannot read connector ${String(source)}: ${(err as Error).message}`, { cause: err });
  }
}
