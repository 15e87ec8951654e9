/**
 * RESP2 replies, written straight to the socket. The connection corks the
 * socket around each request, so a reply's pieces (a bulk's header, its
 * payload — the pooled buffer itself, not a copy — and the CRLF) leave in
 * one `writev`.
 */
import type { Socket } from 'node:net';
import { KvboxError } from '../../errors.js';

const CRLF = Buffer.from('\r\n');
const NIL = Buffer.from('$-1\r\n');
const OK = Buffer.from('+OK\r\n');
const ZERO = Buffer.from(':0\r\n');
const ONE = Buffer.from(':1\r\n');

/** A reply that is an error; `message` starts with its code word (`ERR`, `NOAUTH`, `WRONGPASS`…). */
export class ReplyError extends Error {}

/** The error reply for a failure: a {@link ReplyError} as is, a kvbox error as `ERR <code> <message>`. */
export function errorReply(err: unknown): string {
  if (err instanceof ReplyError) return err.message;
  if (err instanceof KvboxError) return `ERR ${err.code} ${err.message}`;
  return `ERR internal error: ${err instanceof Error ? err.message : String(err)}`;
}

/** Writes replies for one connection. */
export class ReplyWriter {
  readonly #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** `+OK` */
  ok(): void {
    this.#socket.write(OK);
  }

  /** A simple string (no CR or LF). */
  simple(s: string): void {
    this.#socket.write(`+${s}\r\n`);
  }

  /** An error reply; CR and LF in the message become spaces. */
  error(message: string): void {
    this.#socket.write(`-${message.replace(/[\r\n]+/g, ' ')}\r\n`);
  }

  /** An integer. */
  integer(n: number): void {
    this.#socket.write(n === 0 ? ZERO : n === 1 ? ONE : `:${n}\r\n`);
  }

  /** The nil bulk `$-1`. */
  nil(): void {
    this.#socket.write(NIL);
  }

  /**
   * A bulk string.
   * @param written - called once the socket is done with `value` (to give a pooled buffer back).
   */
  bulk(value: Buffer | string, written?: () => void): void {
    const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    this.#socket.write(`$${b.length}\r\n`);
    if (b.length > 0) this.#socket.write(b);
    this.#socket.write(CRLF, written && (() => written()));
  }

  /** An array header; the caller writes `n` elements after it. */
  arrayHeader(n: number): void {
    this.#socket.write(`*${n}\r\n`);
  }

  /** An array of strings, integers, nested arrays and nils (`null`). */
  array(items: ReadonlyArray<RespValue>): void {
    this.arrayHeader(items.length);
    for (const item of items) this.value(item);
  }

  /** Any plain value. */
  value(item: RespValue): void {
    if (item === null) this.nil();
    else if (typeof item === 'number') this.integer(item);
    else if (Array.isArray(item)) this.array(item);
    else this.bulk(item as string | Buffer);
  }
}

/** What {@link ReplyWriter.value} writes. */
export type RespValue = string | Buffer | number | null | ReadonlyArray<RespValue>;
