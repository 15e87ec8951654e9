/** What a RESP command handler works with: its connection's session, and the table entry shape. */
import { isUtf8 } from 'node:buffer';
import type { BufferPool } from '../buffer-pool.js';
import type { ServeMetrics } from '../metrics.js';
import type { Tenant, TenantRegistry } from '../tenants.js';
import { type ReplyWriter, ReplyError } from './reply.js';
import type { ScanCursors } from './scan.js';

/** Server-wide things commands need. */
export interface RespServerContext {
  readonly registry: TenantRegistry;
  readonly pool: BufferPool;
  readonly metrics: ServeMetrics;
  /** Connections open now. */
  connectedClients(): number;
  /** The port the RESP listener is bound to. */
  port(): number;
}

/** One connection's state. */
export interface Session {
  readonly id: number;
  /** Set by AUTH; every data command acts on this tenant's keys only. */
  tenant: Tenant | undefined;
  /** CLIENT SETNAME. */
  name: string | undefined;
  /** Set by QUIT: the connection ends after this reply. */
  quit: boolean;
  readonly reply: ReplyWriter;
  /** Resolves once the socket has room again (at once when it has): a command writing many values awaits it between them. */
  drained(): Promise<void>;
  readonly server: RespServerContext;
  readonly cursors: ScanCursors;
}

/** A command in the table (the fields COMMAND reports, and its handler). */
export interface CommandSpec {
  /** Redis arity: `n` exactly n arguments with the name, `-n` at least n. */
  arity: number;
  flags: string[];
  /** First key, last key (-1: the last argument), step; zeros when no keys. */
  keys: [number, number, number];
  /** Allowed before AUTH. */
  preAuth?: boolean;
  run(session: Session, args: Buffer[]): Promise<void> | void;
}

/** A key argument as a string. @throws {@link ReplyError} when it is not UTF-8 (kvbox keys are strings). */
export function keyArg(b: Buffer): string {
  if (!isUtf8(b)) throw new ReplyError('ERR invalid key: kvbox keys must be valid UTF-8');
  return b.toString('utf8');
}

/** The session's tenant (the table only runs data commands after AUTH). */
export function tenantOf(session: Session): Tenant {
  const t = session.tenant;
  if (!t) throw new ReplyError('NOAUTH Authentication required.');
  if (t.closed) throw new ReplyError(`ERR tenant "${t.name}" is no longer served`);
  return t;
}

/** Runs `fn` over `items`, at most `limit` at a time, results in order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
