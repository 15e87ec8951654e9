#!/usr/bin/env node
/**
 * The server as a process: `node dist/serve/main.js --config <file>` (the
 * `kvbox serve` command calls {@link runServe} too). SIGTERM and SIGINT shut
 * down gracefully (a second one exits at once); SIGHUP reloads the
 * configuration file.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KvboxError } from '../errors.js';
import { hashSecret } from './secrets.js';
import { createServer } from './server.js';

/** Usage of the serve command. */
export const SERVE_USAGE = `Usage: kvbox serve --config <file.toml|file.json>
       kvbox serve --hash-password      (reads a password on stdin, prints its scrypt hash for the config)

Serves the configured tenants over RESP (Redis protocol), lm:// and an HTTP
admin listener. See docs/serving.md.`;

/**
 * Runs the server until SIGTERM/SIGINT; SIGHUP reloads `configPath`.
 * @returns once the server has shut down.
 */
export async function runServe(configPath: string): Promise<void> {
  const server = await createServer(configPath);
  const log = server.log;
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, 'signal received');
      server.close().then(resolve, (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      server.reload().catch((err: unknown) => log.error({ err: (err as Error).message, code: (err as KvboxError).code }, 'reload failed'));
    });
  });
}

/** Reads stdin to its end (a password, without its final newline) and prints the hash to put in the configuration. */
export async function printPasswordHash(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw new KvboxError('no password on stdin');
  console.log(await hashSecret(password));
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, 'hash-password': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return console.log(SERVE_USAGE);
  if (values['hash-password']) return printPasswordHash();
  if (values.config === undefined) {
    console.error(`kvbox serve: --config <file> is required\n\n${SERVE_USAGE}`);
    process.exitCode = 2;
    return;
  }
  await runServe(values.config);
}

/** Whether this file is the process's entry point. */
function isEntry(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntry()) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof KvboxError ? `kvbox serve: ${err.name} (${err.code}): ${err.message}` : err);
    process.exitCode = 1;
  });
}
