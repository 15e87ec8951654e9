/**
 * LMCache's classic remote protocol (`lm://`), byte for byte: little-endian
 * int32 fields. A request header is 186 bytes (command, length, fmt, dtype,
 * location, shape[4], then the key space-padded to 150 bytes); a reply header
 * 36 bytes (code, length, fmt, dtype, shape[4], location). Objects stored
 * over lm:// keep their metadata in a 32-byte prefix of the stored value.
 */
import { isUtf8 } from 'node:buffer';
import { ProtocolError } from '../errors.js';

export const LM_PUT = 1;
export const LM_GET = 2;
export const LM_EXIST = 3;
export const LM_LIST = 4;
export const LM_HEALTH = 5;
export const LM_OK = 200;
export const LM_FAIL = 400;

export const REQUEST_HEADER_BYTES = 186;
export const REPLY_HEADER_BYTES = 36;
const KEY_BYTES = 150;
/** Size of the metadata prefix of a value stored over lm://. */
export const STORED_META_BYTES = 32;
/** `KVLM`: marks a value stored over lm:// (a value put over RESP has no prefix and reads back with zero metadata). */
const STORED_MAGIC = 0x4d4c564b;

/** What LMCache stores next to a KV chunk and expects back with it. */
export interface LmMeta {
  fmt: number;
  dtype: number;
  location: number;
  shape: [number, number, number, number];
}

/** A decoded request header. */
export interface LmRequest {
  command: number;
  /** Payload bytes following a PUT. */
  length: number;
  meta: LmMeta;
  key: string;
}

/** No metadata. */
export const NO_META: LmMeta = Object.freeze({ fmt: 0, dtype: 0, location: 0, shape: [0, 0, 0, 0] }) as LmMeta;

/** Decodes a 186-byte request header. @throws {@link ProtocolError} when the key is not UTF-8. */
export function decodeRequest(b: Buffer): LmRequest {
  const i = (n: number) => b.readInt32LE(n * 4);
  let end = 36 + KEY_BYTES;
  // The key is padded with spaces (older clients: NULs).
  while (end > 36 && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  const keyBytes = b.subarray(36, end);
  if (!isUtf8(keyBytes)) throw new ProtocolError('lm:// key is not valid UTF-8');
  return {
    command: i(0),
    length: i(1),
    meta: { fmt: i(2), dtype: i(3), location: i(4), shape: [i(5), i(6), i(7), i(8)] },
    key: keyBytes.toString('utf8'),
  };
}

/** Encodes a 36-byte reply header. */
export function encodeReply(code: number, length = 0, meta: LmMeta = NO_META): Buffer {
  const b = Buffer.allocUnsafe(REPLY_HEADER_BYTES);
  [code, length, meta.fmt, meta.dtype, ...meta.shape, meta.location].forEach((v, n) => b.writeInt32LE(v, n * 4));
  return b;
}

/** Encodes a request header (for clients and tests). @throws {@link ProtocolError} when the key is over 150 bytes. */
export function encodeRequest(command: number, key: string, length = 0, meta: LmMeta = NO_META): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  if (keyBytes.length > KEY_BYTES) throw new ProtocolError(`lm:// keys are at most ${KEY_BYTES} bytes, got ${keyBytes.length}`);
  const b = Buffer.alloc(REQUEST_HEADER_BYTES, 0x20);
  [command, length, meta.fmt, meta.dtype, meta.location, ...meta.shape].forEach((v, n) => b.writeInt32LE(v, n * 4));
  keyBytes.copy(b, 36);
  return b;
}

/** Writes the metadata prefix into the first {@link STORED_META_BYTES} of a value buffer. */
export function writeStoredMeta(value: Buffer, meta: LmMeta): void {
  value.writeUInt32LE(STORED_MAGIC, 0);
  [meta.fmt, meta.dtype, meta.location, ...meta.shape].forEach((v, n) => value.writeInt32LE(v, 4 + n * 4));
}

/** Splits a stored value into its metadata and payload (no prefix: zero metadata, the whole value). */
export function readStoredMeta(value: Buffer): { meta: LmMeta; payload: Buffer } {
  if (value.length < STORED_META_BYTES || value.readUInt32LE(0) !== STORED_MAGIC) return { meta: NO_META, payload: value };
  const i = (n: number) => value.readInt32LE(4 + n * 4);
  return { meta: { fmt: i(0), dtype: i(1), location: i(2), shape: [i(3), i(4), i(5), i(6)] }, payload: value.subarray(STORED_META_BYTES) };
}
