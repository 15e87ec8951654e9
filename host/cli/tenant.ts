/**
 * Opening a tenant from the command line: the options every tenant command
 * shares (`--root`, `--connector`, `--native`, `--config`, …) and the one
 * function that turns them into an open {@link Connector}.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Command, InvalidArgumentError as BadOptionValue, Option } from 'commander';
import type { Connector } from '../connector.js';
import { InvalidArgumentError, LoadError } from '../errors.js';
import { compileConnector, type ConnectorComponent, defaultCacheDir, FS_CONNECTOR, NATIVE_FS } from '../load.js';
import type { StorageOptions } from '../options.js';
import { resolveStorage } from '../serve/config.js';
import { storageSchema } from '../serve/config-schema.js';

/** The tenant options as commander parses them. */
export interface TenantFlags {
  /** Required unless `storage` is S3. */
  root?: string;
  storage?: StorageOptions;
  connector?: string;
  native?: boolean;
  config?: Record<string, unknown>;
  create?: boolean;
  buffered?: boolean;
  durable: boolean;
  quotaBytes?: number;
}

/** The global options (`kvbox --cache-dir … <command>`). */
export interface GlobalFlags {
  cacheDir: string | false;
  progress: boolean;
}

/** What a command may do to a missing tenant directory. */
export type RootUse =
  /** Reads only: the tenant directory must exist. */
  | 'existing'
  /** May create the tenant directory, but only inside an existing parent unless `--create`. */
  | 'create';

/**
 * Adds the tenant options to `cmd`, so each command's `--help` lists them.
 * @param defaultRoot - for commands that have one (the demo); others require `--root`.
 * @param writes - `makes` (may make the tenant and store: `--create`, `--quota-bytes`, `--no-durable`),
 *   `changes` (removes: `--no-durable`) or `none` (reads only).
 */
export function tenantOptions(cmd: Command, { defaultRoot, writes = 'none' }: { defaultRoot?: string; writes?: 'none' | 'changes' | 'makes' } = {}): Command {
  const root = new Option('-r, --root <dir>', 'the tenant directory (the only directory the connector can touch); not with S3 --storage');
  if (defaultRoot !== undefined) root.default(defaultRoot);
  cmd
    .addOption(root)
    // Parsed in the hook below, not by an argParser: commander would echo the
    // raw value (a mistyped secret) in its error message.
    .addOption(new Option('--storage <json|@file>', 'S3 storage instead of a directory: {"kind":"s3","endpoint","bucket","prefix","credentials":{"accessKeyId","secretAccessKey":"env:VAR"}} (docs/scaling.md)'))
    .addOption(new Option('-c, --connector <file.wasm>', 'connector component to run [the bundled sandboxed fs-connector]').conflicts('native'))
    .addOption(new Option('--native', 'use the trusted native fast path instead of a sandboxed component'))
    .addOption(new Option('--config <json|@file>', "the connector's JSON configuration, inline or @path").argParser(parseConfig))
    .addOption(new Option('--buffered', 'buffered I/O instead of O_DIRECT'));
  // Only where they mean something: reading commands never make a tenant, write or sync.
  if (writes === 'makes') {
    cmd
      .addOption(new Option('--create', "create the tenant directory's missing parent directories"))
      .addOption(new Option('--quota-bytes <n>', 'most bytes the tenant may store').argParser(parseCount));
  }
  if (writes !== 'none') cmd.addOption(new Option('--no-durable', 'skip fsync (cache mode: a crash may lose recent objects, never tear one)'));
  return cmd
    .hook('preAction', (_, action) => {
      const raw = action.getOptionValue('storage') as string | StorageOptions | undefined;
      if (typeof raw === 'string') {
        try {
          action.setOptionValue('storage', parseStorage(raw));
        } catch (err) {
          action.error(`error: option '--storage': ${(err as Error).message}`);
        }
      }
      const o = action.opts<TenantFlags>();
      const onS3 = o.storage?.kind === 's3';
      if (!onS3 && o.root === undefined) action.error("error: required option '-r, --root <dir>' not specified (or give S3 --storage)");
      if (onS3 && o.root !== undefined && defaultRoot === undefined) action.error('error: --root and S3 --storage are exclusive (an S3 tenant has no directory)');
    });
}

