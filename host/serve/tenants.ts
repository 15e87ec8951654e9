/**
 * The tenants a server serves: each one's open connector, found by RESP
 * username or by connector (for metrics); opened with `.wasm` connectors
 * pinned by sha256, and changed in place by a reload.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import type { Connector } from '../connector.js';
import { KvboxError } from '../errors.js';
import { compileConnector, FS_CONNECTOR, NATIVE_FS } from '../load.js';
import { SERVE_DEFAULT_MAX_OBJECT_BYTES } from './config-schema.js';
import type { LoadedConfig, ResolvedTenant } from './config.js';
import { PinMismatchError, ServeConfigError } from './errors.js';

/** One open tenant. */
export class Tenant {
  /** Set when the tenant was closed by a reload or shutdown; its connections are dropped. */
  closed = false;
  /**
   * Size of the last value stored or read: GET reads into a pooled buffer of
   * this size (KV chunks have one fixed size per deployment), falling back
   * to an allocating read when the object is larger.
   */
  sizeHint = 0;

  constructor(
    /** Its configuration (replaced in place when a reload changes only credentials or the lm listener). */
    public config: ResolvedTenant,
    readonly connector: Connector,
  ) {}

  get name(): string {
    return this.config.name;
  }

  /** The largest value this tenant accepts. */
  get maxObjectBytes(): number {
    return this.config.limits.maxObjectBytes ?? SERVE_DEFAULT_MAX_OBJECT_BYTES;
  }
}

/** What a reload changed. */
export interface ReloadReport {
  added: string[];
  removed: string[];
  /** Reopened because their storage settings changed (their connections were dropped). */
  reopened: string[];
  /** Credentials or listener settings changed; connections kept. */
  updated: string[];
}

/** The open tenants. */
export class TenantRegistry {
  readonly #byName = new Map<string, Tenant>();
  readonly #byConnector = new WeakMap<Connector, Tenant>();
  /**
   * RESP connections authenticated as each tenant, by name: a reload that reopens a tenant makes a new
   * {@link Tenant}, and its old connections (still draining) keep counting against the same limit.
   */
  readonly #respConnections = new Map<string, number>();

  /** Counts a RESP connection as `t`'s; `false` (nothing counted) when it already has `auth.maxConnections`. */
  claimConnection(t: Tenant): boolean {
    const n = this.#respConnections.get(t.name) ?? 0;
    if (n >= (t.config.auth.maxConnections ?? Infinity)) return false;
    this.#respConnections.set(t.name, n + 1);
    return true;
  }

