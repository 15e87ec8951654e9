/** {@link Connector}: an open connector for one tenant. */
import { markAsUntransferable } from 'node:worker_threads';
import { binding, type NativeCancel, type NativeConnector, type NativeLogRecord } from './binding.js';
import { CancelledError, ConnectorError, InvalidArgumentError, InvalidKeyError, native } from './errors.js';
import { CallMetrics, type OperationKind, type OperationStats } from './metrics.js';
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
  /** Calls admitted and not yet settled. */
  inFlight: number;
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
