/**
 * An `lm://` listener for one tenant (the protocol carries no credentials,
 * so the port is the tenant). Requests are handled in order; PUT gets no
 * reply, GET/EXIST/HEALTH get a 36-byte header (GET: then the payload),
 * LIST and unknown commands get nothing and the connection stays usable.
 * A PUT longer than the tenant accepts cannot be refused in this protocol
 * without reading it, so the connection is closed instead.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { BufferPool } from '../buffer-pool.js';
import { ProtocolError } from '../errors.js';
import type { ServeMetrics } from '../metrics.js';
import { drained, TcpListener, type TrackedConnection } from '../tcp-listener.js';
import type { Tenant } from '../tenants.js';
import { readValue } from '../values.js';
import * as lm from './codec.js';

/** What an lm:// listener needs. */
export interface LmContext {
  pool: BufferPool;
  metrics: ServeMetrics;
  /** The tenant now (a reload may have reopened it). */
  tenant(): Tenant | undefined;
}

const COMMAND_NAMES: Record<number, string> = { [lm.LM_PUT]: 'PUT', [lm.LM_GET]: 'GET', [lm.LM_EXIST]: 'EXIST', [lm.LM_LIST]: 'LIST', [lm.LM_HEALTH]: 'HEALTH' };

/** Creates the lm:// listener of one tenant (call `listen()` on it). */
export function lmListener(context: LmContext, options: { host: string; port: number }, log: Logger): TcpListener {
  return new TcpListener('lm', { ...options, maxConnections: 1024 }, context.metrics, (socket, track) => {
    const tenant = context.tenant();
    const connection: TrackedConnection = { socket, busy: false, draining: false, tenant: () => tenant };
    track(connection);
    return tenant ? serve(connection, tenant, context, log) : Promise.resolve();
  });
}

async function serve(c: TrackedConnection, tenant: Tenant, context: LmContext, log: Logger): Promise<void> {
  const socket: Socket = c.socket;
  const { pool, metrics } = context;
  const header = Buffer.allocUnsafe(lm.REQUEST_HEADER_BYTES);
  let have = 0;
  let put: { request: lm.LmRequest; value: Buffer; filled: number } | undefined;
  /** Runs one request, measured; a shutdown ends the connection after it. */
  const run = async (request: lm.LmRequest, body: () => Promise<void>): Promise<boolean> => {
    c.busy = true;
    const command = COMMAND_NAMES[request.command] ?? 'UNKNOWN';
    const stopTimer = metrics.commandSeconds.startTimer({ protocol: 'lm', command });
    let result = 'ok';
    try {
      await body();
    } catch (err) {
      result = 'error';
      log.warn({ listener: 'lm', tenant: tenant.name, command, key: request.key, err: (err as Error).message }, 'lm:// request failed');
      if (request.command === lm.LM_GET || request.command === lm.LM_EXIST) socket.write(lm.encodeReply(lm.LM_FAIL));
    } finally {
      c.busy = false;
    }
    stopTimer();
    metrics.commands.labels(tenant.name, 'lm', command, result).inc();
    await drained(socket);
    return !(c.draining || socket.destroyed || tenant.closed);
  };
  /** Stores a complete PUT (its value: metadata prefix + payload). */
  const store = (request: lm.LmRequest, value: Buffer) => run(request, () => tenant.connector.put(request.key, value).finally(() => pool.give(value)));
  try {
    for await (const chunk of socket.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      let pos = 0;
      while (pos < chunk.length) {
        if (put) {
          const n = Math.min(put.value.length - put.filled, chunk.length - pos);
          chunk.copy(put.value, put.filled, pos, pos + n);
          put.filled += n;
          pos += n;
          if (put.filled < put.value.length) break;
          const { request, value } = put;
          put = undefined;
          if (!(await store(request, value))) return;
          continue;
        }
        const n = Math.min(lm.REQUEST_HEADER_BYTES - have, chunk.length - pos);
        chunk.copy(header, have, pos, pos + n);
        have += n;
        pos += n;
        if (have < lm.REQUEST_HEADER_BYTES) break;
        have = 0;
        const request = lm.decodeRequest(header);
        let more: boolean;
        if (request.command === lm.LM_PUT) {
          const max = tenant.maxObjectBytes - lm.STORED_META_BYTES;
          if (request.length < 0) throw new ProtocolError(`lm:// PUT with a negative length (${request.length})`);
          if (request.length > max) {
            throw new ProtocolError(`lm:// PUT of ${request.length} bytes is over this tenant's limit of ${max} (limits.maxObjectBytes ${tenant.maxObjectBytes} less the ${lm.STORED_META_BYTES}-byte stored header)`);
          }
          const value = pool.take(lm.STORED_META_BYTES + request.length);
          lm.writeStoredMeta(value, request.meta);
          if (request.length > 0) {
            put = { request, value, filled: lm.STORED_META_BYTES };
            continue;
          }
          more = await store(request, value);
        } else more = await run(request, () => answer(socket, tenant, pool, request));
        if (!more) return;
      }
    }
  } catch (err) {
    if (!(err instanceof ProtocolError)) return;
    metrics.protocolErrors.labels('lm').inc();
    log.info({ listener: 'lm', tenant: tenant.name, remote: socket.remoteAddress, reason: err.message }, 'protocol error; closing the connection');
  } finally {
    if (put) pool.give(put.value);
  }
}

/** GET, EXIST, HEALTH; nothing for LIST and unknown commands. */
async function answer(socket: Socket, tenant: Tenant, pool: BufferPool, request: lm.LmRequest): Promise<void> {
  switch (request.command) {
    case lm.LM_HEALTH:
      socket.write(lm.encodeReply(lm.LM_OK));
      return;
    case lm.LM_EXIST:
      socket.write(lm.encodeReply((await tenant.connector.exists(request.key)) ? lm.LM_OK : lm.LM_FAIL));
      return;
    case lm.LM_GET: {
      const value = await readValue(pool, tenant, request.key);
      if (!value) {
        socket.write(lm.encodeReply(lm.LM_FAIL));
        return;
      }
      const { meta, payload } = lm.readStoredMeta(value.bytes);
      socket.cork();
      socket.write(lm.encodeReply(lm.LM_OK, payload.length, meta));
      socket.write(payload, value.release && (() => value.release!()));
      socket.uncork();
      return;
    }
    default:
      return; // LIST and unknown commands: no reply, as LMCache's server does
  }
}
