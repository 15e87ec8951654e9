/**
 * An incremental RESP2 request parser with bounded memory: arrays of bulk
 * strings (what every client library sends) and inline commands (what a
 * human types into telnet). A bulk's length is checked against the
 * connection's current limit as soon as its header arrives, before a byte of
 * it is buffered; large bulks are read straight into a pooled buffer of
 * their exact size.
 */
import type { BufferPool } from '../buffer-pool.js';
import { ProtocolError } from '../errors.js';

/** One request: its arguments, the first being the command name. */
export interface RespRequest {
  args: Buffer[];
  /** Arguments taken from the pool; give them back when the request is done. */
  pooled: Buffer[];
}

/** Longest header or inline line. */
const MAX_LINE = 64 * 1024;
/** Most arguments in one request. */
export const MAX_ARGS = 64 * 1024;
/** Bulks at least this large are read into a pooled buffer; smaller ones stay views of the socket's chunk. */
const POOLED_BULK = 64 * 1024;
/** Room for the keys and names around a request's largest value. */
const REQUEST_OVERHEAD = 1024 * 1024;
const CR = 13;
const LF = 10;

/** Parses one connection's byte stream into requests. */
export class RespParser {
  readonly #pool: BufferPool;
  readonly #maxBulk: () => number;
  /** Bytes of an incomplete header line carried to the next chunk. */
  #partial: Buffer | undefined;
  #args: Buffer[] = [];
  #pooled: Buffer[] = [];
  /** Bulks still expected in the current array; 0 between requests. */
  #remaining = 0;
  #requestBytes = 0;
  #bulk: Buffer | undefined;
  #filled = 0;
  /** Bytes of the CRLF after a bulk still to check (2, 1 or 0). */
  #crlf = 0;

  /** @param maxBulk - the connection's current largest bulk (it grows after AUTH). */
  constructor(pool: BufferPool, maxBulk: () => number) {
    this.#pool = pool;
    this.#maxBulk = maxBulk;
  }

  /**
   * Parses a chunk, yielding each complete request. The consumer handles a
   * request before asking for the next, so a request's effects (an AUTH)
   * apply to how the following bytes are parsed.
   * @throws {@link ProtocolError} on malformed input or an oversized bulk; the connection must be closed.
   */
  *feed(chunk: Buffer): Generator<RespRequest, void, undefined> {
    let buf = chunk;
    if (this.#partial) {
      buf = Buffer.concat([this.#partial, chunk]);
      this.#partial = undefined;
    }
    let pos = 0;
    while (pos < buf.length) {
      if (this.#bulk || this.#crlf > 0) {
        pos = this.#fillBulk(buf, pos);
        if (this.#bulk || this.#crlf > 0) return;
        if (--this.#remaining === 0) yield this.#take();
        continue;
      }
      const eol = buf.indexOf(LF, pos);
      if (eol < 0) {
        if (buf.length - pos > MAX_LINE) throw new ProtocolError('Protocol error: too big request line');
        this.#partial = Buffer.from(buf.subarray(pos));
        return;
      }
      if (eol - pos > MAX_LINE) throw new ProtocolError('Protocol error: too big request line');
      const end = eol > pos && buf[eol - 1] === CR ? eol - 1 : eol;
      const line = buf.subarray(pos, end);
      pos = eol + 1;
      if (this.#remaining > 0) {
        if (line[0] !== 0x24 /* $ */) throw new ProtocolError(`Protocol error: expected '$', got '${printable(line.subarray(0, 1))}'`);
        const len = integer(line, 'bulk length');
        this.#startBulk(len);
        // A small bulk wholly in this chunk stays a view of it (chunks are never reused).
        if (len < POOLED_BULK && buf.length - pos >= len + 2) {
          if (buf[pos + len] !== CR || buf[pos + len + 1] !== LF) throw new ProtocolError('Protocol error: bulk not followed by CRLF');
          this.#args.push(buf.subarray(pos, pos + len));
          pos += len + 2;
          if (--this.#remaining === 0) yield this.#take();
        } else {
          this.#bulk = len < POOLED_BULK ? Buffer.allocUnsafe(len) : this.#pool.take(len);
          if (len >= POOLED_BULK) this.#pooled.push(this.#bulk);
          this.#filled = 0;
          this.#crlf = 2;
        }
      } else if (line[0] === 0x2a /* * */) {
        const count = integer(line, 'multibulk length');
        if (count > MAX_ARGS) throw new ProtocolError(`Protocol error: ${count} arguments is more than ${MAX_ARGS}`);
        this.#remaining = Math.max(count, 0); // `*0` and `*-1` are empty requests, skipped
      } else {
        const args = inline(line);
        if (args.length > 0) yield { args, pooled: [] };
      }
    }
  }

  /** Gives back the pooled buffers of a request that was parsed but will not run. */
  discard(): void {
    for (const b of this.#pooled) this.#pool.give(b);
    this.#pooled = [];
    this.#args = [];
    this.#bulk = undefined;
  }

  #startBulk(len: number): void {
    const limit = this.#maxBulk();
    if (len > limit) throw new ProtocolError(`Protocol error: a bulk of ${len} bytes is over this connection's limit of ${limit} bytes`);
    this.#requestBytes += len;
    if (this.#requestBytes > limit + REQUEST_OVERHEAD) throw new ProtocolError(`Protocol error: request of more than ${limit + REQUEST_OVERHEAD} bytes`);
  }

  #fillBulk(buf: Buffer, pos: number): number {
    if (this.#bulk) {
      const n = Math.min(this.#bulk.length - this.#filled, buf.length - pos);
      buf.copy(this.#bulk, this.#filled, pos, pos + n);
      this.#filled += n;
      pos += n;
      if (this.#filled < this.#bulk.length) return pos;
      this.#args.push(this.#bulk);
      this.#bulk = undefined;
    }
    while (this.#crlf > 0 && pos < buf.length) {
      if (buf[pos] !== (this.#crlf === 2 ? CR : LF)) throw new ProtocolError('Protocol error: bulk not followed by CRLF');
      this.#crlf--;
      pos++;
    }
    return pos;
  }

  #take(): RespRequest {
    const request = { args: this.#args, pooled: this.#pooled };
    this.#args = [];
    this.#pooled = [];
    this.#requestBytes = 0;
    return request;
  }
}

/** A header's integer (`*3`, `$-1`, `$1048576`), strictly decimal. */
function integer(line: Buffer, what: string): number {
  const text = line.toString('latin1', 1);
  if (!/^-?\d{1,18}$/.test(text)) throw new ProtocolError(`Protocol error: invalid ${what} '${printable(line.subarray(1, 40))}'`);
  const n = Number(text);
  if (n < -1 || (what === 'bulk length' && n < 0)) throw new ProtocolError(`Protocol error: invalid ${what} ${n}`);
  return n;
}

/** Splits an inline command on spaces (no quoting: enough for PING, QUIT and a human at a terminal). */
function inline(line: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = -1;
  for (let i = 0; i <= line.length; i++) {
    const space = i === line.length || line[i] === 0x20 || line[i] === 0x09;
    if (space && start >= 0) {
      out.push(line.subarray(start, i));
      start = -1;
    } else if (!space && start < 0) start = i;
  }
  return out;
}

/** Bytes as printable text for an error message (no CR/LF that would break the reply). */
export function printable(b: Buffer): string {
  return b.toString('latin1').replace(/[^\x20-\x7e]/g, '?');
}
