/**
 * The server configuration's schema (zod). The file is JSON or TOML of this
 * shape; docs/serving.md documents every field and docs/examples/serve.toml
 * is a complete example.
 */
import { z } from 'zod';
import { type Limits, LIMITS_SPECS, type Quota, QUOTA_SPECS } from '../generated/contract.js';
import { isSecretRef } from './secrets.js';

/** Largest value a tenant accepts by default when its `limits.maxObjectBytes` is not set (the library allows 1 GiB). */
export const SERVE_DEFAULT_MAX_OBJECT_BYTES = 64 * 2 ** 20;

const secret = z
  .string()
  .refine(isSecretRef, 'must be a scrypt hash ("scrypt$…", made by `kvbox serve --hash-password`), "env:VAR" or "file:/path" — never the secret itself');

/** A secret the server must read back (an S3 secret key): `env:VAR` or `file:/path` only. */
const secretRef = z
  .string()
  .regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+)$/, 'must be "env:VAR" or "file:/path" — never the secret itself');

/**
 * Where a tenant's objects live; field values are checked again by the core
 * when the tenant opens. Also `kvbox <tenant command> --storage`'s schema.
 */
export const storageSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('fs') }),
  z.strictObject({
    kind: z.literal('s3'),
    endpoint: z.string().regex(/^https?:\/\/[^/?#\s]+/, 'must be an http:// or https:// URL'),
    bucket: z.string().min(1).max(255),
    prefix: z.string().max(512).default(''),
    region: z.string().min(1).optional(),
    credentials: z.strictObject({ accessKeyId: z.string().min(1), secretAccessKey: secretRef, sessionToken: secretRef.optional() }).optional(),
    requestTimeoutMs: z.number().int().min(1).max(3_600_000).optional(),
    retries: z.number().int().min(0).max(10).optional(),
    usageRefreshMs: z.number().int().min(0).optional(),
  }),
]);

const host = z.string().min(1).default('127.0.0.1');
const port = z.number().int().min(0).max(65_535);

/**
 * Limits and quotas: names and ranges from the contract the Rust core declares
 * (host/generated/contract.ts), so a configuration error is reported at its
 * field when the file is loaded.
 */
function settings(specs: Record<string, { min: number; max: number }>) {
  return z.strictObject(Object.fromEntries(Object.entries(specs).map(([name, s]) => [name, z.number().int().min(s.min).max(s.max).optional()])));
}

const tenant = z
  .object({
    /** `fs` (the bundled sandboxed connector), `native-fs` (the trusted fast path) or a path to a `.wasm` component. */
    connector: z.string().min(1),
    /** sha256 (hex) of the `.wasm` file; required for a path, checked before anything is compiled. */
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits')
      .optional(),
    /** The tenant's directory (relative paths: from the config file's folder); not used with S3 storage. */
    root: z.string().min(1).optional(),
    /** Where the objects live: `{ kind = "fs" }` (in `root`, the default) or `{ kind = "s3", endpoint, bucket, prefix, credentials }`. */
    storage: storageSchema.default({ kind: 'fs' }),
    /** The connector's own configuration. */
    config: z.record(z.string(), z.unknown()).default({}),
    limits: settings(LIMITS_SPECS)
      .default({})
      .transform((l) => l as Limits),
    quota: settings(QUOTA_SPECS)
      .default({})
      .transform((q) => q as Quota),
    durable: z.boolean().default(true),
    directIo: z.boolean().default(true),
    checksums: z.boolean().default(false),
    /** RESP credentials: `AUTH <username> <password>`; `AUTH <password>` means username `default`. */
    auth: z.strictObject({
      username: z.string().min(1).max(256).optional(),
      password: secret,
      /** Most RESP connections authenticated as this tenant at once; an AUTH past it is refused and its connection closed [no limit but resp.maxConnections]. */
      maxConnections: z.number().int().min(1).max(1_000_000).optional(),
    }),
    /** LMCache's `lm://` protocol for this tenant, on its own port (no credentials in that protocol). */
    lm: z.strictObject({ host, port }).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.storage.kind === 'fs' && t.root === undefined) {
      ctx.addIssue({ code: 'custom', path: ['root'], message: 'is required (the tenant directory) unless storage.kind is "s3"' });
    }
    if (t.storage.kind === 's3' && t.connector !== 'fs' && t.connector !== 'native-fs' && !t.connector.endsWith('.wasm')) {
      ctx.addIssue({ code: 'custom', path: ['storage'], message: 'S3 storage works with "fs", "native-fs" or a .wasm connector' });
    }
    if (!BUILTIN_CONNECTORS.includes(t.connector) && !t.connector.endsWith('.wasm')) {
      ctx.addIssue({ code: 'custom', path: ['connector'], message: `must be ${BUILTIN_CONNECTORS.join(' or ')}, or a path to a .wasm component; got "${t.connector}"` });
    } else if (!BUILTIN_CONNECTORS.includes(t.connector) && t.sha256 === undefined) {
      ctx.addIssue({ code: 'custom', path: ['sha256'], message: `is required for a .wasm connector (pin the file: sha256sum ${t.connector})` });
    }
  });

/** Connector names that need no file. */
export const BUILTIN_CONNECTORS: readonly string[] = ['fs', 'native-fs'];

/** The whole configuration file. */
export const serveConfigSchema = z
  .object({
    /** The RESP listener (one port for every tenant). Absent: no RESP. */
    resp: z
      .strictObject({
        host,
        port,
        /** Most connections at once; more are refused [1024]. */
        maxConnections: z.number().int().min(1).max(1_000_000).default(1024),
        /** A connection that has not authenticated this long after connecting is closed [10 000 ms]. */
        authTimeoutMs: z.number().int().min(1).max(3_600_000).default(10_000),
      })
      .optional(),
    /** The HTTP admin listener: /metrics, /healthz, /readyz, POST /reload. Absent: none. */
    admin: z
      .strictObject({
        host,
        port,
        /** Bearer token required by POST /reload (a secret reference); without it, reload over HTTP is off. */
        token: secret.optional(),
      })
      .optional(),
    log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).default({ level: 'info' }),
    /** Compiled-code cache for `.wasm` connectors [the library's default]; `false` for none. */
    cacheDir: z.union([z.string().min(1), z.literal(false)]).optional(),
    /** Bytes of value buffers kept for reuse across requests [256 MiB]. */
    bufferPoolBytes: z.number().int().min(0).default(256 * 2 ** 20),
    tenants: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'tenant names are 1–64 of A-Z a-z 0-9 _ . -'), tenant),
  })
  .strict();

/** A configuration as written (before defaults). */
export type ServeConfigInput = z.input<typeof serveConfigSchema>;
/** A validated configuration, defaults applied. */
export type ServeConfig = z.output<typeof serveConfigSchema>;
/** One validated tenant. */
export type TenantConfig = ServeConfig['tenants'][string];
/** One tenant's storage, as parsed (secrets still references). */
export type StorageConfig = z.output<typeof storageSchema>;
