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

/**
 * A matcher for a Redis glob: `*`, `?`, `[abc]`, `[^a-z]`, `\x`. An
 * unterminated `[` matches itself, as in Redis.
 */
export function globMatcher(pattern: string): (key: string) => boolean {
  if (pattern === '*') return () => true;
  let re = '';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '\\' && i + 1 < chars.length) re += escape(chars[++i]!);
    else if (c === '[') {
      const close = chars.indexOf(']', i + 2);
      if (close < 0) {
        re += escape(c);
        continue;
      }
      let body = chars.slice(i + 1, close);
      const negate = body[0] === '^';
      if (negate) body = body.slice(1);
      let set = '';
      for (let j = 0; j < body.length; j++) {
        if (body[j] === '\\' && j + 1 < body.length) set += escapeInSet(body[++j]!);
        else if (body[j + 1] === '-' && j + 2 < body.length) {
          const [a, b] = [body[j]!, body[j + 2]!].sort((x, y) => x.codePointAt(0)! - y.codePointAt(0)!);
          set += `${escapeInSet(a!)}-${escapeInSet(b!)}`;
          j += 2;
        } else set += escapeInSet(body[j]!);
      }
      re += set === '' ? (negate ? '[\\s\\S]' : '(?!)') : `[${negate ? '^' : ''}${set}]`;
      i = close;
    } else re += escape(c);
  }
  const compiled = new RegExp(`^${re}$`, 'u');
  return (key) => compiled.test(key);
}

function escape(c: string): string {
  return c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

function escapeInSet(c: string): string {
  return c.replace(/[\\\]^[-]/g, '\\$&');
}
