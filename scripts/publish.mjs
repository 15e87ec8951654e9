#!/usr/bin/env node
// Publishes a release: packs everything (scripts/pack.mjs, the shipped
// binaries) and publishes the platform packages first, then the main package,
// so that its optionalDependencies resolve the moment it appears.
//
//   node scripts/publish.mjs [--dry-run] [--tag <dist-tag>]
// Needs `npm login` as a member of the npm organisation that owns the scope.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({ options: { 'dry-run': { type: 'boolean', default: false }, tag: { type: 'string', default: 'latest' } } });
const out = join(root, 'pack');

execFileSync(process.execPath, [join(root, 'scripts', 'pack.mjs'), '--out', out], { stdio: 'inherit' });
const { packages } = JSON.parse(readFileSync(join(out, 'pack.json'), 'utf8'));
// Platform packages first: the main package must never point at missing binaries.
for (const p of [...packages.filter((q) => q.platform), ...packages.filter((q) => !q.platform)]) {
  console.log(`publish: ${p.name}@${p.version} (${p.file})${opts['dry-run'] ? ' [dry run]' : ''}`);
  execFileSync('npm', ['publish', p.file, '--access', 'public', '--tag', opts.tag, ...(opts['dry-run'] ? ['--dry-run'] : [])], { stdio: 'inherit' });
}
