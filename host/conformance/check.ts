/** What the conformance cases assert with: node:assert, real directories, data makers. */
import { AssertionError } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export { deepStrictEqual as equal, ok } from 'node:assert/strict';

/** `n` random bytes. */
export function bytes(n: number): Buffer {
  return n === 0 ? Buffer.alloc(0) : randomBytes(n);
}

/** sha256 (hex) of `b`. */
export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Every file (not directory) beneath `dir`, relative to it, sorted. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p, { throwIfNoEntry: false })?.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * A batch result with no per-key error, returned as it is; otherwise an assertion naming how many keys
 * failed and the first failure in full (a trap's message says which export is missing or what threw).
 */
export function clean<T extends { errors: ReadonlyMap<number, Error> }>(result: T, what: string): T {
  const first = result.errors.entries().next();
  if (first.done) return result;
  const [index, err] = first.value;
  const code = (err as Error & { code?: string }).code;
  throw new AssertionError({
    message: `${what}: ${result.errors.size} key(s) failed; the first, #${index}: ${err.name}${code ? ` (${code})` : ''}: ${err.message}`,
    actual: result.errors.size,
    expected: 0,
  });
}

/** Asserts that `promise` rejects with an error of `Class` whose `code` is `code`; returns the error. */
export async function rejectsWith(promise: Promise<unknown>, Class: new (...a: never[]) => Error, code: string): Promise<Error> {
  let result: unknown;
  try {
    result = await promise;
  } catch (err) {
    if (!(err instanceof Class)) throw new AssertionError({ message: `expected ${Class.name}, got ${String(err)}`, actual: err, expected: Class });
    const got = (err as Error & { code?: string }).code;
    if (got !== code) throw new AssertionError({ message: `expected code ${code}, got ${got}: ${err.message}`, actual: got, expected: code });
    return err;
  }
  throw new AssertionError({ message: `expected a ${Class.name}, but the call succeeded with ${String(result)}`, actual: result, expected: Class });
}

/** A deterministic generator (mulberry32), so a failing case can be replayed from its seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random non-empty key of any Unicode scalar values except NUL, at most `maxBytes` UTF-8 bytes. */
export function unicodeKey(next: () => number, maxChars: number, maxBytes: number): string {
  const n = 1 + Math.floor(next() * maxChars);
  let key = '';
  for (let i = 0; i < n; i++) {
    // Mostly ASCII and BMP, sometimes astral; never a surrogate or NUL.
    const r = next();
    let cp = r < 0.4 ? 1 + Math.floor(next() * 0x7f) : r < 0.8 ? 0x80 + Math.floor(next() * (0xd800 - 0x80)) : 0xe000 + Math.floor(next() * (0x10ffff - 0xe000));
    if (cp === 0) cp = 1;
    const next_ = key + String.fromCodePoint(cp);
    if (Buffer.byteLength(next_) > maxBytes) break;
    key = next_;
  }
  return key;
}
