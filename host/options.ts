/**
 * Options for opening connectors and their validation. Limits and quotas —
 * names, defaults, ranges — are defined once, in the Rust core, and generated
 * into `generated/contract.ts`; this file checks their shape (known names,
 * numbers) and the core checks their ranges.
 */
import { InvalidArgumentError } from './errors.js';
import { type Limits, LIMITS_SPECS, type Quota, QUOTA_SPECS } from './generated/contract.js';
// For {@link} in docs only.
import type { CorruptError, QuotaExceededError } from './errors.js';

export type { Limits, Quota } from './generated/contract.js';

/** Default limits, as the Rust core applies them (absent: unlimited). */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze(defaults(LIMITS_SPECS));

function defaults(specs: Record<string, { default: number | undefined }>): Record<string, number> {
  return Object.fromEntries(Object.entries(specs).flatMap(([name, s]) => (s.default === undefined ? [] : [[name, s.default]])));
}

/** Static S3 access keys. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** For temporary credentials. */
  sessionToken?: string;
}

/**
 * A tenant's objects as a prefix in an S3-compatible bucket, which any number of kvbox processes
 * may serve at once (see docs/scaling.md for the consistency model and what differs from a directory).
 */
export interface S3StorageOptions {
  kind: 's3';
  /** `http://host:port` or `https://host:port` of the S3 API (path-style requests). */
  endpoint: string;
  /** The bucket; it must exist (kvbox never creates one). */
  bucket: string;
  /** The tenant's prefix in the bucket, no leading or trailing `/` [`""`: the whole bucket]. */
  prefix?: string;
  /** Signing region [`us-east-1`]. */
  region?: string;
  /** Access keys; absent: anonymous requests. */
  credentials?: S3Credentials;
  /** Longest one request may take, in ms, retries excluded [30000]. Remote I/O is bounded by this, not by `limits.callTimeoutMs`. */
  requestTimeoutMs?: number;
  /** Retries of a request that failed with a server error or a broken connection [2]. */
  retries?: number;
  /** How often this node re-lists the prefix to learn what other nodes stored, in ms; 0: only at open [10000]. */
  usageRefreshMs?: number;
}

/** Where a tenant's objects live: its local directory (`root`, the default) or an S3 prefix. */
export type StorageOptions = { kind: 'fs' } | S3StorageOptions;

/** How to open a connector for one tenant. */
export interface OpenOptions {
  /** The tenant's directory; created if missing. The connector cannot reach outside it. Not used (may be omitted) with S3 {@link OpenOptions.storage}. */
  root?: string;
  /** Where the objects live [`{ kind: 'fs' }`: in `root`]. */
  storage?: StorageOptions;
  /** The connector's configuration: an object (serialised as JSON) or JSON text [`{}`]. */
  config?: Record<string, unknown> | string;
  /** Limits; see {@link Limits}. */
  limits?: Limits;
  /**
   * Sync file and directory on every put [true]. `false` suits pure caches: puts go through the page cache
   * with no sync (as LMCache's own filesystem connector writes), each guarded by a CRC-32C, so a crash may
   * lose recent objects but never returns a torn one — a torn object is a miss and is dropped (after a
   * reboot, `exists` and `size` check such objects first too, where the kernel names its boots).
   */
  durable?: boolean;
  /** Use O_DIRECT where the filesystem supports it [true]; falls back to buffered I/O where it does not. */
  directIo?: boolean;
  /** Store a CRC-32C with each object and verify it on read [false]; a mismatch is a {@link CorruptError}. */
  checksums?: boolean;
  /** Per-tenant quotas; see {@link Quota}. */
  quota?: Quota;
}

