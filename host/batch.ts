/**
 * Batches as the {@link Connector} facade hands them to the addon and back:
 * the checks only JS can make (a key that is not a well-formed string, data
 * that is not bytes) become per-key errors without a native call, the rest
 * cross in one call, and the compact native answer (a flag per key, sizes,
 * the failed keys only) becomes typed per-key results in input order.
 */
import type { NativeBatch } from './binding.js';
import { InvalidArgumentError, InvalidKeyError, type KvboxError, fromNative } from './errors.js';
import { describe } from './options.js';

/** The keys of a batch that failed, by their index in the input; empty when every key succeeded. */
export type BatchErrors = Map<number, KvboxError>;

/** {@link Connector.existsMany}: whether each key is stored. */
export interface ExistsManyResult {
  /** Per key, in input order; `false` for a key that failed (see `errors`). */
  exists: boolean[];
  errors: BatchErrors;
}

/** {@link Connector.sizeMany}: each object's size. */
export interface SizeManyResult {
  /** Per key; `undefined` when absent or failed. */
  sizes: (number | undefined)[];
  errors: BatchErrors;
}

/** {@link Connector.getMany}: each object, whole. */
export interface GetManyResult {
  /** Per key; `undefined` when absent or failed. */
  values: (Buffer | undefined)[];
  errors: BatchErrors;
}

/** {@link Connector.getManyInto}: which keys were read into their buffers, and how many bytes. */
export interface GetManyIntoResult {
  /** Per key: 1 when the object was read into its buffer, 0 when absent or failed (that buffer is untouched by a miss). */
  hits: Uint8Array;
  /** Per key: the object's size (bytes at the start of its buffer); 0 for a miss or a failure. */
  lengths: Float64Array;
  errors: BatchErrors;
}

/** {@link Connector.putMany}: which entries were stored. */
export interface PutManyResult {
  /** Per entry: whether it was stored. */
  stored: boolean[];
  errors: BatchErrors;
}

/** {@link Connector.removeMany}: which keys existed. */
export interface RemoveManyResult {
  /** Per key: whether an object was removed. */
  removed: boolean[];
  errors: BatchErrors;
}

/** One entry of {@link Connector.putMany}: a key and its bytes. */
export type PutEntry = readonly [key: string, data: Uint8Array];

/**
 * The keys (and per-key extras) that go native, and the errors of those
 * that do not. `index[j]` is the input index of the j-th key sent.
 */
export interface Prepared {
  keys: string[];
  index: number[] | undefined;
  errors: BatchErrors;
}

/**
 * Checks a batch's keys; `shape(i)` may refuse entry `i` before its key is
 * looked at (not a pair), `extra(i)` after (its data).
 */
export function prepare(
  op: string,
  keys: unknown,
  extra?: (i: number) => KvboxError | undefined,
  shape?: (i: number) => KvboxError | undefined,
): Prepared {
  if (!Array.isArray(keys)) throw new InvalidArgumentError(`${op}: keys must be an array of strings, got ${describe(keys)}`);
  const errors: BatchErrors = new Map();
  for (let i = 0; i < keys.length; i++) {
    const key: unknown = keys[i];
    const misshapen = shape?.(i);
    if (misshapen) errors.set(i, misshapen);
    else if (typeof key !== 'string') errors.set(i, new InvalidKeyError(`${op}: key ${i} must be a string, got ${describe(key)}`));
    else if (!key.isWellFormed()) errors.set(i, new InvalidKeyError(`${op}: key ${i} is not well-formed Unicode (it has a lone surrogate)`));
    else {
      const e = extra?.(i);
      if (e) errors.set(i, e);
    }
  }
  if (errors.size === 0) return { keys: keys as string[], index: undefined, errors };
  const index: number[] = [];
  for (let i = 0; i < keys.length; i++) if (!errors.has(i)) index.push(i);
  return { keys: index.map((i) => keys[i] as string), index, errors };
}

/** The native per-key errors, at their input indices, added to `prepared.errors`. */
export function mergeErrors(op: string, prepared: Prepared, batch: NativeBatch): BatchErrors {
  for (const e of batch.errors) {
    const at = prepared.index ? prepared.index[e.index]! : e.index;
    prepared.errors.set(at, fromNative(Object.assign(new Error(e.message), { code: e.code }), `${op} key ${at}`));
  }
  return prepared.errors;
}

/** Spreads per-sent-key values over the input's `n` positions (`fill` for keys not sent). */
export function spread<T>(n: number, prepared: Prepared, sent: ArrayLike<T>, fill: T): T[] {
  if (!prepared.index) return Array.from(sent);
  const out = new Array<T>(n).fill(fill);
  prepared.index.forEach((at, j) => (out[at] = sent[j]!));
  return out;
}

/** Picks the entries of `items` that were sent. */
export function pick<T>(prepared: Prepared, items: readonly T[]): T[] {
  return prepared.index ? prepared.index.map((i) => items[i]!) : (items as T[]);
}

/** A non-byte value in a batch, as a per-key error. */
export function notBytes(op: string, i: number, what: string, value: unknown): KvboxError | undefined {
  return value instanceof Uint8Array ? undefined : new InvalidArgumentError(`${op}: ${what} ${i} must be a Buffer or Uint8Array, got ${describe(value)}`);
}
