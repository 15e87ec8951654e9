/** {@link Connector}: an open connector for one tenant. */
import { markAsUntransferable } from 'node:worker_threads';
import {
  type BatchErrors,
  type ExistsManyResult,
  type GetManyIntoResult,
  type GetManyResult,
  mergeErrors,
  notBytes,
  type Prepared,
  type PutEntry,
  type PutManyResult,
  pick,
  prepare,
  type RemoveManyResult,
  type SizeManyResult,
  spread,
} from './batch.js';
import { binding, type NativeBatch, type NativeCancel, type NativeConnector, type NativeLogRecord } from './binding.js';
import { CancelledError, ConnectorError, InvalidArgumentError, InvalidKeyError, native } from './errors.js';
import { type BatchSummary, CallMetrics, type OperationKind, type OperationStats } from './metrics.js';
import { describe } from './options.js';

/** One page of keys from {@link Connector.listKeys}. */
export interface KeyPage {
  /** Keys exactly as they were put. */
  keys: string[];
  /** Pass back to get the next page; absent after the last page. */
  cursor?: string;
}

/** Counters of what happened to a connector, and what its tenant stores. */
export interface ConnectorStats {
  /** Instances created: the first, on-demand ones, and replacements (0 for the native fast path). */
  instancesCreated: number;
  /** Calls that trapped (panic, stack overflow, bad handle…); each instance was replaced. */
  traps: number;
  /** Calls that ran past their deadline; each instance was replaced. */
  timeouts: number;
  /** Calls that hit the memory cap; each instance was replaced. */
  memoryLimits: number;
  /** Calls cancelled while guest code ran; each instance was replaced. */
  cancellations: number;
  /** Bytes stored in the tenant's directory. */
  bytesStored: number;
  /** Objects stored in the tenant's directory. */
  objects: number;
  /** Directories beneath the tenant's root (against `quota.directories`). */
  directories: number;
  /** Calls admitted and not yet settled (at most `quota.inFlight`). */
  inFlight: number;
  /** Calls waiting in the tenant's queue for an in-flight slot (at most `quota.queue`). */
  queued: number;
  /** Calls refused by a quota (bytes, objects, in flight). */
  quotaRejections: number;
  /** Calls that finished but used more than 80 % of their deadline (a connector running close to its limit). */
  nearDeadline: number;
  /** Milliseconds guest code was held back by `limits.cpuMsPerSec`. */
  throttledMs: number;
  /** Log records dropped because the connector's log was full. */
  logDropped: number;
  /** Per operation: calls, hits/misses, errors, bytes and a latency histogram (see host/metrics.ts). */
  operations: Record<OperationKind, OperationStats>;
}

/** Options every operation takes. */
export interface CallOptions {
  /**
   * Cancels the call. Before it starts, nothing is done; while connector
   * code runs, it is stopped within about 5 ms and its instance replaced.
   * Host I/O already under way finishes, so an object is written whole or
   * not at all, and the promise settles only once the native side let go
   * of the caller's buffer: with {@link CancelledError}, or with the result
   * when the call had already completed.
   */
  signal?: AbortSignal;
}

/** A log record from the connector (its `log` calls, stdout, stderr) or the host. */
export type LogRecord = NativeLogRecord;

/**
 * An open connector: a key-value store of byte blobs for one tenant.
 *
 * Calls run off the JS thread and may run in parallel. Every failure is a
 * {@link KvboxError} subclass. Close it with {@link Connector.close} or
 * `await using`.
 *
 * @example
 * ```ts
 * await using store = await loadConnector(FS_CONNECTOR, { root: '/data/tenant-a' });
 * await store.put('model@1@0@abcd@bf16', chunk);
 * const back = await store.get('model@1@0@abcd@bf16');
 * ```
 */
export class Connector implements AsyncDisposable {
  readonly #native: NativeConnector;
  // metrics: per-operation counters and diagnostics_channel events (host/metrics.ts).
  readonly #metrics = new CallMetrics(this);
  #closed = false;