/** Checks that `value` is undefined or an object of known numeric fields; drops undefined ones. */
function checkSettings(what: string, value: unknown, specs: Record<string, unknown>): Record<string, number> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${what} must be an object, got ${describe(value)}`);
  }
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(value)) {
    if (!Object.hasOwn(specs, name)) throw new InvalidArgumentError(`${what}.${name} is not known (known: ${Object.keys(specs).join(', ')})`);
    if (v === undefined) continue;
    if (typeof v !== 'number') throw new InvalidArgumentError(`${what}.${name} must be a number, got ${describe(v)}`);
    out[name] = v;
  }
  return out;
}

/** Open options after {@link checkOpenOptions}: config as JSON text, limits and quotas by name. */
export interface CheckedOpenOptions extends Omit<OpenOptions, 'limits' | 'quota' | 'config' | 'root' | 'storage'> {
  /** The tenant directory (`''` on S3). */
  root: string;
  /** The storage description as JSON text (fields checked by the core), or undefined for the directory. */
  storageJson: string | undefined;
  /** What the tenant's objects are, for messages: the root or `s3 endpoint/bucket/prefix`. */
  where: string;
  configJson: string;
  limits: Record<string, number>;
  quota: Record<string, number>;
}

/**
 * Every field of {@link OpenOptions} (the type makes a new field fail to compile until it is listed here):
 * any other is refused, so a misspelt `durabel: false` is not silently a durable open.
 */
const OPEN_FIELDS = Object.keys({ root: true, storage: true, config: true, limits: true, durable: true, directIo: true, checksums: true, quota: true } satisfies Record<keyof OpenOptions, true>);

/**
 * Checks open options and renders the config as JSON text; `alsoKnown` names the fields of the calling
 * function's other options (`loadConnector` takes the compile options too). @throws {@link InvalidArgumentError}
 */
export function checkOpenOptions(options: unknown, alsoKnown: readonly string[] = []): CheckedOpenOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`options must be an object with a root directory, got ${describe(options)}`);
  }
  const o = options as OpenOptions;
  checkKnownFields(o, [...OPEN_FIELDS, ...alsoKnown]);
  const storage = checkStorage(o.storage);
  const onS3 = storage?.kind === 's3';
  if (onS3 ? o.root !== undefined && typeof o.root !== 'string' : typeof o.root !== 'string' || o.root.length === 0 || o.root.includes('\0')) {
    throw new InvalidArgumentError(`options.root must be a non-empty path string, got ${describe(o.root)}`);
  }
  const root = onS3 ? '' : (o.root as string);
  const where = onS3 ? `s3 ${storage.endpoint}/${storage.bucket}/${storage.prefix ?? ''}` : root;
  for (const flag of ['durable', 'directIo', 'checksums'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') {
      throw new InvalidArgumentError(`options.${flag} must be a boolean, got ${describe(o[flag])}`);
    }
  }
  let configJson: string;
  if (o.config === undefined) configJson = '{}';
  else if (typeof o.config === 'string') configJson = o.config;
  else if (typeof o.config === 'object' && o.config !== null && !Array.isArray(o.config)) configJson = JSON.stringify(o.config);
  else throw new InvalidArgumentError(`options.config must be an object or JSON text, got ${describe(o.config)}`);
  const storageJson = storage === undefined ? undefined : JSON.stringify(storage);
  return { root, storageJson, where, durable: o.durable, directIo: o.directIo, checksums: o.checksums, limits: checkSettings('limits', o.limits, LIMITS_SPECS), quota: checkSettings('quota', o.quota, QUOTA_SPECS), configJson };
}

/** Checks the shape of `options.storage` (its fields' values are checked by the core). */
function checkStorage(value: unknown): StorageOptions | undefined {
  if (value === undefined) return undefined;
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || (kind !== 'fs' && kind !== 's3')) {
    throw new InvalidArgumentError(`options.storage must be { kind: 'fs' } or { kind: 's3', endpoint, bucket, … }, got ${describe(value)}`);
  }
  const s = value as StorageOptions;
  if (s.kind === 's3') {
    for (const field of ['endpoint', 'bucket'] as const) {
      if (typeof s[field] !== 'string') throw new InvalidArgumentError(`options.storage.${field} must be a string, got ${describe(s[field])}`);
    }
  }
  return s;
}

/** Refuses a field of `options` not in `known` (a misspelling), naming the known ones. @throws {@link InvalidArgumentError} */
export function checkKnownFields(options: object, known: readonly string[]): void {
  const unknown = Object.keys(options).find((name) => !known.includes(name));
  if (unknown !== undefined) throw new InvalidArgumentError(`options.${unknown} is not known (known: ${known.join(', ')})`);
}

/** A short description of a value's type, for messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  return `${typeof value} ${String(value)}`;
}
