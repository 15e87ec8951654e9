/**
 * Value buffers reused across requests. KV chunks come in a few fixed sizes,
 * and first touch of fresh memory here is as slow as the disk, so a SET's
 * value and a GET's target are taken from here and given back once the
 * connector or the socket is done with them.
 */

/** Buffers below this size are not worth pooling. */
const MIN_POOLED = 64 * 1024;

/** A bounded pool of buffers by exact size. */
export class BufferPool {
  readonly #free = new Map<number, Buffer[]>();
  readonly #maxBytes: number;
  #heldBytes = 0;

  /** @param maxBytes - most bytes kept idle in the pool; beyond it, given-back buffers are left to the GC. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** A buffer of exactly `size` bytes (contents undefined). */
  take(size: number): Buffer {
    if (size >= MIN_POOLED) {
      const list = this.#free.get(size);
      const b = list?.pop();
      if (b) {
        this.#heldBytes -= size;
        return b;
      }
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** Gives a buffer from {@link take} back. The caller must not use it afterwards. */
  give(b: Buffer): void {
    const size = b.length;
    if (size < MIN_POOLED || this.#heldBytes + size > this.#maxBytes || b.byteOffset !== 0 || b.buffer.byteLength !== size) return;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, (list = []));
    list.push(b);
    this.#heldBytes += size;
  }

  /** Bytes idle in the pool. */
  get heldBytes(): number {
    return this.#heldBytes;
  }
}
