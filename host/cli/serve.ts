/** `kvbox serve`: the multi-tenant server (RESP, lm://, admin HTTP). See docs/serving.md. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { packageRoot } from '../author/package.js';
import { printPasswordHash, runServe } from '../serve/main.js';

/** Adds the `serve` command to the CLI. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('serve tenants over RESP (Redis protocol), lm:// and an HTTP admin listener')
    .option('--config <file>', `configuration file (TOML or JSON); an example to start from: ${join(packageRoot(), 'docs', 'examples', 'serve.toml')}`)
    .option('--hash-password', 'read a password on stdin and print its scrypt hash for the configuration')
    .action(async (options: { config?: string; hashPassword?: boolean }, command: Command) => {
      if (options.hashPassword) return printPasswordHash();
      if (options.config === undefined) command.error(`--config <file> is required (an example: ${join(packageRoot(), 'docs', 'examples', 'serve.toml')})`);
      await runServe(options.config!);
    });
}
