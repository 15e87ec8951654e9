/** `kvbox put <key> [file]`: stores one object from a file or stdin. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.js';
import { formatBytes, printJson } from './output.js';
import { globalsOf, openTenant, type TenantFlags, tenantOptions } from './tenant.js';

/** Registers `kvbox put`. */
export function register(program: Command): void {
  const cmd = program
    .command('put')
    .summary('store one object from a file or stdin')
    .description('store one object under <key>, read from [file] or from stdin (omitted or "-"); replaces any previous object atomically')
    .argument('<key>', 'the key (any non-empty UTF-8 string without NUL)')
    .argument('[file]', 'where to read the bytes; stdin when omitted or "-"')
    .option('--json', 'print the result as JSON');
  tenantOptions(cmd, { writes: 'makes' }).action(async (key: string, file: string | undefined, flags: TenantFlags & { json?: boolean }, self: Command) => {
    const data = await readInput(file);
    await using store = await openTenant(flags, globalsOf(self), 'create');
    const started = performance.now();
    await store.put(key, data);
    const ms = performance.now() - started;
    if (flags.json) printJson({ key, size: data.length, ms });
    else console.log(`stored ${JSON.stringify(key)}: ${formatBytes(data.length)} in ${ms.toFixed(1)} ms`);
  });
}

async function readInput(file: string | undefined): Promise<Buffer> {
  if (file === undefined || file === '-') {
    if (process.stdin.isTTY) throw new InvalidArgumentError('put: no [file] given and stdin is a terminal; pass a file or pipe the bytes in');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  try {
    return await readFile(file);
  } catch (err) {
    throw new InvalidArgumentError(`put: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

