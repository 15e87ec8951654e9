/**
 * What the RESP and lm:// listeners share: binding, counting and tracking
 * connections, dropping a tenant's connections, and a graceful close that
 * lets each connection finish the request it is running.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { ListenError } from './errors.js';
import type { ServeMetrics } from './metrics.js';
import type { Tenant } from './tenants.js';

/** How long a socket closed with a last line may take to send it before it is destroyed. */
const LAST_LINE_MS = 1000;

/**
 * Sends `line` and closes: the socket is destroyed once the line is out, or after {@link LAST_LINE_MS} in
 * any case — a client that stopped reading would otherwise keep it (and its descriptor) open for good,
 * since `end` never finishes.
 */
export function sayAndClose(socket: Socket, line: string): void {
  const timer = setTimeout(() => socket.destroy(), LAST_LINE_MS).unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end(line, () => socket.destroy());
}

/** One client connection as its listener tracks it. */
export interface TrackedConnection {
  readonly socket: Socket;
  /** A request is running: a shutdown waits for it. */
  busy: boolean;
  /** Set by a shutdown: end after the running request. */
  draining: boolean;
  /** The tenant this connection acts for, once known. */
  tenant(): Tenant | undefined;
}

/** Where and how to listen. */
export interface ListenOptions {
  host: string;
  port: number;
  /** Most connections at once; more are refused with `refusal` (when given) and closed. */
  maxConnections: number;
  refusal?: string;
}

/** A TCP listener whose connections are served by `serve`. */
export class TcpListener {
  readonly #server: Server;
  readonly #connections = new Map<TrackedConnection, Promise<void>>();
  /** Refused sockets still sending their refusal ({@link sayAndClose}). */
  readonly #refused = new Set<Socket>();
  readonly #options: ListenOptions;

  constructor(
    readonly protocol: 'resp' | 'lm',
    options: ListenOptions,
    metrics: ServeMetrics,
    serve: (socket: Socket, track: (c: TrackedConnection) => void) => Promise<void>,
  ) {
    this.#options = options;
    const gauge = metrics.connections.labels(protocol);
    this.#server = createServer({ noDelay: true }, (socket) => {
      socket.on('error', () => {}); // a reset ends the connection's read loop; nothing to report
      if (this.#connections.size >= options.maxConnections) {
        // Never read: destroyed once the refusal is out (or after a while), so a full listener
        // does not keep one descriptor per refused client, nor a shutdown waiting on them.
        metrics.connectionsRefused.labels(protocol).inc();
        this.#refused.add(socket);
        socket.once('close', () => this.#refused.delete(socket));
        sayAndClose(socket, options.refusal ?? '');
        return;
      }
      gauge.inc();
      let tracked: TrackedConnection | undefined;
      // `serve` must call `track` before its first await.
      const done = serve(socket, (c) => (tracked = c)).finally(() => {
        if (tracked) this.#connections.delete(tracked);
        gauge.dec();
        if (!socket.destroyed) socket.end(() => socket.destroy());
      });
      if (tracked) this.#connections.set(tracked, done);
    });
  }

  /** Binds. @throws {@link ListenError} */
  listen(): Promise<AddressInfo> {
    const { host, port } = this.#options;
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => reject(new ListenError(`${this.protocol} listener cannot bind ${host}:${port}: ${err.message}`, { cause: err }));
      this.#server.once('error', fail);
      this.#server.listen(port, host, () => {
        this.#server.off('error', fail);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /** The bound address (after {@link listen}). */
  get address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Drops every connection acting for `tenant` (it was removed or reopened). */
  dropTenant(tenant: Tenant): void {
    for (const c of this.#connections.keys()) if (c.tenant() === tenant) c.socket.destroy();
  }

  /**
   * Stops accepting; each connection finishes the request it is running,
   * then closes. A connection still open after `graceMs` (a client that
   * stopped reading its reply) is destroyed.
   */
  async close(graceMs = 10_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#refused) socket.destroy();
    for (const c of this.#connections.keys()) {
      c.draining = true;
      if (!c.busy) c.socket.end(() => c.socket.destroy());
    }
    const deadline = setTimeout(() => {
      for (const c of this.#connections.keys()) c.socket.destroy();
    }, graceMs);
    await Promise.all(this.#connections.values());
    clearTimeout(deadline);
    await closed;
  }
}

/** Resolves when the socket's write buffer has room again (or the socket is gone). */
export function drained(socket: Socket): Promise<void> {
  if (!socket.writableNeedDrain || socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
