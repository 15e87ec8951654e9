/** {@link allocBuffer}: Buffers kvbox can do O_DIRECT with, no bounce copy. */
import { binding } from './binding.js';
import { InvalidArgumentError } from './errors.js';
import { describe } from './options.js';

/**
 * A zero-filled Buffer of `size` bytes whose memory is aligned for O_DIRECT
 * and advised for huge pages (4 KiB-aligned within shared 2 MiB chunks up to
 * 1 MiB, 2 MiB-aligned above). `put`, `putMany`, `getInto` and `getManyInto`
 * move the block-aligned bytes of such a buffer straight between it and the
 * device; an ordinary Buffer goes through kvbox's aligned bounce buffers, one
 * extra copy (on 4 KiB pages a straight transfer would be slower still).
 * Allocate staging buffers once and reuse them: first touch of fresh memory
 * is as slow as the disk here.
 * @throws {@link InvalidArgumentError} when `size` is not a non-negative integer.
 */
export function allocBuffer(size: number): Buffer {
  if (!Number.isSafeInteger(size) || size < 0) throw new InvalidArgumentError(`allocBuffer: size must be a non-negative integer, got ${describe(size)}`);
  return binding.allocBuffer(size);
}