/**
 * Opens the tenant `flags` describe.
 * @param compiled - the component, when the caller compiled it already (to time it).
 * @throws {@link InvalidArgumentError} when the directory (or its parent) is missing; {@link LoadError} naming the file; anything `open` throws.
 */
export async function openTenant(flags: TenantFlags, globals: GlobalFlags, use: RootUse, compiled?: ConnectorComponent): Promise<Connector> {
  const common = {
    config: flags.config ?? {},
    directIo: !flags.buffered,
    durable: flags.durable,
    quota: flags.quotaBytes === undefined ? undefined : { bytes: flags.quotaBytes },
  };
  if (flags.storage?.kind === 's3') {
    const component = compiled ?? (await compile(flags, globals));
    return component.open({ ...common, storage: flags.storage });
  }
  const root = resolve(flags.root!);
  checkRoot(root, use, flags.create === true);
  const component = compiled ?? (await compile(flags, globals));
  if (flags.create) mkdirSync(dirname(root), { recursive: true });
  return component.open({ ...common, root });
}

/** Where the tenant lives, for messages: its directory, or `s3 <endpoint>/<bucket>/<prefix>`. */
export function whereOf(flags: Pick<TenantFlags, 'root' | 'storage'>): string {
  const s = flags.storage;
  if (s?.kind === 's3') return `s3 ${s.endpoint}/${s.bucket}/${s.prefix ?? ''}`;
  return resolve(flags.root!);
}

/** The component to run, named in any load error (the library's message does not say which file). */
export async function compile(flags: Pick<TenantFlags, 'connector' | 'native'>, globals: GlobalFlags): Promise<ConnectorComponent> {
  if (flags.native) return compileConnector(NATIVE_FS);
  const file = resolve(flags.connector ?? FS_CONNECTOR);
  try {
    return await compileConnector(file, { cacheDir: globals.cacheDir });
  } catch (err) {
    if (err instanceof LoadError && !err.message.includes(file)) throw new LoadError(`${file}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** The parsed global options, with the cache default applied; no progress bars under `--json`. */
export function globalsOf(cmd: Command): GlobalFlags {
  const o = cmd.optsWithGlobals<{ cacheDir?: string; cache: boolean; progress: boolean; json?: boolean }>();
  return { cacheDir: o.cache ? resolve(o.cacheDir ?? defaultCacheDir()) : false, progress: o.progress && o.json !== true };
}

// A mistyped mount point must not become a fresh directory on the root
// filesystem: only the last component is ever created without --create.
function checkRoot(root: string, use: RootUse, create: boolean): void {
  let stat;
  try {
    stat = statSync(root, { throwIfNoEntry: false });
  } catch (err) {
    // A symbolic-link loop, a file where a directory should be, no permission: the user's path is wrong.
    throw new InvalidArgumentError(`--root ${root} cannot be used: ${(err as Error).message}`, { cause: err });
  }
  if (stat && !stat.isDirectory()) throw new InvalidArgumentError(`--root ${root} is not a directory`);
  if (stat) return;
  if (use === 'existing') throw new InvalidArgumentError(`--root ${root} does not exist (no tenant there yet)`);
  if (!create && !existsSync(dirname(root))) {
    throw new InvalidArgumentError(`--root ${root}: its parent ${dirname(root)} does not exist (a missing mount point?); pass --create to create it`);
  }
}

/**
 * A `--storage` value: inline JSON or `@file`, checked like a `kvbox serve`
 * tenant's `storage` — secrets only as `env:VAR` or `file:/path` references,
 * never on the command line (where `ps` shows them).
 */
export function parseStorage(value: string): StorageOptions {
  const parsed = storageSchema.safeParse(parseConfig(value));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BadOptionValue(`${['storage', ...issue.path.map(String)].join('.')}: ${issue.message}`);
  }
  return resolveStorage(parsed.data, (field, message) => new BadOptionValue(`${field} ${message}`));
}

/** A `--config` value: inline JSON or `@file`, a JSON object. */
export function parseConfig(value: string): Record<string, unknown> {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (err) {
      throw new BadOptionValue(`cannot read ${value.slice(1)}: ${(err as Error).message}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BadOptionValue(`not JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadOptionValue('must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** A non-negative integer option value (`--quota-bytes 64M` is not accepted: plain digits only). */
export function parseCount(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new BadOptionValue('must be a non-negative integer');
  return Number(value);
}
