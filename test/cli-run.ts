/** Runs the built `kvbox` executable as a child process, for the CLI tests. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'bin.js');

/** What a `kvbox` run printed and how it exited. */
export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout as bytes (for `get`). */
  raw: Buffer;
}

/** A runner of `kvbox …args` with its own compiled-code cache under `base`. */
export function kvboxIn(base: string): (args: string[], input?: string | Buffer) => Run {
  return (args, input) => {
    const r = spawnSync(process.execPath, [CLI, '--cache-dir', join(base, 'cache'), ...args], { input, maxBuffer: 64 << 20 });
    return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), raw: r.stdout };
  };
}

/** Asserts an error is one line on stderr, with no stack trace; returns it. */
export function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0]!;
}
