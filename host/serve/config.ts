/**
 * Loading the server configuration: read (JSON or TOML), validate with the
 * schema, resolve relative paths and secrets. Every error is a
 * {@link ServeConfigError} naming the file, the tenant and the field.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { ZodError } from 'zod';
import { ServeConfigError } from './errors.js';
import { serveConfigSchema, type ServeConfig, type ServeConfigInput, type StorageConfig, type TenantConfig } from './config-schema.js';
import type { StorageOptions } from '../options.js';
import { readSecretRef, type SecretCheck, secretCheck } from './secrets.js';

/** A tenant ready to open: paths absolute, secrets resolved. */
export interface ResolvedTenant extends Omit<TenantConfig, 'root' | 'storage'> {
  name: string;
  /** The tenant directory (absolute); `''` on S3. */
  root: string;
  /** Where the objects live, secrets read. */
  storage: StorageOptions;
  /** Checks a RESP password. */
  checkPassword: SecretCheck;
  /** The RESP username (`default` when the config names none). */
  username: string;
}

/** A loaded configuration. */
export interface LoadedConfig extends Omit<ServeConfig, 'tenants'> {
  /** Where it came from, for messages (a path, or `<inline config>`). */
  source: string;
  tenants: Map<string, ResolvedTenant>;
  /** Checks the admin token, when one is configured. */
  checkAdminToken?: SecretCheck;
}

/**
 * Reads and validates a configuration file (`.toml`, else JSON).
 * @throws {@link ServeConfigError}
 */
export function loadConfigFile(path: string): LoadedConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ServeConfigError(`${file}: cannot read the configuration (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = extname(file) === '.toml' ? parseToml(text) : JSON.parse(text);
  } catch (err) {
    // smol-toml's message carries a code frame over several lines; its position is in line/column.
    const { line, column } = err as { line?: number; column?: number };
    const first = (err as Error).message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    const where = line === undefined ? '' : ` at line ${line}, column ${column}`;
    throw new ServeConfigError(`${file}: not valid ${extname(file) === '.toml' ? 'TOML' : 'JSON'}${where}: ${first}`, { cause: err });
  }
  return resolveConfig(raw, file, dirname(file));
}

/** `inner` lies strictly beneath `outer`, segment-wise (`/a/b` is inside `/a`, `/ab` is not). */
function within(inner: string, outer: string): boolean {
  return inner.startsWith(outer.endsWith('/') ? outer : `${outer}/`);
}

/** An endpoint URL as a comparable string: scheme and host lower-cased, default port and trailing `/` dropped. */
function sameEndpoint(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return endpoint;
  }
}

/** `path` with symbolic links resolved in the part of it that exists (a root may not exist yet). */
function canonicalPath(path: string): string {
  const missing: string[] = [];
  let at = path;
  for (;;) {
    try {
      return join(realpathSync(at), ...missing.reverse());
    } catch {
      const up = dirname(at);
      if (up === at) return path;
      missing.push(basename(at));
      at = up;
    }
  }
}

/**
 * Validates a configuration given as an object.
 * @param source - named in error messages.
 * @param baseDir - relative roots and paths resolve from here.
 * @throws {@link ServeConfigError}
 */
export function resolveConfig(raw: unknown | ServeConfigInput, source = '<inline config>', baseDir = process.cwd()): LoadedConfig {
  const parsed = serveConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ServeConfigError(formatIssues(source, parsed.error));
  const config = parsed.data;
  const tenants = new Map<string, ResolvedTenant>();
  const usernames = new Map<string, string>();
  const roots = new Map<string, { name: string; shown: string }>();
  for (const [name, t] of Object.entries(config.tenants)) {
    const at = (field: string, message: string) => new ServeConfigError(`${source}: tenant "${name}", field ${field}: ${message}`);
    const username = t.auth.username ?? 'default';
    const other = usernames.get(username);
    if (other !== undefined) throw at('auth.username', `"${username}" is also tenant "${other}"'s username`);
    usernames.set(username, name);
    const root = t.storage.kind === 'fs' ? resolve(baseDir, t.root!) : '';
    // Where the tenant's objects live, as `/`-separated segments: no other tenant's may be the same, or
    // inside it, or contain it (a tenant whose root is inside another's reads and writes the other's objects).
    const where = t.storage;
    const fs = where.kind === 'fs';
    const prefix = where.kind === 'fs' ? '' : where.prefix.replace(/^\/+|\/+$/g, '');
    const place = where.kind === 'fs' ? canonicalPath(root) : `s3:${sameEndpoint(where.endpoint)}|${where.bucket}|/${prefix}`;
    const shown = where.kind === 'fs' ? root : `s3 ${where.endpoint}/${where.bucket}/${prefix}`;
    for (const [other, owner] of roots) {
      const relation = other === place ? 'is also' : within(place, other) ? 'is inside' : within(other, place) ? 'contains' : undefined;
      if (relation === undefined) continue;
      throw fs
        ? at('root', `${shown} ${relation} tenant "${owner.name}"'s root${relation === 'is also' ? '' : ` ${owner.shown}`} (tenants' directories must not overlap)`)
        : at('storage', `${shown} ${relation} tenant "${owner.name}"'s prefix${relation === 'is also' ? '' : ` ${owner.shown}`} (tenants' prefixes must not overlap)`);
    }
    roots.set(place, { name, shown });
    const storage = resolveStorage(t.storage, at);
    let checkPassword: SecretCheck;
    try {
      checkPassword = secretCheck(t.auth.password);
    } catch (err) {
      throw at('auth.password', (err as Error).message);
    }
    const connector = t.connector.endsWith('.wasm') ? resolve(baseDir, t.connector) : t.connector;
    tenants.set(name, { ...t, name, root, storage, connector, username, checkPassword });
  }
  let checkAdminToken: SecretCheck | undefined;
  if (config.admin?.token !== undefined) {
    try {
      checkAdminToken = secretCheck(config.admin.token);
    } catch (err) {
      throw new ServeConfigError(`${source}: field admin.token: ${(err as Error).message}`);
    }
  }
  const cacheDir = typeof config.cacheDir === 'string' ? resolve(baseDir, config.cacheDir) : config.cacheDir;
  return { ...config, cacheDir, source, tenants, checkAdminToken };
}

