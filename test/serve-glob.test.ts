/**
 * SCAN MATCH globs (host/serve/resp/scan.ts): the same answers as Redis's glob semantics, written once
 * as a regular expression (the oracle below, which is what serve used before and which a pattern like
 * `*a*a*a*a*az` made take seconds), in bounded time, and a budget that stops a page built to be slow.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplyError } from '../host/serve/resp/reply.js';
import { globMatcher, MATCH_BUDGET, MAX_PATTERN_LENGTH } from '../host/serve/resp/scan.js';

/** Redis glob → RegExp: the reference semantics (exponential on some patterns; small inputs only). */
function oracle(pattern: string): (key: string) => boolean {
  const esc = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  const escIn = (c: string) => c.replace(/[\\\]^[-]/g, '\\$&');
  let re = '';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '\\' && i + 1 < chars.length) re += esc(chars[++i]!);
    else if (c === '[') {
      const close = chars.indexOf(']', i + 2);
      if (close < 0) {
        re += esc(c);
        continue;
      }
      let body = chars.slice(i + 1, close);
      const negate = body[0] === '^';
      if (negate) body = body.slice(1);
      let set = '';
      for (let j = 0; j < body.length; j++) {
        if (body[j] === '\\' && j + 1 < body.length) set += escIn(body[++j]!);
        else if (body[j + 1] === '-' && j + 2 < body.length) {
          const [a, b] = [body[j]!, body[j + 2]!].sort((x, y) => x.codePointAt(0)! - y.codePointAt(0)!);
          set += `${escIn(a!)}-${escIn(b!)}`;
          j += 2;
        } else set += escIn(body[j]!);
      }
      re += set === '' ? (negate ? '[\\s\\S]' : '(?!)') : `[${negate ? '^' : ''}${set}]`;
      i = close;
    } else re += esc(c);
  }
  const compiled = new RegExp(`^${re}$`, 'u');
  return (key) => compiled.test(key);
}

const budget = () => ({ left: MATCH_BUDGET });

describe('SCAN MATCH globs', () => {
  it('answer like the reference semantics on random patterns and keys', () => {
    const alphabet = fc.constantFrom('a', 'b', 'é', '*', '?', '[', ']', '^', '-', '\\', ':');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 10 }), fc.array(fc.constantFrom('a', 'b', 'é', ':', '-', '*', ']'), { maxLength: 12 }), (p, k) => {
        const [pattern, key] = [p.join(''), k.join('')];
        expect(globMatcher(pattern)(key, budget()), `${JSON.stringify(pattern)} on ${JSON.stringify(key)}`).toBe(oracle(pattern)(key));
      }),
      { numRuns: 20_000 },
    );
  });

  it('answer the usual patterns', () => {
    const cases: Array<[string, string, boolean]> = [
      ['scan:odd:*', 'scan:odd:3', true],
      ['scan:odd:*', 'scan:even:3', false],
      ['h?llo', 'hallo', true],
      ['h[ae]llo', 'hillo', false],
      ['h[^e]llo', 'hallo', true],
      ['h[a-b]llo', 'hbllo', true],
      ['h\\*llo', 'h*llo', true],
      ['h\\*llo', 'hello', false],
      ['[abc', '[abc', true],
      ['*', '', true],
      ['', '', true],
      ['', 'a', false],
    ];
    for (const [pattern, key, want] of cases) expect(globMatcher(pattern)(key, budget()), `${pattern} on ${key}`).toBe(want);
  });

  it('match adversarial patterns in bounded steps, and refuse a page that would exceed the budget', () => {
    const key = 'a'.repeat(1024);
    // Exponential for a backtracking regex; a few thousand steps here.
    const slow = { left: MATCH_BUDGET };
    expect(globMatcher('*a*a*a*a*a*az')(key, slow)).toBe(false);
    expect(MATCH_BUDGET - slow.left).toBeLessThan(20_000);
    // 4 000 stars collapse into one.
    const stars = { left: MATCH_BUDGET };
    expect(globMatcher(`${'*'.repeat(4000)}z`)(key, stars)).toBe(false);
    expect(MATCH_BUDGET - stars.left).toBeLessThan(5_000);
    // The worst case, O(key × pattern): a long segment that almost matches everywhere, on a page of keys.
    const worst = globMatcher(`*${'a'.repeat(500)}b`);
    const page = { left: MATCH_BUDGET };
    expect(() => {
      for (let i = 0; i < 1000; i++) worst(key, page);
    }).toThrow(ReplyError);
    expect(page.left).toBeLessThan(0);
    // A set is charged its size, so one huge set cannot match for free.
    const huge = globMatcher(`*[${'b'.repeat(4000)}]`);
    const sets = { left: MATCH_BUDGET };
    expect(() => {
      for (let i = 0; i < 1000; i++) huge(key, sets);
    }).toThrow(ReplyError);
    // Compiling is linear: 4 096 unterminated brackets match themselves, at once.
    expect(globMatcher('['.repeat(4096))('['.repeat(4096), budget())).toBe(true);
    // And a pattern longer than any key is refused outright.
    expect(() => globMatcher('a'.repeat(MAX_PATTERN_LENGTH + 1))).toThrow(/ERR MATCH pattern longer than 4096 characters/);
  });
});
