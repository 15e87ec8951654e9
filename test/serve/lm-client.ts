/**
 * An lm:// client written from the protocol description (MISSION.md):
 * 186-byte little-endian request headers with a space-padded 150-byte key,
 * 36-byte reply headers; PUT has no reply.
 */
import { connect, type Socket } from 'node:net';

export interface Meta {
  fmt: number;
  dtype: number;
  location: number;
  shape: [number, number, number, number];
}

export interface LmReply {
  code: number;
  length: number;
  meta: Meta;
  payload: Buffer;
}

export const PUT = 1;
export const GET = 2;
export const EXIST = 3;
export const LIST = 4;
export const HEALTH = 5;

export class LmClient {
  readonly socket: Socket;
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  #ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake();
    });
    for (const ev of ['end', 'close', 'error']) {
      socket.on(ev, () => {
        this.#ended = true;
        this.#wake();
      });
    }
  }

  static connect(port: number): Promise<LmClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' }, () => resolve(new LmClient(s)));
      s.once('error', reject);
    });
  }

  /** Writes one request header (and payload for PUT). */
  request(command: number, key: string, payload?: Buffer, meta: Meta = { fmt: 0, dtype: 0, location: 0, shape: [0, 0, 0, 0] }): void {
    const h = Buffer.alloc(186, ' ');
    const ints = [command, payload?.length ?? 0, meta.fmt, meta.dtype, meta.location, ...meta.shape];
    ints.forEach((v, i) => h.writeInt32LE(v, i * 4));
    Buffer.from(key, 'utf8').copy(h, 36);
    this.socket.write(payload ? Buffer.concat([h, payload]) : h);
  }

  /** Reads one reply header, and for a 200 GET its payload. */
  async reply(withPayload: boolean): Promise<LmReply> {
    const h = await this.#take(36);
    const i = (n: number) => h.readInt32LE(n * 4);
    const code = i(0);
    const length = i(1);
    const meta: Meta = { fmt: i(2), dtype: i(3), shape: [i(4), i(5), i(6), i(7)], location: i(8) };
    const payload = withPayload && code === 200 ? await this.#take(length) : Buffer.alloc(0);
    return { code, length, meta, payload };
  }

  /** Bytes received and not yet read. */
  get pending(): number {
    return this.#buf.length;
  }

  get ended(): boolean {
    return this.#ended;
  }

  async closed(): Promise<void> {
    while (!this.#ended) await new Promise<void>((r) => this.#waiters.push(r));
  }

  close(): void {
    this.socket.destroy();
  }

  async #take(n: number): Promise<Buffer> {
    while (this.#buf.length < n) {
      if (this.#ended) throw new Error(`lm:// connection ended after ${this.#buf.length} of ${n} bytes`);
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}
