/**
 * Secrets in the server configuration are never written in plain text: a
 * scrypt hash (`scrypt$N$r$p$salt$hash`, base64url), or a reference to where
 * the secret lives (`env:VAR`, `file:/path`) resolved when the configuration
 * is loaded.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

const HASH = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;
const REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+)$/;
const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 32 } as const;

/** Whether `value` is an accepted secret form (a scrypt hash or a reference). */
export function isSecretRef(value: string): boolean {
  return HASH.test(value) || REF.test(value);
}

/** Checks a candidate secret. */
export type SecretCheck = (candidate: Buffer) => Promise<boolean>;

/**
 * Hashes a secret for the configuration file.
 * @example `await hashSecret('s3cret')` → `scrypt$16384$8$1$…$…`
 */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(Buffer.from(secret, 'utf8'), salt, SCRYPT.keylen, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/**
 * Turns a secret field into a check. References are read now, so a missing
 * variable or file fails the load rather than every login.
 * @throws {Error} with a message saying what is missing (the caller adds file, tenant and field).
 */
export function secretCheck(ref: string): SecretCheck {
  const m = HASH.exec(ref);
  if (m) {
    const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 20 || r < 1 || r > 64 || p < 1 || p > 16) {
      throw new Error('has scrypt parameters out of range (N a power of two ≤ 2^20, r ≤ 64, p ≤ 16)');
    }
    const salt = Buffer.from(m[4]!, 'base64url');
    const expected = Buffer.from(m[5]!, 'base64url');
    if (expected.length < 16) throw new Error('has a scrypt hash shorter than 16 bytes');
    return async (candidate) => {
      const got = await scryptAsync(candidate, salt, expected.length, N, r, p);
      return timingSafeEqual(got, expected);
    };
  }
  const plain = readSecretRef(ref);
  // Compare digests, so the comparison takes the same time whatever the lengths.
  const expected = digest(Buffer.from(plain, 'utf8'));
  return async (candidate) => timingSafeEqual(digest(candidate), expected);
}

/**
 * The plain text an `env:VAR` or `file:/path` reference points at (for secrets the server must
 * present, such as an S3 secret key). @throws Error saying what is missing
 */
export function readSecretRef(ref: string): string {
  let plain: string | undefined;
  if (ref.startsWith('env:')) {
    plain = process.env[ref.slice(4)];
    if (plain === undefined || plain === '') throw new Error(`refers to environment variable ${ref.slice(4)}, which is not set`);
  } else if (ref.startsWith('file:')) {
    try {
      plain = readFileSync(ref.slice(5), 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new Error(`refers to ${ref.slice(5)}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (plain === '') throw new Error(`refers to ${ref.slice(5)}, which is empty`);
  } else {
    throw new Error('is not a secret reference');
  }
  return plain;
}

function digest(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}

function scryptAsync(secret: Buffer, salt: Buffer, keylen: number, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keylen, { N, r, p, maxmem: 256 * N * r + 2 ** 20 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}
