/** Options for opening connectors, their defaults, and their validation. */
import { InvalidArgumentError } from './errors.js';
// For {@link} in docs only.
import type { CorruptError, QuotaExceededError } from './errors.js';

/**
 * Limits on one connector (all its instances). Every field is optional;
 * defaults in brackets. See docs/security.md for what each guards against.
 */
export interface Limits {
  /** Linear memory per guest instance, bytes [64 MiB]. */
  memoryBytes?: number;
  /** Deadline of one call, milliseconds, enforced while guest code runs [10 000]. */
  callTimeoutMs?: number;
  /** Longest key, UTF-8 bytes [1024]. */
  maxKeyBytes?: number;
  /** Largest object, bytes [1 GiB]. */
  maxObjectBytes?: number;
  /** Guest instances serving one connector in parallel [4]. */
  maxInstances?: number;
  /** Most keys in one listing page [1000]. */
  maxListPage?: number;
  /** Live host handles (payloads, WASI streams) per instance [256]. */
  maxHostHandles?: number;
}

/** Default limits, as the native layer applies them. */
export const DEFAULT_LIMITS: Readonly<Required<Limits>> = Object.freeze({
  memoryBytes: 64 * 2 ** 20,
  callTimeoutMs: 10_000,
  maxKeyBytes: 1024,
  maxObjectBytes: 2 ** 30,
  maxInstances: 4,
  maxListPage: 1000,
  maxHostHandles: 256,
});

/**
 * Per-tenant quotas, enforced by the host whatever the connector does. A
 * put that would go over fails with {@link QuotaExceededError} and writes
 * nothing; a call over `inFlight` is refused at once.
 */
export interface Quota {
  /** Most bytes stored in the tenant's directory [unlimited]. */
  bytes?: number;
  /** Most objects (files) stored [unlimited]. */
  objects?: number;
  /** Most calls admitted at once, running or queued [256]. */
  inFlight?: number;
}

/** How to open a connector for one tenant. */
export interface OpenOptions {
  /** The tenant's directory; created if missing. The connector cannot reach outside it. */
  root: string;
  /** The connector's configuration: an object (serialised as JSON) or JSON text [`{}`]. */
  config?: Record<string, unknown> | string;
  /** Limits; see {@link Limits}. */
  limits?: Limits;
  /** Sync file and directory on every put [true]. `false` suits pure caches: a crash may lose recent objects, never tear one. */
  durable?: boolean;
  /** Use O_DIRECT where the filesystem supports it [true]; falls back to buffered I/O where it does not. */
  directIo?: boolean;
  /** Store a CRC-32C with each object and verify it on read [false]; a mismatch is a {@link CorruptError}. */
  checksums?: boolean;
  /** Per-tenant quotas; see {@link Quota}. */
  quota?: Quota;
}

const U32 = 2 ** 32 - 1;
const SAFE = Number.MAX_SAFE_INTEGER;
/** Each limit's accepted range. */
const LIMIT_RANGES: Record<keyof Limits, [number, number]> = {
  memoryBytes: [1, SAFE],
  callTimeoutMs: [1, SAFE],
  maxKeyBytes: [1, U32],
  maxObjectBytes: [1, SAFE],
  maxInstances: [1, U32],
  maxListPage: [1, U32],
  maxHostHandles: [1, U32],
};
/** Each quota's accepted range (0 bytes or objects is allowed: a read-only tenant). */
const QUOTA_RANGES: Record<keyof Quota, [number, number]> = { bytes: [0, SAFE], objects: [0, SAFE], inFlight: [1, U32] };

/** Checks that `value` is undefined or an object of known integer fields within their ranges. */
function checkIntegers<T>(what: string, value: unknown, ranges: Record<string, [number, number]>): T {
  if (value === undefined) return {} as T;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${what} must be an object, got ${describe(value)}`);
  }
  for (const [name, v] of Object.entries(value)) {
    const range = ranges[name];
    if (!range) throw new InvalidArgumentError(`${what}.${name} is not known (known: ${Object.keys(ranges).join(', ')})`);
    if (v === undefined) continue;
    const [min, max] = range;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`${what}.${name} must be an integer from ${min} to ${max}, got ${describe(v)}`);
    }
  }
  return value as T;
}

/** Checks limits' types and ranges. @throws {@link InvalidArgumentError} */
export function checkLimits(limits: unknown): Limits {
  return checkIntegers<Limits>('limits', limits, LIMIT_RANGES);
}

/** Checks quotas' types and ranges. @throws {@link InvalidArgumentError} */
export function checkQuota(quota: unknown): Quota {
  return checkIntegers<Quota>('quota', quota, QUOTA_RANGES);
}

/** Checks open options and renders the config as JSON text. @throws {@link InvalidArgumentError} */
export function checkOpenOptions(options: unknown): Required<Pick<OpenOptions, 'root'>> & OpenOptions & { configJson: string } {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`options must be an object with a root directory, got ${describe(options)}`);
  }
  const o = options as OpenOptions;
  if (typeof o.root !== 'string' || o.root.length === 0 || o.root.includes('\0')) {
    throw new InvalidArgumentError(`options.root must be a non-empty path string, got ${describe(o.root)}`);
  }
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
  return { ...o, limits: checkLimits(o.limits), quota: checkQuota(o.quota), configJson };
}

/** A short description of a value's type, for messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  return `${typeof value} ${String(value)}`;
}
