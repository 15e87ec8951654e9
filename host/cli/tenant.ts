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

/** The tenant options as commander parses them. */
export interface TenantFlags {
  root: string;
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
 */
export function tenantOptions(cmd: Command, defaultRoot?: string): Command {
  const root = new Option('-r, --root <dir>', 'the tenant directory (the only directory the connector can touch)');
  if (defaultRoot === undefined) root.makeOptionMandatory();
  else root.default(defaultRoot);
  return cmd
    .addOption(root)
    .addOption(new Option('-c, --connector <file.wasm>', 'connector component to run [the bundled sandboxed fs-connector]').conflicts('native'))
    .addOption(new Option('--native', 'use the trusted native fast path instead of a sandboxed component'))
    .addOption(new Option('--config <json|@file>', "the connector's JSON configuration, inline or @path").argParser(parseConfig))
    .addOption(new Option('--create', "create the tenant directory's missing parent directories"))
    .addOption(new Option('--buffered', 'buffered I/O instead of O_DIRECT'))
    .addOption(new Option('--no-durable', 'skip fsync (cache mode: a crash may lose recent objects, never tear one)'))
    .addOption(new Option('--quota-bytes <n>', 'most bytes the tenant may store').argParser(parseCount));
}

/**
 * Opens the tenant `flags` describe.
 * @param compiled - the component, when the caller compiled it already (to time it).
 * @throws {@link InvalidArgumentError} when the directory (or its parent) is missing; {@link LoadError} naming the file; anything `open` throws.
 */
export async function openTenant(flags: TenantFlags, globals: GlobalFlags, use: RootUse, compiled?: ConnectorComponent): Promise<Connector> {
  const root = resolve(flags.root);
  checkRoot(root, use, flags.create === true);
  const component = compiled ?? (await compile(flags, globals));
  if (flags.create) mkdirSync(dirname(root), { recursive: true });
  return component.open({
    root,
    config: flags.config ?? {},
    directIo: !flags.buffered,
    durable: flags.durable,
    quota: flags.quotaBytes === undefined ? undefined : { bytes: flags.quotaBytes },
  });
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
  const stat = statSync(root, { throwIfNoEntry: false });
  if (stat && !stat.isDirectory()) throw new InvalidArgumentError(`--root ${root} is not a directory`);
  if (stat) return;
  if (use === 'existing') throw new InvalidArgumentError(`--root ${root} does not exist (no tenant there yet)`);
  if (!create && !existsSync(dirname(root))) {
    throw new InvalidArgumentError(`--root ${root}: its parent ${dirname(root)} does not exist (a missing mount point?); pass --create to create it`);
  }
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
