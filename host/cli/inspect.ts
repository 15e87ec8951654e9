/** `kvbox inspect`: what a connector component is, without running it. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { inspectComponent } from '../author/inspect.js';
import { CONTRACT_VERSIONS } from '../generated/contract.js';
import { formatBytes, printJson, printPairs } from './output.js';

/** Registers `kvbox inspect`. */
export function register(program: Command): void {
  program
    .command('inspect')
    .summary('print what a connector component is: manifest, contract, imports, sha256')
    .description(
      'print a component’s name, version, contract version(s), exports, imports (flagging WASI interfaces the sandbox denies or lacks), producers, size, sha256 and embedded manifest — without compiling it',
    )
    .argument('<file.wasm>', 'the component')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, flags: { json?: boolean }) => {
      const r = await inspectComponent(resolve(file));
      if (flags.json) return printJson(r);
      const m = r.manifest ?? {};
      printPairs([
        ['file', r.file],
        ['kind', r.component ? 'component' : 'core module (not loadable: wrap it with jco new --wasi-reactor)'],
        ['name', r.name ?? '-'],
        ['version', r.version ?? '-'],
        ['description', r.description ?? '-'],
        ['license', r.licenses ?? '-'],
        ['authors', r.authors ?? '-'],
        ['contract', contractLine(r.contractVersions)],
        ['size', `${r.bytes} bytes (${formatBytes(r.bytes)})`],
        ['sha256', r.sha256],
        ['producers', r.producers.map((p) => `${p.field}: ${p.name}${p.version ? ` ${p.version}` : ''}`).join('; ') || '-'],
      ]);
      console.log(`\nexports\n${r.exports.map((e) => `  ${e}`).join('\n') || '  (none)'}`);
      console.log(`\nimports`);
      for (const i of r.imports) console.log(`  ${i.verdict.padEnd(8)}  ${i.name}${i.note ? `  — ${i.note}` : ''}`);
      console.log(`\nmanifest${r.manifest ? '' : ' (none: build with kvbox build to embed one)'}`);
      if (r.manifest) console.log(JSON.stringify(m, null, 2).replace(/^/gm, '  '));
    });
}

/** The contract version(s) a component targets, and whether this kvbox loads it. */
function contractLine(versions: string[]): string {
  if (versions.length === 0) return 'none (not a kvbox connector)';
  const loadable = versions.filter((v) => (CONTRACT_VERSIONS as readonly string[]).includes(v));
  return loadable.length > 0 ? versions.join(', ') : `${versions.join(', ')} — not loadable by this kvbox, which loads ${CONTRACT_VERSIONS.join(', ')}`;
}
