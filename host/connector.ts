/** {@link Connector}: an open connector for one tenant. */
import type { NativeConnector, NativeLogRecord } from './binding.js';
import { ClosedError, InvalidArgumentError, InvalidKeyError, native } from './errors.js';
import { describe } from './options.js';

/** One page of keys from {@link Connector.listKeys}. */
export interface KeyPage {
  /** Keys exactly as they were put. */
  keys: string[];
  /** Pass back to get the next page; absent after the last page. */
  cursor?: string;
}

/** Counters of what happened to a sandboxed connector's instances. */
export interface ConnectorStats {
  /** Instances created: the first, on-demand ones, and replacements. */
  instancesCreated: number;
  /** Calls that trapped; each instance was replaced. */
  traps: number;
  /** Calls that ran past their deadline; each instance was replaced. */
  timeouts: number;
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
  #closed = false;

  /** @internal Use {@link loadConnector} or {@link ConnectorComponent.open}. */
  constructor(nativeConnector: NativeConnector) {
    this.#native = nativeConnector;
  }

  /**
   * Stores `data` under `key`, atomically replacing any previous object.
   * The bytes go to disk without a copy into the sandbox: do not modify
   * `data` until the promise settles.
   * @param key - a non-empty string without NUL, at most `limits.maxKeyBytes` UTF-8 bytes.
   * @param data - the bytes (a Buffer or any Uint8Array).
   * @throws {@link InvalidKeyError}, {@link InvalidArgumentError}, {@link TooLargeError}, {@link NoSpaceError}, {@link ClosedError}, …
   */
  async put(key: string, data: Uint8Array): Promise<void> {
    this.#check(key, 'put');
    if (!(data instanceof Uint8Array)) {
      throw new InvalidArgumentError(`put ${quote(key)}: data must be a Buffer or Uint8Array, got ${describe(data)}`);
    }
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await native(`put ${quote(key)}`, () => this.#native.put(key, buf));
  }

  /**
   * The object stored under `key`, whole.
   * @returns the bytes, or `undefined` when there is no such object.
   * @throws {@link InvalidKeyError}, {@link ClosedError}, {@link StorageIoError}, …
   */
  async get(key: string): Promise<Buffer | undefined> {
    this.#check(key, 'get');
    return (await native(`get ${quote(key)}`, () => this.#native.get(key))) ?? undefined;
  }

  /** Whether an object is stored under `key`. @throws {@link InvalidKeyError}, {@link ClosedError}, … */
  async exists(key: string): Promise<boolean> {
    this.#check(key, 'exists');
    return native(`exists ${quote(key)}`, () => this.#native.exists(key));
  }

  /** Removes the object under `key`. @returns whether it existed. @throws {@link InvalidKeyError}, {@link ClosedError}, … */
  async remove(key: string): Promise<boolean> {
    this.#check(key, 'remove');
    return native(`remove ${quote(key)}`, () => this.#native.remove(key));
  }

  /** The size in bytes of the object under `key`, or `undefined` when absent. @throws {@link InvalidKeyError}, {@link ClosedError}, … */
  async size(key: string): Promise<number | undefined> {
    this.#check(key, 'size');
    return (await native(`size ${quote(key)}`, () => this.#native.size(key))) ?? undefined;
  }

  /**
   * One page of keys. Pages come in the connector's stable order; a key
   * put or removed during a listing may or may not appear.
   * @param options.cursor - from the previous page.
   * @param options.limit - most keys in this page [100], capped by `limits.maxListPage`.
   */
  async listKeys(options: { cursor?: string; limit?: number } = {}): Promise<KeyPage> {
    this.#check(undefined, 'listKeys');
    const { cursor, limit = 100 } = options;
    if (cursor !== undefined && typeof cursor !== 'string') {
      throw new InvalidArgumentError(`listKeys: cursor must be a string, got ${describe(cursor)}`);
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > 2 ** 32 - 1) {
      throw new InvalidArgumentError(`listKeys: limit must be a positive integer, got ${describe(limit)}`);
    }
    const page = await native('listKeys', () => this.#native.listKeys(cursor, limit));
    return page.cursor == null ? { keys: page.keys } : { keys: page.keys, cursor: page.cursor };
  }

  /**
   * Every key, page by page.
   * @example `for await (const key of store.keys()) console.log(key);`
   */
  async *keys(options: { pageSize?: number } = {}): AsyncGenerator<string, void, undefined> {
    let cursor: string | undefined;
    do {
      const page: KeyPage = await this.listKeys({ cursor, limit: options.pageSize ?? 1000 });
      yield* page.keys;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  /** Counters of instance events (creations, traps, timeouts). */
  stats(): ConnectorStats {
    return this.#native.stats();
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

  /** Refuses further calls; calls in flight finish. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
  }

  /** Closes, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #check(key: unknown, op: string): asserts key is string {
    if (this.#closed) throw new ClosedError(`${op}: the connector is closed`);
    if (key === undefined && op === 'listKeys') return;
    if (typeof key !== 'string') throw new InvalidKeyError(`${op}: key must be a string, got ${describe(key)}`);
  }
}

function quote(key: string): string {
  return JSON.stringify(key.length > 80 ? key.slice(0, 80) + '…' : key);
}
