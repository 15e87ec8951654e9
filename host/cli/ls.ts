/** `kvbox ls`: lists a tenant's keys, optionally with sizes. */
import type { Command } from 'commander';
import type { Connector } from '../connector.js';
import { formatBytes, printableKey, printJson, printTable, progress } from './output.js';
import { globalsOf, openTenant, type TenantFlags, tenantOptions } from './tenant.js';

/** Registers `kvbox ls`. */
export function register(program: Command): void {
  const cmd = program
    .command('ls')
    .summary("list a tenant's keys")
    .description("list the tenant's keys, one per line (in the connector's order); a key with control characters is printed JSON-quoted")
    .option('-p, --prefix <text>', 'only keys starting with <text>')
    .option('-l, --long', 'with each object size (one more call per key)')
    .option('--json', 'print a JSON array (of {key, size} with --long)');
  tenantOptions(cmd).action(async (flags: TenantFlags & { prefix?: string; long?: boolean; json?: boolean }, self: Command) => {
    const globals = globalsOf(self);
    await using store = await openTenant(flags, globals, 'existing');
    const keys = await keysOf(store, flags.prefix);
    if (!flags.long) {
      if (flags.json) printJson(keys);
      else for (const key of keys) console.log(printableKey(key));
      return;
    }
    const bar = progress('sizing', keys.length, globals.progress);
    const sized: Array<{ key: string; size: number | null }> = [];
    for (const key of keys) {
      sized.push({ key, size: (await store.size(key)) ?? null });
      bar.advance();
    }
    bar.stop();
    if (flags.json) printJson(sized);
    // A key removed while listing has no size: shown as "-".
    else if (sized.length > 0) printTable([['key', 'size', 'bytes'], ...sized.map((s) => [printableKey(s.key), s.size === null ? '-' : formatBytes(s.size), String(s.size ?? '-')])]);
  });
}

/** Every key (starting with `prefix`, if given), in the connector's order. */
export async function keysOf(store: Connector, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.keys()) if (prefix === undefined || key.startsWith(prefix)) keys.push(key);
  return keys;
}
