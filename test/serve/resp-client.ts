/**
 * A RESP client written for the tests, sending the exact byte shapes
 * LMCache's native RESP connector sends: one connection per worker, one
 * request in flight, each request a single writev (corked writes of header,
 * key and payload pieces), AUTH with a username.
 */
import { connect, type Socket } from 'node:net';

/** A parsed reply: simple strings as `{ simple }`, errors as `{ error }`, bulks as Buffer, nil as null. */
export type Reply = { simple: string } | { error: string } | number | Buffer | null | Reply[];

export class RespClient {
  readonly socket: Socket;
  /** Received bytes not yet consumed, as chunks (joined only when a reply is complete: large values arrive in many chunks). */
  #chunks: Buffer[] = [];
  #length = 0;
  /** Bytes the reply being read needs at least; no parse is tried before that. */
  #need = 1;
  #waiters: Array<() => void> = [];
  #ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#chunks.push(d);
      this.#length += d.length;
      if (this.#length >= this.#need) this.#wake();
    });
    const end = () => {
      this.#ended = true;
      this.#wake();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  static connect(port: number): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(new RespClient(s)));
      s.once('error', reject);
    });
  }

  /** Sends a request as LMCache does: `*N`, then `$len` + bytes per argument, in one writev. */
  send(...args: Array<string | Buffer>): void {
    this.socket.cork();
    this.socket.write(`*${args.length}\r\n`);
    for (const a of args) {
      const b = typeof a === 'string' ? Buffer.from(a) : a;
      this.socket.write(`$${b.length}\r\n`);
      this.socket.write(b);
      this.socket.write('\r\n');
    }
    this.socket.uncork();
  }

  /** Sends raw bytes. */
  raw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** One request, one reply. */
  async call(...args: Array<string | Buffer>): Promise<Reply> {
    this.send(...args);
    return this.read();
  }

  /** The next reply; rejects when the connection ends first. */
  async read(): Promise<Reply> {
    for (;;) {
      if (this.#length >= this.#need) {
        const buf = this.#joined();
        const parsed = parseReply(buf, 0);
        if (typeof parsed === 'object') {
          this.#consume(parsed.end);
          this.#need = 1;
          return parsed.value;
        }
        this.#need = Math.max(parsed, buf.length + 1);
      }
      if (this.#ended) throw new Error(`connection ended (pending bytes: ${JSON.stringify(this.#joined().toString('latin1').slice(0, 80))})`);
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  /** The next `n` raw bytes exactly as they arrived. */
  async readRaw(n: number): Promise<Buffer> {
    this.#need = n;
    while (this.#length < n) {
      if (this.#ended) throw new Error(`connection ended after ${this.#length} of ${n} bytes: ${JSON.stringify(this.#joined().toString('latin1').slice(0, 80))}`);
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    this.#need = 1;
    const out = Buffer.from(this.#joined().subarray(0, n));
    this.#consume(n);
    return out;
  }

  #joined(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] ?? Buffer.alloc(0);
  }

  #consume(n: number): void {
    const rest = this.#joined().subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#length = rest.length;
  }

  /** Resolves when the server has closed the connection (after any pending replies). */
  async closed(): Promise<void> {
    while (!this.#ended) await new Promise<void>((r) => this.#waiters.push(r));
  }

  get ended(): boolean {
    return this.#ended;
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}

/** One reply from `b` at `at`, or the total length `b` must reach before it can be complete. */
function parseReply(b: Buffer, at: number): { value: Reply; end: number } | number {
  const eol = b.indexOf('\r\n', at);
  if (eol < 0) return b.length + 1;
  const line = b.toString('latin1', at + 1, eol);
  switch (b[at]) {
    case 0x2b:
      return { value: { simple: line }, end: eol + 2 };
    case 0x2d:
      return { value: { error: line }, end: eol + 2 };
    case 0x3a:
      return { value: Number(line), end: eol + 2 };
    case 0x24: {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      if (b.length < eol + 2 + n + 2) return eol + 2 + n + 2;
      return { value: Buffer.from(b.subarray(eol + 2, eol + 2 + n)), end: eol + 2 + n + 2 };
    }
    case 0x2a: {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const items: Reply[] = [];
      let end = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parseReply(b, end);
        if (typeof item === 'number') return item;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`not a RESP reply: ${JSON.stringify(b.toString('latin1', at, at + 40))}`);
  }
}

/** A reply's text (simple string, error or bulk) for assertions. */
export function text(r: Reply): string {
  if (Buffer.isBuffer(r)) return r.toString('utf8');
  if (r !== null && typeof r === 'object' && 'simple' in r) return r.simple;
  if (r !== null && typeof r === 'object' && 'error' in r) return `-${r.error}`;
  return JSON.stringify(r);
}