  /** @internal Use {@link loadConnector} or {@link ConnectorComponent.open}. */
  constructor(nativeConnector: NativeConnector) {
    this.#native = nativeConnector;
  }

  /**
   * Stores `data` under `key`, atomically replacing any previous object.
   * The bytes go to disk without a copy: do not modify `data` until the
   * promise settles. Its `ArrayBuffer` is marked untransferable (as Node does
   * for its pooled Buffers), so it cannot be detached and freed while kvbox
   * reads it.
   * @param key - a non-empty string without NUL, at most `limits.maxKeyBytes` UTF-8 bytes.
   * @param data - the bytes (a Buffer or any Uint8Array).
   * @throws {@link InvalidKeyError}, {@link InvalidArgumentError}, {@link TooLargeError}, {@link NoSpaceError}, {@link ClosedError}, …
   */
  async put(key: string, data: Uint8Array, options?: CallOptions): Promise<void> {
    this.#check(key, 'put');
    const buf = lend(data, `put ${quote(key)}: data`);
    await this.#call(`put ${quote(key)}`, options, (c) => this.#native.put(key, buf, c), buf.length);
  }

  /**
   * The object stored under `key`, whole.
   * @returns the bytes, or `undefined` when there is no such object.
   * @throws {@link InvalidKeyError}, {@link ClosedError}, {@link StorageIoError}, …
   */
  async get(key: string, options?: CallOptions): Promise<Buffer | undefined> {
    this.#check(key, 'get');
    return (await this.#call(`get ${quote(key)}`, options, (c) => this.#native.get(key, c))) ?? undefined;
  }

  /**
   * Reads the object under `key` into the start of `target`, without
   * allocating: the way to fill preallocated (staging, pinned) buffers. The
   * bytes are written in place, so do not use `target` until the promise
   * settles; bytes after the returned size are left untouched. Its
   * `ArrayBuffer` is marked untransferable, like `put`'s data.
   * @returns the object's size, or `undefined` when there is no such object.
   * @throws {@link TooLargeError} when the object does not fit `target`; {@link InvalidKeyError}, {@link ClosedError}, …
   */
  async getInto(key: string, target: Uint8Array, options?: CallOptions): Promise<number | undefined> {
    this.#check(key, 'getInto');
    const buf = lend(target, `getInto ${quote(key)}: target`);
    return (await this.#call(`getInto ${quote(key)}`, options, (c) => this.#native.getInto(key, buf, c))) ?? undefined;
  }

  /**
   * A round trip through admission and kvbox's worker threads that does not
   * call the connector: resolves while the connector is open and under its
   * `quota.inFlight`. Its latency is the floor under every other call.
   * @throws {@link ClosedError}, {@link QuotaExceededError}
   */
  async ping(): Promise<void> {
    await native('ping', () => this.#native.ping());
  }

  /** Whether an object is stored under `key`. @throws {@link InvalidKeyError}, {@link ClosedError}, … */
  async exists(key: string, options?: CallOptions): Promise<boolean> {
    this.#check(key, 'exists');
    return this.#call(`exists ${quote(key)}`, options, (c) => this.#native.exists(key, c));
  }

  /** Removes the object under `key`. @returns whether it existed. @throws {@link InvalidKeyError}, {@link ClosedError}, … */
  async remove(key: string, options?: CallOptions): Promise<boolean> {
    this.#check(key, 'remove');
    return this.#call(`remove ${quote(key)}`, options, (c) => this.#native.remove(key, c));
  }

  /** The size in bytes of the object under `key`, or `undefined` when absent. @throws {@link InvalidKeyError}, {@link ClosedError}, … */
  async size(key: string, options?: CallOptions): Promise<number | undefined> {
    this.#check(key, 'size');
    return (await this.#call(`size ${quote(key)}`, options, (c) => this.#native.size(key, c))) ?? undefined;
  }

  /**
   * One page of keys. Pages come in the connector's stable order; a key
   * put or removed during a listing may or may not appear.
   * @param options.cursor - from the previous page.
   * @param options.limit - most keys in this page [100], capped by `limits.maxListPage`.
   */
  async listKeys(options: { cursor?: string; limit?: number } & CallOptions = {}): Promise<KeyPage> {
    const { cursor, limit = 100 } = options;
    if (cursor !== undefined && typeof cursor !== 'string') {
      throw new InvalidArgumentError(`listKeys: cursor must be a string, got ${describe(cursor)}`);
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > 2 ** 32 - 1) {
      throw new InvalidArgumentError(`listKeys: limit must be a positive integer, got ${describe(limit)}`);
    }
    const page = await this.#call('listKeys', options, (c) => this.#native.listKeys(cursor, limit, c));
    return page.cursor == null ? { keys: page.keys } : { keys: page.keys, cursor: page.cursor };
  }

  /**
   * Every key, page by page. A connector that hands back a cursor it already
   * gave (a listing that would never end) fails it with {@link ConnectorError}.
   * @example `for await (const key of store.keys()) console.log(key);`
   */
  async *keys(options: { pageSize?: number } & CallOptions = {}): AsyncGenerator<string, void, undefined> {
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const page: KeyPage = await this.listKeys({ cursor, limit: options.pageSize ?? 1000, signal: options.signal });
      yield* page.keys;
      cursor = page.cursor;
      if (cursor !== undefined) {
        if (seen.has(cursor)) throw new ConnectorError(`keys: the connector returned cursor ${quote(cursor)} twice; the listing would never end`);
        seen.add(cursor);
      }
    } while (cursor !== undefined);
  }

  // Batches: one native call per batch, results per key in input order.
  // A key that fails — refused here (not a string), at the front door
  // (empty, too long) or by the connector — is an entry of `errors` and
  // never fails the others; only an unusable call (closed connector, full
  // queue, `keys` not an array, an already aborted signal) rejects. An abort
  // during a batch settles it with the keys not yet started as
  // `CancelledError`s; each key is applied whole or not at all.

  /**
   * Whether each key is stored.
   * @example `const { exists, errors } = await store.existsMany(keys);`
   */
  async existsMany(keys: readonly string[], options?: CallOptions): Promise<ExistsManyResult> {
    const p = prepare('existsMany', keys);
    const { batch, errors } = await this.#batch('existsMany', p, options, (c) => this.#native.existsMany(p.keys, c));
    return { exists: spread(keys.length, p, Array.from(batch.flags, (f) => f === 1), false), errors };
  }

  /** The size of each key's object; `undefined` when absent (or failed: see `errors`). */
  async sizeMany(keys: readonly string[], options?: CallOptions): Promise<SizeManyResult> {
    const p = prepare('sizeMany', keys);
    const { batch, errors } = await this.#batch('sizeMany', p, options, (c) => this.#native.sizeMany(p.keys, c));
    const sizes = Array.from(batch.flags, (f, j) => (f === 1 ? batch.sizes![j]! : undefined));
    return { sizes: spread(keys.length, p, sizes, undefined), errors };
  }

  /** Each key's object, whole; `undefined` when absent (or failed). Prefer {@link Connector.getManyInto} for large objects. */
  async getMany(keys: readonly string[], options?: CallOptions): Promise<GetManyResult> {
    const p = prepare('getMany', keys);
    const { batch, errors } = await this.#batch('getMany', p, options, (c) => this.#native.getMany(p.keys, c));
    return { values: spread(keys.length, p, batch.values!.map((v) => v ?? undefined), undefined), errors };
  }

  /**
   * Reads each key's object into the start of its buffer, `buffers[i]` for
   * `keys[i]` — the batched {@link Connector.getInto}: no allocation, and
   * through a sandboxed connector the bytes go from the device to the
   * buffer without entering the sandbox. A missing key leaves its buffer
   * untouched; an object larger than its buffer is a {@link TooLargeError}
   * for that key. Buffers must not overlap and must not be used until the
   * promise settles.
   * @returns `hits` (1 = read) and `lengths` per key, and the failed keys.
   */
  async getManyInto(keys: readonly string[], buffers: readonly Uint8Array[], options?: CallOptions): Promise<GetManyIntoResult> {
    if (!Array.isArray(buffers)) throw new InvalidArgumentError(`getManyInto: buffers must be an array, got ${describe(buffers)}`);
    if (Array.isArray(keys) && keys.length !== buffers.length) {
      throw new InvalidArgumentError(`getManyInto: ${keys.length} keys but ${buffers.length} buffers; give one buffer per key`);
    }
    const p = prepare('getManyInto', keys, (i) => notBytes('getManyInto', i, 'buffer', buffers[i]));
    const lent = pick(p, buffers).map((b, j) => lend(b, `getManyInto: buffer ${p.index?.[j] ?? j}`));
    const { batch, errors } = await this.#batch('getManyInto', p, options, (c) => this.#native.getManyInto(p.keys, lent, c, p.index));
    const n = keys.length;
    return {
      hits: Uint8Array.from(spread(n, p, batch.flags, 0)),
      lengths: Float64Array.from(spread(n, p, batch.sizes!, 0)),
      errors,
    };
  }

  /**
   * Stores each entry's bytes under its key, atomically per key; of a key
   * given twice, the later entry wins. The bytes go to disk without a copy:
   * do not modify them until the promise settles.
   * @example `await store.putMany([['a', bufA], ['b', bufB]]);`
   */
  async putMany(entries: readonly PutEntry[], options?: CallOptions): Promise<PutManyResult> {
    if (!Array.isArray(entries)) throw new InvalidArgumentError(`putMany: entries must be an array of [key, data] pairs, got ${describe(entries)}`);
    const keys = entries.map((e: unknown) => (Array.isArray(e) ? (e[0] as unknown) : undefined)) as string[];
    const data = entries.map((e: unknown) => (Array.isArray(e) ? (e[1] as unknown) : undefined)) as Uint8Array[];
    const p = prepare(
      'putMany',
      keys,
      (i) => notBytes('putMany', i, 'data of entry', data[i]),
      (i) => (Array.isArray(entries[i]) ? undefined : new InvalidArgumentError(`putMany: entry ${i} must be a [key, data] pair, got ${describe(entries[i])}`)),
    );
    const lent = pick(p, data).map((b, j) => lend(b, `putMany: data of entry ${p.index?.[j] ?? j}`));
    const bytesIn = lent.reduce((sum, b) => sum + b.length, 0);
    const { batch, errors } = await this.#batch('putMany', p, options, (c) => this.#native.putMany(p.keys, lent, c), bytesIn);
    return { stored: spread(keys.length, p, Array.from(batch.flags, (f) => f === 1), false), errors };
  }

  /** Removes each key's object. @returns per key whether it existed (a key given twice: `true`, then `false`). */
  async removeMany(keys: readonly string[], options?: CallOptions): Promise<RemoveManyResult> {
    const p = prepare('removeMany', keys);
    const { batch, errors } = await this.#batch('removeMany', p, options, (c) => this.#native.removeMany(p.keys, c));
    return { removed: spread(keys.length, p, Array.from(batch.flags, (f) => f === 1), false), errors };
  }

  /** Counters of instance events (creations, traps, timeouts…) and the tenant's usage. */
  stats(): ConnectorStats {
    return { ...this.#native.stats(), operations: this.#metrics.snapshot() };
  }

  /** Takes the log records gathered since the last call (bounded; oldest dropped first). */
  drainLog(): LogRecord[] {
    return this.#native.drainLog();
  }

  /** The O_DIRECT alignment used for this tenant's files, or `undefined` when I/O is buffered. */
  get directAlignment(): number | undefined {
    return this.#native.directAlignment ?? undefined;
  }

  /** Whether {@link Connector.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Refuses further calls at once; resolves when the calls already admitted
   * have finished and the connector let go of its instances, descriptors and
   * the tenant directory (another connector may open it then). Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await native('close', () => this.#native.close());
  }

  /** Closes, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Runs one native call, measured (metrics: host/metrics.ts). `bytesIn`: payload bytes it writes. */
  async #call<T>(op: string, options: CallOptions | undefined, call: (cancel?: NativeCancel) => Promise<T>, bytesIn = 0): Promise<T> {
    const done = this.#metrics.begin(op, bytesIn);
    try {
      const result = await this.#cancellable(op, options, call);
      done(result);
      return result;
    } catch (err) {
      done(undefined, err);
      throw err;
    }
  }

  /** Runs one native batch, measured; returns its answer and the per-key errors at input indices. */
  async #batch(
    op: OperationKind,
    p: Prepared,
    options: CallOptions | undefined,
    call: (cancel?: NativeCancel) => Promise<NativeBatch>,
    bytesIn = 0,
  ): Promise<{ batch: NativeBatch; errors: BatchErrors }> {
    const done = this.#metrics.begin(op);
    try {
      const batch = await this.#cancellable(op, options, call);
      const errors = mergeErrors(op, p, batch);
      let hits = 0;
      for (const f of batch.flags) hits += f;
      let bytes = bytesIn;
      if (op === 'getManyInto') for (const s of batch.sizes!) bytes += s;
      else if (batch.values) for (const v of batch.values) bytes += v?.length ?? 0;
      const summary: BatchSummary = { hits, misses: batch.flags.length - hits - batch.errors.length, failed: errors.size, bytes };
      done(undefined, undefined, summary);
      return { batch, errors };
    } catch (err) {
      done(undefined, err);
      throw err;
    }
  }

  /** Runs one native call with its cancellation wired to `options.signal`. */
  async #cancellable<T>(op: string, options: CallOptions | undefined, call: (cancel?: NativeCancel) => Promise<T>): Promise<T> {
    const signal = options?.signal;
    if (signal === undefined) return native(op, () => call());
    if (!(signal instanceof AbortSignal)) {
      throw new InvalidArgumentError(`${op}: options.signal must be an AbortSignal, got ${describe(signal)}`);
    }
    if (signal.aborted) throw new CancelledError(`${op}: the signal was already aborted; nothing was done`, { cause: signal.reason });
    const cancel = new binding.NativeCancel();
    const onAbort = () => cancel.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await native(op, () => call(cancel));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The checks only JS can make; the native front door makes the rest (closed, empty, NUL, length). */
  #check(key: unknown, op: string): asserts key is string {
    if (typeof key !== 'string') throw new InvalidKeyError(`${op}: key must be a string, got ${describe(key)}`);
    // A lone surrogate has no UTF-8 form: passing it on would silently turn
    // it into U+FFFD, so two different keys would name one object.
    if (!key.isWellFormed()) throw new InvalidKeyError(`${op}: key ${quote(key)} is not well-formed Unicode (it has a lone surrogate)`);
  }
}

/**
 * A caller's bytes as a Buffer over the same memory, lent to native code for
 * one call. The ArrayBuffer is made untransferable first: detaching it
 * (`structuredClone(…, { transfer })`, `postMessage`) while a worker thread
 * reads or writes it would free memory under the call.
 */
function lend(data: unknown, what: string): Buffer {
  if (!(data instanceof Uint8Array)) throw new InvalidArgumentError(`${what} must be a Buffer or Uint8Array, got ${describe(data)}`);
  if (data.buffer.byteLength > 0 && !(data.buffer instanceof SharedArrayBuffer)) markAsUntransferable(data.buffer);
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function quote(key: string): string {
  return JSON.stringify(key.length > 80 ? key.slice(0, 80) + '…' : key);
}
