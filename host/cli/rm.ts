/** `kvbox rm`: removes objects by key, by prefix, or all of a tenant's. */
import type { Command } from 'commander';
import { keysOf } from './ls.js';
import { printJson, progress } from './output.js';
import { globalsOf, openTenant, type TenantFlags, tenantOptions } from './tenant.js';

interface RmFlags extends TenantFlags {
  prefix?: string;
  all?: boolean;
  force?: boolean;
  json?: boolean;
}

/** Registers `kvbox rm`. */
export function register(program: Command): void {
  const cmd = program
    .command('rm')
    .summary('remove objects by key, prefix or all')
    .description('remove the objects under the given keys (or every key with --prefix / --all); exits 1 when a named key has no object, unless --force')
    .argument('[keys...]', 'keys to remove')
    .option('-p, --prefix <text>', 'remove every key starting with <text>')
    .option('--all', 'remove every object of the tenant')
    .option('-f, --force', 'a named key without an object is not an error')
    .option('--json', 'print {removed, absent} as JSON');
  tenantOptions(cmd, { writes: 'changes' }).action(async (named: string[], flags: RmFlags, self: Command) => {
    const chosen = [named.length > 0, flags.prefix !== undefined, flags.all === true].filter(Boolean).length;
    if (chosen !== 1) self.error('give keys, --prefix <text> or --all (exactly one of them)');
    const globals = globalsOf(self);
    await using store = await openTenant(flags, globals, 'existing');
    const keys = named.length > 0 ? named : await keysOf(store, flags.prefix);
    const bar = progress('removing', keys.length, globals.progress);
    const removed: string[] = [];
    const absent: string[] = [];
    for (const key of keys) {
      ((await store.remove(key)) ? removed : absent).push(key);
      bar.advance();
    }
    bar.stop();
    if (flags.json) printJson({ removed, absent });
    else console.log(`removed ${removed.length} object(s)`);
    if (named.length > 0 && absent.length > 0 && !flags.force) {
      console.error(`kvbox: no object under ${absent.map((k) => JSON.stringify(k)).join(', ')}`);
      process.exitCode = 1;
    }
  });
}
