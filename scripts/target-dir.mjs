#!/usr/bin/env node
// Prints the cargo target directory kvbox's build uses: $CARGO_TARGET_DIR when
// set, else one shared cache under $XDG_CACHE_HOME (~/.cache). A fresh clone
// then reuses the compiled dependencies (wasmtime takes minutes on 2 cores)
// of earlier clones on the same machine; cargo keys every artifact by
// compiler, flags and source path, so clones do not mix.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The target directory for `profile`: the dev build, or `dist` (the shipped binary, another linker). */
export function targetDir(profile = 'dev') {
  if (profile === 'dev' && process.env.CARGO_TARGET_DIR) return process.env.CARGO_TARGET_DIR;
  const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kvbox-build');
  if (profile === 'dist') return process.env.KVBOX_DIST_TARGET_DIR || join(cache, 'dist-target');
  return join(cache, 'target');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(targetDir(process.argv[2]));
