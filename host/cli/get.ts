/** `kvbox get <key>`: writes one object to stdout or a file. */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.js';
import { globalsOf, openTenant, type TenantFlags, tenantOptions, whereOf } from './tenant.js';

/** Registers `kvbox get`. */
export function register(program: Command): void {
  const cmd = program
    .command('get')
    .summary('write one object to stdout or a file')
    .description('write the object stored under <key> to stdout or to a file; exits 1 when there is no such object')
    .argument('<key>', 'the key')
    .option('-o, --output <file>', 'write to this file instead of stdout');
  tenantOptions(cmd).action(async (key: string, flags: TenantFlags & { output?: string }, self: Command) => {
    await using store = await openTenant(flags, globalsOf(self), 'existing');
    const data = await store.get(key);
    if (data === undefined) {
      console.error(`kvbox: no object under ${JSON.stringify(key)} in ${whereOf(flags)}`);
      process.exitCode = 1;
      return;
    }
    if (flags.output === undefined) {
      await new Promise<void>((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
      return;
    }
    try {
      await writeFile(flags.output, data);
    } catch (err) {
      throw new InvalidArgumentError(`get: cannot write ${flags.output}: ${(err as Error).message}`, { cause: err });
    }
  });
}
