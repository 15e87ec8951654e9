/**
 * Crash consistency: a child process putting objects is SIGKILLed at a
 * random moment, hundreds of times; after each kill the store is reopened
 * (alternating connector kinds) and every key must be absent or hold
 * exactly one complete value that was put, and the temporary files of the
 * interrupted puts must have been swept by the open.
 *
 * Rounds: $KVBOX_CRASH_ROUNDS (default 200).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FS_CONNECTOR, loadConnector, NATIVE_FS } from '../host/index.js';
// @ts-expect-error plain JS fixture shared with the child process
import { KEYS, seqOf, valueFor } from './fixtures/crash-values.mjs';
import { filesUnder, scratch } from './helpers.js';

const ROUNDS = Number(process.env.KVBOX_CRASH_ROUNDS ?? 200);
const CHILD = join(import.meta.dirname, 'fixtures', 'crash-child.mjs');

/** Starts the writer, waits until it has the store open, lets it write for `ms`, then SIGKILLs it. */
function writeThenKill(root: string, kind: string, first: number, cacheDir: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, root, kind, String(first), cacheDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), ms));
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`writer exited on its own (code ${code}): ${stderr}`));
    });
  });
}

describe('crash consistency', () => {
  const base = scratch('crash');
  const cacheDir = join(base, 'cache');

  it(`survives ${ROUNDS} SIGKILLs mid-put with every key absent or whole`, async () => {
    const root = join(base, 'store');
    let interrupted = 0;
    let present = 0;
    let swept = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const writer = round % 2 === 0 ? 'wasm' : 'native';
      await writeThenKill(root, writer, round * 1_000_000, cacheDir, 5 + ((round * 37) % 60));
      const temps = filesUnder(root).filter((f) => f.includes('.kvbox-tmp-')).length;
      if (temps > 0) interrupted++;
      swept += temps;
      const checker = round % 3 === 0 ? NATIVE_FS : FS_CONNECTOR;
      await using store = await loadConnector(checker, { root, cacheDir });
      for (const key of KEYS as string[]) {
        const got = await store.get(key);
        if (got === undefined) continue;
        present++;
        const seq = seqOf(got);
        expect(seq, `round ${round} ${key}: a value we wrote`).toBeGreaterThanOrEqual(0);
        expect(seq).toBeLessThan((round + 1) * 1_000_000);
        expect(Buffer.compare(got, valueFor(key, seq)), `round ${round} ${key} seq ${seq}: whole and exact`).toBe(0);
      }
      expect(filesUnder(root).filter((f) => f.includes('.kvbox-tmp-')), `round ${round}: temporaries swept on open`).toEqual([]);
      expect(store.stats().objects).toBe(filesUnder(root).length);
    }
    console.log(`crash consistency: ${ROUNDS} SIGKILLs, ${interrupted} landed mid-put (${swept} temporary files swept), ${present} key reads all whole`);
    expect(interrupted, 'some kills must land mid-put for the test to mean anything').toBeGreaterThan(ROUNDS / 10);
  }, 900_000);
});
