/** Reading a tenant's value for a reply, into pooled buffers. */
import { TooLargeError } from '../errors.js';
import type { BufferPool } from './buffer-pool.js';
import type { Tenant } from './tenants.js';

/** A value read for a reply, and how to give its buffer back once the socket is done with it. */
export interface ReadValue {
  bytes: Buffer;
  release?: () => void;
}

/**
 * Reads a value into a pooled buffer of the tenant's usual value size (no
 * allocation, no copy: the reply is written from it), or, when the object is
 * larger or no size is known yet, with an allocating read.
 * @returns `undefined` when there is no such key.
 */
export async function readValue(pool: BufferPool, tenant: Tenant, key: string): Promise<ReadValue | undefined> {
  const hint = tenant.sizeHint;
  if (hint > 0) {
    const target = pool.take(hint);
    try {
      const n = await tenant.connector.getInto(key, target);
      if (n === undefined) {
        pool.give(target);
        return undefined;
      }
      return { bytes: target.subarray(0, n), release: () => pool.give(target) };
    } catch (err) {
      pool.give(target);
      if (!(err instanceof TooLargeError)) throw err;
    }
  }
  const bytes = await tenant.connector.get(key);
  if (bytes === undefined) return undefined;
  tenant.sizeHint = bytes.length;
  return { bytes };
}
