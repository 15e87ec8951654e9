/** `kvbox build`: builds the connector project in a directory. */
import type { Command } from 'commander';
import { buildProject } from '../author/build.js';
import { formatBytes, printJson } from './output.js';

/** Registers `kvbox build`. */
export function register(program: Command): void {
  program
    .command('build')
    .summary('build the connector project here into dist/<name>.wasm')
    .description(
      "build the connector project (kvbox.json) with whichever toolchain is present — Rust: rustup's wasm32-wasip2, else Debian's rustc-web; " +
        'JavaScript: componentize-js; C: clang + wasm-ld — wrap it into a component, embed the manifest, and print its path, size and sha256',
    )
    .argument('[dir]', 'the project directory', '.')
    .option('--json', 'print the result as JSON (tool output goes to stderr)')
    .action(async (dir: string, flags: { json?: boolean }) => {
      const r = await buildProject(dir, { stdio: flags.json ? 'pipe' : 'inherit' });
      if (flags.json) return printJson(r);
      console.log(`kvbox: built ${r.path}\n  size    ${r.bytes} bytes (${formatBytes(r.bytes)})\n  sha256  ${r.sha256}\n  with    ${r.toolchain} in ${(r.ms / 1000).toFixed(1)} s`);
    });
}
