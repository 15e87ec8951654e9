/**
 * Per-operation metrics of a {@link Connector}: call counts by outcome,
 * bytes moved and latency histograms (part of `stats()`), and one
 * `node:diagnostics_channel` event per call for anyone who wants to watch
 * (the server's Prometheus metrics and logs are built on it).
 */
import { channel } from 'node:diagnostics_channel';
import type { Connector } from './connector.js';

/** The operations that are measured (every call that reaches the native side, except `ping`). */
export type OperationKind =
  | 'put'
  | 'get'
  | 'getInto'
  | 'exists'
  | 'remove'
  | 'size'
  | 'listKeys'
  | 'existsMany'
  | 'sizeMany'
  | 'getMany'
  | 'getManyInto'
  | 'putMany'
  | 'removeMany';

const KINDS: readonly OperationKind[] = [
  'put',
  'get',
  'getInto',
  'exists',
  'remove',
  'size',
  'listKeys',
  'existsMany',
  'sizeMany',
  'getMany',
  'getManyInto',
  'putMany',
  'removeMany',
];

/** What a batch did, key by key, for its metrics. */
export interface BatchSummary {
  hits: number;
  misses: number;
  /** Keys that failed (the batch itself settled). */
  failed: number;
  /** Object bytes moved (read or written). */
  bytes: number;
}

/**
 * How a call ended: `hit` / `miss` for lookups (get, getInto, exists, size,
 * remove: the key was there or not), `ok` for put and listKeys, `error` when
 * it threw.
 */
export type CallOutcome = 'ok' | 'hit' | 'miss' | 'error';

/** Upper bounds (ms) of the latency histogram's buckets; a last bucket catches the rest. */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10_000]);

/** A latency histogram: `counts[i]` calls took at most `LATENCY_BUCKETS_MS[i]`, the last entry is the overflow. */
export interface LatencyHistogram {
  /** Per-bucket (not cumulative) counts; one more entry than {@link LATENCY_BUCKETS_MS}. */
  counts: number[];
  /** Sum of all latencies, ms. */
  sumMs: number;
}

/** What happened to one kind of operation on one connector. */
export interface OperationStats {
  /** Calls that settled (a batch is one call). */
  calls: number;
  /** Keys found (get, getInto, exists, size, remove and their batches). */
  hits: number;
  /** Keys not found. */
  misses: number;
  /** Calls that threw, plus the failed keys of batches that settled. */
  errors: number;
  /** Payload bytes written (put, putMany) or read (get, getInto, getMany, getManyInto). */
  bytes: number;
  /** Latency of settled calls. */
  latency: LatencyHistogram;
}

/** Published on {@link CALL_CHANNEL} when a call settles. */
export interface CallEvent {
  /** The connector the call ran on. */
  connector: Connector;
  op: OperationKind;
  outcome: CallOutcome;
  /** Payload bytes written or read. */
  bytes: number;
  durationMs: number;
  /** The error, when `outcome` is `error`. */
  error?: unknown;
}

/** Name of the `node:diagnostics_channel` channel carrying a {@link CallEvent} per settled call. */
export const CALL_CHANNEL = 'kvbox:connector:call';
const calls = channel(CALL_CHANNEL);

/** @internal A connector's per-operation counters. */
export class CallMetrics {
  readonly #connector: Connector;
  readonly #ops = new Map<OperationKind, OperationStats>();

  constructor(connector: Connector) {
    this.#connector = connector;
  }

  /**
   * Starts timing a call.
   * @param op - the call's label (`put "key"`); its first word is the kind.
   * @param bytesIn - payload bytes the call writes.
   * @returns the function to call with the result, or with the error.
   */
  begin(op: string, bytesIn = 0): (result: unknown, error?: unknown, batch?: BatchSummary) => void {
    const kind = op.split(' ', 1)[0] as OperationKind;
    const start = performance.now();
    return (result, error, batch) => {
      const durationMs = performance.now() - start;
      const outcome = outcomeOf(kind, result, error);
      const bytes = bytesIn + (Buffer.isBuffer(result) ? result.length : kind === 'getInto' && typeof result === 'number' ? result : 0);
      this.#record(kind, outcome, (batch?.bytes ?? 0) + bytes, durationMs, batch);
      if (calls.hasSubscribers) calls.publish({ connector: this.#connector, op: kind, outcome, bytes, durationMs, error } satisfies CallEvent);
    };
  }

  /** A copy of the counters, every kind present. */
  snapshot(): Record<OperationKind, OperationStats> {
    const out = {} as Record<OperationKind, OperationStats>;
    for (const kind of KINDS) {
      const s = this.#ops.get(kind);
      out[kind] = s ? { ...s, latency: { counts: [...s.latency.counts], sumMs: s.latency.sumMs } } : emptyStats();
    }
    return out;
  }

  #record(kind: OperationKind, outcome: CallOutcome, bytes: number, durationMs: number, batch?: BatchSummary): void {
    let s = this.#ops.get(kind);
    if (!s) this.#ops.set(kind, (s = emptyStats()));
    s.calls++;
    if (batch) {
      s.hits += batch.hits;
      s.misses += batch.misses;
      s.errors += batch.failed;
    } else if (outcome === 'hit') s.hits++;
    else if (outcome === 'miss') s.misses++;
    else if (outcome === 'error') s.errors++;
    s.bytes += bytes;
    let i = LATENCY_BUCKETS_MS.findIndex((bound) => durationMs <= bound);
    if (i < 0) i = LATENCY_BUCKETS_MS.length;
    s.latency.counts[i]!++;
    s.latency.sumMs += durationMs;
  }
}

function outcomeOf(kind: OperationKind, result: unknown, error: unknown): CallOutcome {
  if (error !== undefined) return 'error';
  if (kind === 'put' || kind === 'listKeys' || kind.endsWith('Many')) return 'ok';
  return result === undefined || result === null || result === false ? 'miss' : 'hit';
}

function emptyStats(): OperationStats {
  return { calls: 0, hits: 0, misses: 0, errors: 0, bytes: 0, latency: { counts: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), sumMs: 0 } };
}