  /** Ends a RESP connection counted by {@link claimConnection}. */
  releaseConnection(t: Tenant): void {
    const n = (this.#respConnections.get(t.name) ?? 0) - 1;
    if (n > 0) this.#respConnections.set(t.name, n);
    else this.#respConnections.delete(t.name);
  }

  /** RESP connections authenticated as the tenant of that name, now. */
  respConnections(name: string): number {
    return this.#respConnections.get(name) ?? 0;
  }

  /** Opens every tenant of `config`; on a failure closes those already open. @throws {@link ServeConfigError}, {@link PinMismatchError} */
  static async open(config: LoadedConfig): Promise<TenantRegistry> {
    const registry = new TenantRegistry();
    try {
      for (const t of config.tenants.values()) registry.#add(await openTenant(t, config));
    } catch (err) {
      await registry.closeAll();
      throw err;
    }
    return registry;
  }

  /** The tenant whose RESP credentials these are, or `undefined`. Always runs one check, so timing does not reveal usernames. */
  async authenticate(username: string, password: Buffer): Promise<Tenant | undefined> {
    const tenant = [...this.#byName.values()].find((t) => t.config.username === username);
    const ok = tenant ? await tenant.config.checkPassword(password) : false;
    return ok ? tenant : undefined;
  }

  /** The open tenant of that name. */
  get(name: string): Tenant | undefined {
    return this.#byName.get(name);
  }

  /** The tenant a connector belongs to (for metrics and logs). */
  ofConnector(connector: Connector): Tenant | undefined {
    return this.#byConnector.get(connector);
  }

  /** Every open tenant. */
  all(): Tenant[] {
    return [...this.#byName.values()];
  }

  /**
   * Moves to a new configuration: removed and reopened tenants are closed
   * first (their directories are locked while open), then added and
   * reopened ones opened. Tenants whose storage settings are unchanged stay
   * open. `onClosed` is called for each tenant closed, so listeners drop its connections.
   * @throws {@link KvboxError} when a tenant fails to open; the others are applied.
   */
  async apply(next: LoadedConfig, onClosed: (t: Tenant) => void): Promise<ReloadReport> {
    const report: ReloadReport = { added: [], removed: [], reopened: [], updated: [] };
    const toOpen: ResolvedTenant[] = [];
    for (const [name, old] of this.#byName) {
      const wanted = next.tenants.get(name);
      if (wanted && sameStorage(old.config, wanted)) {
        // Functions never compare equal: compare the settings without the password check.
        if (!isDeepStrictEqual({ ...old.config, checkPassword: 0 }, { ...wanted, checkPassword: 0 })) report.updated.push(name);
        old.config = wanted;
        continue;
      }
      await this.#close(old);
      onClosed(old);
      if (wanted) {
        report.reopened.push(name);
        toOpen.push(wanted);
      } else report.removed.push(name);
    }
    for (const [name, t] of next.tenants) {
      if (!this.#byName.has(name) && !toOpen.includes(t)) {
        report.added.push(name);
        toOpen.push(t);
      }
    }
    const failures: string[] = [];
    for (const t of toOpen) {
      try {
        this.#add(await openTenant(t, next));
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    if (failures.length > 0) throw new KvboxError(`reload applied except: ${failures.join('; ')}`);
    return report;
  }

  /** Closes every tenant (calls in flight finish first, natively). */
  async closeAll(): Promise<void> {
    for (const t of [...this.#byName.values()]) await this.#close(t);
  }

  #add(t: Tenant): void {
    this.#byName.set(t.name, t);
    this.#byConnector.set(t.connector, t);
  }

  async #close(t: Tenant): Promise<void> {
    t.closed = true;
    this.#byName.delete(t.name);
    await t.connector.close();
  }
}

/** Whether two tenant configs open the same storage the same way (so a reload can keep it open). */
function sameStorage(a: ResolvedTenant, b: ResolvedTenant): boolean {
  const storage = (t: ResolvedTenant) => [t.connector, t.sha256, t.root, t.storage, t.config, t.limits, t.quota, t.durable, t.directIo, t.checksums];
  return isDeepStrictEqual(storage(a), storage(b));
}

async function openTenant(t: ResolvedTenant, config: LoadedConfig): Promise<Tenant> {
  const at = `${config.source}: tenant "${t.name}"`;
  let source: string | Buffer;
  if (t.connector === 'native-fs') source = NATIVE_FS;
  else {
    const path = t.connector === 'fs' ? FS_CONNECTOR : t.connector;
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      throw new ServeConfigError(`${at}, field connector: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    // The bytes checked are the bytes compiled: no window to swap the file in between.
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (t.sha256 !== undefined && digest !== t.sha256) {
      throw new PinMismatchError(`${at}, field sha256: ${path} has sha256 ${digest}, the configuration pins ${t.sha256}; refusing to load it`);
    }
    source = bytes;
  }
  try {
    const component = await compileConnector(source, config.cacheDir === undefined ? {} : { cacheDir: config.cacheDir });
    const connector = await component.open({
      ...(t.storage.kind === 's3' ? { storage: t.storage } : { root: t.root }),
      config: t.config,
      limits: { ...t.limits, maxObjectBytes: t.limits.maxObjectBytes ?? SERVE_DEFAULT_MAX_OBJECT_BYTES },
      quota: t.quota,
      durable: t.durable,
      directIo: t.directIo,
      checksums: t.checksums,
    });
    return new Tenant(t, connector);
  } catch (err) {
    const code = err instanceof KvboxError ? ` (${err.code})` : '';
    throw new ServeConfigError(`${at}: cannot open the connector${code}: ${(err as Error).message}`, { cause: err });
  }
}