/**
 * Storage as the library takes it, its secret references (`env:VAR`,
 * `file:/path`) read; `fail(field, message)` makes the error to throw.
 */
export function resolveStorage(config: StorageConfig, fail: (field: string, message: string) => Error): StorageOptions {
  if (config.kind === 'fs') return { kind: 'fs' };
  const { credentials, ...rest } = config;
  const storage: StorageOptions = { ...rest };
  if (credentials !== undefined) {
    const read = (field: string, ref: string) => {
      try {
        return readSecretRef(ref);
      } catch (err) {
        throw fail(`storage.credentials.${field}`, (err as Error).message);
      }
    };
    storage.credentials = {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: read('secretAccessKey', credentials.secretAccessKey),
      ...(credentials.sessionToken === undefined ? {} : { sessionToken: read('sessionToken', credentials.sessionToken) }),
    };
  }
  return storage;
}

/** The schema's complaints as one line (the CLI prints errors on one): `file: problem; problem; …`. */
function formatIssues(source: string, error: ZodError): string {
  const problems = error.issues.slice(0, 10).map((issue) => {
    const path = [...issue.path].map(String);
    const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.map((k) => JSON.stringify(k)).join(', ')})` : '';
    if (path[0] === 'tenants' && path.length >= 2) {
      const field = path.slice(2).join('.') || '(the tenant itself)';
      return `tenant "${path[1]}", field ${field}: ${issue.message}${keys}`;
    }
    return `field ${path.join('.') || '(top level)'}: ${issue.message}${keys}`;
  });
  if (error.issues.length > 10) problems.push(`… and ${error.issues.length - 10} more`);
  const count = error.issues.length > 1 ? `${error.issues.length} problems: ` : '';
  return `${source}: ${count}${problems.join('; ')}`;
}
