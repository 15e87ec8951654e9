/**
 * The RESP listener: one port for every tenant. Each connection runs its
 * requests one after another and replies in order (pipelining works, and a
 * pipelined SET then GET of one key sees the SET). Memory per connection
 * stays bounded: the socket is read only when the previous request is done
 * and its reply has drained, so TCP pushes back on a client that sends
 * faster than its tenant stores, or reads slower than it asks.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ProtocolError } from '../errors.js';
import { drained, type ListenOptions, sayAndClose, TcpListener, type TrackedConnection } from '../tcp-listener.js';
import { commandLabel, dispatch } from './commands.js';
import { RespParser } from './parser.js';
import { errorReply, ReplyError, ReplyWriter } from './reply.js';
import { ScanCursors } from './scan.js';
import type { RespServerContext, Session } from './session.js';

/** Largest bulk before AUTH (enough for any credentials). */
const PRE_AUTH_MAX_BULK = 64 * 1024;

/** What the listener needs from the server. */
export type RespContext = Omit<RespServerContext, 'connectedClients' | 'port'>;

/** Creates the RESP listener (call `listen()` on it). */
export function respListener(context: RespContext, options: Omit<ListenOptions, 'refusal'> & { authTimeoutMs: number }, log: Logger): TcpListener {
  let nextId = 1;
  const listener: TcpListener = new TcpListener('resp', { ...options, refusal: '-ERR max number of clients reached\r\n' }, context.metrics, (socket, track) => {
    const session: Session = {
      id: nextId++,
      tenant: undefined,
      name: undefined,
      quit: false,
      reply: new ReplyWriter(socket),
      server: { ...context, connectedClients: () => listener.connections, port: () => listener.address.port },
      cursors: new ScanCursors(),
      // Commands run corked (one writev per reply); to wait for room, let what is queued go first.
      drained: async () => {
        socket.uncork();
        await drained(socket);
        socket.cork();
      },
    };
    const connection: TrackedConnection = { socket, busy: false, draining: false, tenant: () => session.tenant };
    track(connection);
    // Unauthenticated connections must not hold the listener's slots: AUTH in time or be closed.
    const authDeadline = setTimeout(() => {
      if (session.tenant || socket.destroyed) return;
      context.metrics.authTimeouts.inc();
      log.info({ listener: 'resp', remote: socket.remoteAddress, ms: options.authTimeoutMs }, 'closing a connection that did not authenticate in time');
      sayAndClose(socket, '-ERR authentication timeout\r\n');
    }, options.authTimeoutMs).unref();
    return serve(connection, session, context, log).finally(() => {
      clearTimeout(authDeadline);
      if (session.tenant) context.registry.releaseConnection(session.tenant);
    });
  });
  return listener;
}

async function serve(c: TrackedConnection, session: Session, context: RespContext, log: Logger): Promise<void> {
  const socket: Socket = c.socket;
  const { pool, metrics } = context;
  const parser = new RespParser(pool, () => (session.tenant ? session.tenant.maxObjectBytes : PRE_AUTH_MAX_BULK));
  try {
    // Leaving the loop must not destroy the socket: the last reply (QUIT's, a protocol error's) still has to go out.
    for await (const chunk of socket.iterator({ destroyOnReturn: false })) {
      for (const request of parser.feed(chunk as Buffer)) {
        c.busy = true;
        const command = commandLabel(request.args);
        const stopTimer = metrics.commandSeconds.startTimer({ protocol: 'resp', command });
        let result = 'ok';
        socket.cork();
        try {
          await dispatch(session, request.args);
        } catch (err) {
          result = 'error';
          session.reply.error(errorReply(err));
          if (!(err instanceof ReplyError)) log.debug({ err, tenant: session.tenant?.name, command }, 'command failed');
          // An audit trail of failed logins (never the password given).
          else if (err.message.startsWith('WRONGPASS')) log.warn({ listener: 'resp', remote: socket.remoteAddress, command, tenant: session.tenant?.name }, 'authentication failed');
        } finally {
          for (const b of request.pooled) pool.give(b);
          socket.uncork();
          c.busy = false;
        }
        stopTimer();
        metrics.commands.labels(session.tenant?.name ?? '-', 'resp', command, result).inc();
        if (session.quit || c.draining || socket.destroyed) return;
        await drained(socket);
      }
    }
  } catch (err) {
    if (!(err instanceof ProtocolError)) return; // the socket failed: nothing to answer
    metrics.protocolErrors.labels('resp').inc();
    log.info({ listener: 'resp', tenant: session.tenant?.name, remote: socket.remoteAddress, reason: err.message }, 'protocol error; closing the connection');
    if (!socket.destroyed) socket.end(`-ERR ${err.message.replace(/[\r\n]+/g, ' ')}\r\n`);
  } finally {
    parser.discard();
  }
}
