/**
 * The `kvbox` program: global options, help and version, and how failures
 * end the process — a usage error prints one line and exits 2, a runtime
 * {@link KvboxError} prints `kvbox: <Name> (<code>): <message>` and exits 1.
 * Never a stack trace (unless `KVBOX_DEBUG=1`).
 *
 * Each command lives in its own file exporting `register(program)`.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import * as build from './build.js';
import * as demo from './demo.js';
import * as get from './get.js';
import * as inspect from './inspect.js';
import * as ls from './ls.js';
import * as newProject from './new.js';
import { reportFailure } from './output.js';
import * as put from './put.js';
import * as rm from './rm.js';
import * as serve from './serve.js';
import * as stats from './stats.js';
import * as test from './test.js';

/** Every command. To add one: import its module above and list it here. */
const COMMANDS: ReadonlyArray<{ register(program: Command): void }> = [demo, put, get, ls, rm, stats, serve, newProject, build, test, inspect];

/** The package version, from the package.json shipped next to dist/. */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Builds the `kvbox` program with every command registered. */
export function createProgram(): Command {
  const program = new Command('kvbox')
    .description('Sandboxed WebAssembly storage connectors for LLM KV-cache offload, with host-side O_DIRECT I/O')
    .version(version(), '-v, --version')
    .option('--cache-dir <dir>', 'cache of compiled components [$KVBOX_CACHE_DIR, $XDG_CACHE_HOME/kvbox or ~/.cache/kvbox]')
    .option('--no-cache', 'compile components without the on-disk cache')
    .option('--no-progress', 'no progress bars on stderr')
    .exitOverride()
    .showSuggestionAfterError(true);
  for (const command of COMMANDS) command.register(program);
  // Usage errors become one line that names the help to read.
  for (const cmd of [program, ...program.commands]) {
    const help = cmd === program ? 'kvbox --help' : `kvbox ${cmd.name()} --help`;
    cmd.configureOutput({
      outputError: (text, write) => write(`kvbox: ${text.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (see ${help})\n`),
    });
  }
  return program;
}

/**
 * Runs the program on `argv` (without `node` and the script) and sets `process.exitCode`.
 */
export async function main(argv: string[]): Promise<void> {
  try {
    await createProgram().parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end the parse by "throwing" with exit code 0.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    reportFailure(err);
  }
}
