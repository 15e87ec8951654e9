/**
 * SCAN support: Redis glob patterns, and numeric cursors standing for the
 * connector's opaque listing cursors (`redis-cli --scan` parses cursors as
 * numbers).
 */
import { ReplyError } from './reply.js';

/** Most live cursors per connection; the oldest is forgotten first. */
const MAX_CURSORS = 256;

/** One connection's cursors: numbers handed to the client ↔ the connector's cursors. */
export class ScanCursors {
  readonly #byId = new Map<string, string>();
  #next = 1;

  /** The number to hand out for a connector cursor. */
  issue(cursor: string): string {
    const id = String(this.#next++);
    this.#byId.set(id, cursor);
    if (this.#byId.size > MAX_CURSORS) this.#byId.delete(this.#byId.keys().next().value!);
    return id;
  }

  /** Forgets every cursor (a new AUTH: another tenant's cursors must not carry over). */
  clear(): void {
    this.#byId.clear();
  }

  /** The connector cursor for a client's cursor (`0`: start). @throws {@link ReplyError} for an unknown one. */
  resolve(id: string): string | undefined {
    if (id === '0') return undefined;
    const cursor = this.#byId.get(id);
    if (cursor === undefined) throw new ReplyError('ERR invalid cursor');
    this.#byId.delete(id);
    return cursor;
  }
}

/** Most pattern steps one SCAN may spend matching its page: ≈ 0.12 s of the one JS thread at worst (measured), where `*foo*` over 1 000 keys of 1 KiB takes ≈ 1 million. */
export const MATCH_BUDGET = 10_000_000;

/** Longest MATCH pattern, in UTF-16 units (a key is at most a few KiB; a longer pattern is an attack). */
export const MAX_PATTERN_LENGTH = 4096;

/** One element of a compiled glob: `*` (runs collapsed), `?`, a code point, or a set of code-point ranges. */
type Token = { t: 'star' } | { t: 'one' } | { t: 'char'; c: number } | { t: 'set'; negate: boolean; ranges: Array<[number, number]> };

/** What a SCAN page may still spend matching; shared by every key of the page. */
export interface MatchBudget {
  left: number;
}

/**
 * A matcher for a Redis glob: `*`, `?`, `[abc]`, `[^a-z]`, `\x`. Edge cases differ from Redis (kept from
 * kvbox's first version): an unterminated `[` matches itself (Redis reads the rest as a set), `[]]` is the
 * set `{]}`, and `?` matches one character (Redis: one byte). It runs in O(key × pattern) steps at worst — no backtracking regex, whose time a pattern like
 * `*a*a*a*a*az` makes exponential — and charges them to `budget`.
 * @throws {@link ReplyError} when a page would spend more than the budget (a pattern built to be slow).
 */
export function globMatcher(pattern: string): (key: string, budget: MatchBudget) => boolean {
  if (pattern.length > MAX_PATTERN_LENGTH) throw new ReplyError(`ERR MATCH pattern longer than ${MAX_PATTERN_LENGTH} characters`);
  const tokens = compileGlob(pattern);
  if (tokens.length === 1 && tokens[0]!.t === 'star') return () => true;
  return (key, budget) => matchTokens(tokens, Array.from(key, (ch) => ch.codePointAt(0)!), budget);
}

function compileGlob(pattern: string): Token[] {
  const chars = [...pattern];
  const tokens: Token[] = [];
  const cp = (c: string) => c.codePointAt(0)!;
  // The first `]` at or after each position, found in one pass (a search per `[` would be quadratic).
  const nextClose = new Array<number>(chars.length + 2).fill(-1);
  for (let i = chars.length - 1; i >= 0; i--) nextClose[i] = chars[i] === ']' ? i : nextClose[i + 1]!;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') {
      if (tokens.at(-1)?.t !== 'star') tokens.push({ t: 'star' });
    } else if (c === '?') tokens.push({ t: 'one' });
    else if (c === '\\' && i + 1 < chars.length) tokens.push({ t: 'char', c: cp(chars[++i]!) });
    else if (c === '[') {
      const close = nextClose[i + 2]!;
      if (close < 0) {
        tokens.push({ t: 'char', c: cp(c) });
        continue;
      }
      let body = chars.slice(i + 1, close);
      const negate = body[0] === '^';
      if (negate) body = body.slice(1);
      const ranges: Array<[number, number]> = [];
      for (let j = 0; j < body.length; j++) {
        if (body[j] === '\\' && j + 1 < body.length) {
          const e = cp(body[++j]!);
          ranges.push([e, e]);
        } else if (body[j + 1] === '-' && j + 2 < body.length) {
          const [a, b] = [cp(body[j]!), cp(body[j + 2]!)];
          ranges.push([Math.min(a, b), Math.max(a, b)]);
          j += 2;
        } else {
          const e = cp(body[j]!);
          ranges.push([e, e]);
        }
      }
      tokens.push({ t: 'set', negate, ranges });
      i = close;
    } else tokens.push({ t: 'char', c: cp(c) });
  }
  return tokens;
}

function matchOne(token: Token, c: number): boolean {
  switch (token.t) {
    case 'one':
      return true;
    case 'char':
      return token.c === c;
    case 'set':
      return token.ranges.some(([lo, hi]) => c >= lo && c <= hi) !== token.negate;
    default:
      return false;
  }
}

/** Greedy matching that backtracks to the last `*` only: a later `*` makes every earlier choice final. */
function matchTokens(tokens: Token[], key: number[], budget: MatchBudget): boolean {
  let [p, k, star, starK] = [0, 0, -1, 0];
  while (k < key.length) {
    if (--budget.left < 0) throw new ReplyError('ERR MATCH pattern too costly for these keys: use fewer wildcards');
    const token = tokens[p];
    // A set costs its size: a pattern of one huge set must not match for free.
    if (token?.t === 'set') budget.left -= token.ranges.length;
    if (token !== undefined && token.t === 'star') {
      star = p++;
      starK = k;
    } else if (token !== undefined && matchOne(token, key[k]!)) {
      p++;
      k++;
    } else if (star >= 0) {
      p = star + 1;
      k = ++starK;
    } else return false;
  }
  while (tokens[p]?.t === 'star') p++;
  return p === tokens.length;
}
