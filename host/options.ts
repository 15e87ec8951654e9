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
export interface CheckedOpenOptions extends Omit<OpenOptions, 'limits' | 'quota' | 'config'> {
  configJson: string;
  limits: Record<string, number>;
  quota: Record<string, number>;
}

/** Checks open options and renders the config as JSON text. @throws {@link InvalidArgumentError} */
export function checkOpenOptions(options: unknown): CheckedOpenOptions {
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
  return { root: o.root, durable: o.durable, directIo: o.directIo, checksums: o.checksums, limits: checkSettings('limits', o.limits, LIMITS_SPECS), quota: checkSettings('quota', o.quota, QUOTA_SPECS), configJson };
}

/** A short description of a value's type, for messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  return `${typeof value} ${String(value)}`;
}
