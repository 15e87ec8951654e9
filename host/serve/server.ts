/**
 * `createServer(config)`: the kvbox server's lifecycle — open the tenants,
 * bind the RESP, lm:// and admin listeners, reload, and shut down
 * gracefully (stop accepting, finish requests in flight, close the tenants).
 */
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { listenAdmin } from './admin.js';
import { BufferPool } from './buffer-pool.js';
import type { ServeConfigInput } from './config-schema.js';
import { type LoadedConfig, loadConfigFile, resolveConfig } from './config.js';
import { lmListener } from './lm/listener.js';
import { createLogger, forwardConnectorLogs } from './log.js';
import { ServeMetrics } from './metrics.js';
import { respListener } from './resp/listener.js';
import type { TcpListener } from './tcp-listener.js';
import { type ReloadReport, TenantRegistry } from './tenants.js';

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** The logger [pino to stdout at the configuration's `log.level`]. */
  logger?: Logger;
}

/** A configuration: a path to a JSON or TOML file, or the same shape as an object. */
export type ServerConfigSource = string | ServeConfigInput;

/**
 * Starts a server.
 * @example
 * ```ts
 * const server = await createServer('/etc/kvbox/serve.toml');
 * console.log(server.resp?.port);
 * await server.close();
 * ```
 * @throws {@link ServeConfigError}, {@link PinMismatchError}, {@link ListenError}
 */
export async function createServer(config: ServerConfigSource, options: ServerOptions = {}): Promise<KvboxServer> {
  const loaded = load(config);
  const server = new KvboxServer(config, loaded, options.logger ?? createLogger(loaded.log.level));
  await server.start();
  return server;
}

function load(source: ServerConfigSource): LoadedConfig {
  return typeof source === 'string' ? loadConfigFile(source) : resolveConfig(source);
}

/** A running server. Use {@link createServer}. */
export class KvboxServer {
  readonly log: Logger;
  readonly metrics: ServeMetrics;
  #source: ServerConfigSource;
  #config: LoadedConfig;
  #registry: TenantRegistry | undefined;
  readonly #pool: BufferPool;
  #resp: TcpListener | undefined;
  #admin: HttpServer | undefined;
  readonly #lm = new Map<string, TcpListener>();
  #stopLogs: () => void = () => {};
  #state: 'starting' | 'ready' | 'closing' | 'closed' = 'starting';
  #closing: Promise<void> | undefined;

  /** @internal */
  constructor(source: ServerConfigSource, config: LoadedConfig, log: Logger) {
    this.#source = source;
    this.#config = config;
    this.log = log;
    this.#pool = new BufferPool(config.bufferPoolBytes);
    this.metrics = new ServeMetrics(() => this.#registry);
  }

  /** @internal Opens tenants and binds listeners; on failure undoes what it did. */
  async start(): Promise<void> {
    try {
      this.#registry = await TenantRegistry.open(this.#config);
      this.#stopLogs = forwardConnectorLogs(() => this.#registry, this.log);
      const { resp, admin } = this.#config;
      if (resp) {
        this.#resp = respListener({ registry: this.#registry, pool: this.#pool, metrics: this.metrics }, resp, this.log);
        await this.#resp.listen();
      }
      for (const t of this.#config.tenants.values()) if (t.lm) await this.#startLm(t.name, t.lm);
      if (admin) this.#admin = await listenAdmin(this, admin.host, admin.port);
    } catch (err) {
      // Said before the shutdown lines, so a failed start does not read like a normal stop.
      this.log.error({ err: { type: (err as Error).name, code: (err as { code?: string }).code, message: (err as Error).message } }, 'start failed; undoing what started');
      await this.close();
      throw err;
    }
    this.#state = 'ready';
    this.log.info({ resp: this.resp, admin: this.admin, lm: Object.fromEntries(this.lm), tenants: [...this.#config.tenants.keys()] }, 'kvbox serve ready');
  }

  /** Whether every listener is bound and the server is not shutting down. */
  get ready(): boolean {
    return this.#state === 'ready';
  }

  /** The RESP listener's address, when configured. */
  get resp(): AddressInfo | undefined {
    return this.#resp?.address;
  }

  /** The admin listener's address, when configured. */
  get admin(): AddressInfo | undefined {
    return this.#admin?.address() as AddressInfo | undefined;
  }

  /** Each lm:// listener's address, by tenant. */
  get lm(): Map<string, AddressInfo> {
    return new Map([...this.#lm].map(([name, l]) => [name, l.address]));
  }

  /** @internal For the admin listener. */
  adminToken() {
    return this.#config.checkAdminToken;
  }

  /**
   * Applies a new configuration: adds and removes tenants, reopens those
   * whose storage settings changed (dropping their connections), updates
   * credentials and lm:// listeners; other tenants' connections are kept.
   * The RESP and admin listeners' addresses change only with a restart.
   * @param config - a new configuration [the file the server was started from, read again].
   * @throws {@link ServeConfigError} (nothing applied), or a {@link KvboxError} naming the tenants that failed to open.
   */
  async reload(config: ServerConfigSource = this.#source): Promise<ReloadReport> {
    if (this.#state !== 'ready' || !this.#registry) throw new Error('the server is not running');
    let next: LoadedConfig;
    try {
      next = load(config);
    } catch (err) {
      this.metrics.reloads.labels('invalid').inc();
      throw err;
    }
    if (JSON.stringify([next.resp, next.admin?.host, next.admin?.port]) !== JSON.stringify([this.#config.resp, this.#config.admin?.host, this.#config.admin?.port])) {
      this.log.warn('reload: the resp and admin listener settings take effect only at a restart');
    }
    const oldLm = new Map([...this.#config.tenants].map(([n, t]) => [n, JSON.stringify(t.lm)]));
    this.#source = config;
    this.#config = next;
    const dropped: string[] = [];
    let report: ReloadReport;
    try {
      report = await this.#registry.apply(next, (t) => {
        dropped.push(t.name);
        this.#resp?.dropTenant(t);
        this.#lm.get(t.name)?.dropTenant(t);
      });
    } finally {
      // lm:// listeners follow their tenants: closed when removed or moved, opened when added or moved.
      for (const [name, listener] of this.#lm) {
        if (JSON.stringify(next.tenants.get(name)?.lm) !== oldLm.get(name)) {
          await listener.close();
          this.#lm.delete(name);
        }
      }
      for (const t of next.tenants.values()) if (t.lm && !this.#lm.has(t.name) && this.#registry.get(t.name)) await this.#startLm(t.name, t.lm);
    }
    this.metrics.reloads.labels('ok').inc();
    this.log.info({ ...report, dropped }, 'configuration reloaded');
    return report;
  }

  /**
   * Shuts down gracefully: stops accepting, lets every connection finish the
   * request it is running (its reply is sent; an acknowledged write is on
   * disk), then closes the tenants. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closing';
    this.log.info('shutting down: finishing requests in flight');
    await Promise.all([this.#resp?.close(), ...[...this.#lm.values()].map((l) => l.close())]);
    await this.#registry?.closeAll();
    this.#stopLogs();
    this.metrics.close();
    if (this.#admin) {
      this.#admin.closeAllConnections();
      await new Promise<void>((resolve) => this.#admin!.close(() => resolve()));
    }
    this.#state = 'closed';
    this.log.info('stopped');
  }

  async #startLm(name: string, at: { host: string; port: number }): Promise<void> {
    const listener = lmListener({ pool: this.#pool, metrics: this.metrics, tenant: () => this.#registry?.get(name) }, at, this.log);
    await listener.listen();
    this.#lm.set(name, listener);
  }
}
