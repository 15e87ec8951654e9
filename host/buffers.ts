/** {@link allocBuffer}: Buffers kvbox can do O_DIRECT with, no bounce copy. */
import { binding } from './binding.js';
import { InvalidArgumentError } from './errors.js';
import { describe } from './options.js';

/**
 * A zero-filled Buffer of `size` bytes whose memory is aligned for O_DIRECT
 * (4 KiB; 2 MiB and advised for huge pages from 2 MiB on). `put`,
 * `putMany`, `getInto` and `getManyInto` move the bytes of such a buffer
 * straight between it and the device; an ordinary Buffer (whose memory
 * starts 16 bytes into a page) goes through kvbox's aligned bounce buffers,
 * one extra copy. Allocate staging buffers once and reuse them: first touch
 * of fresh memory is as slow as the disk here.
 * @throws {@link InvalidArgumentError} when `size` is not a non-negative integer.
 */
export function allocBuffer(size: number): Buffer {
  if (!Number.isSafeInteger(size) || size < 0) throw new InvalidArgumentError(`allocBuffer: size must be a non-negative integer, got ${describe(size)}`);
  return binding.allocBuffer(size);
}
