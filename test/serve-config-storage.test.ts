import { describe, expect, it } from 'vitest';
import { ServeConfigError } from '../host/index.js';
import { resolveConfig } from '../host/serve/config.js';

const s3 = { kind: 's3', endpoint: 'http://127.0.0.1:8333', bucket: 'kv', prefix: 'alpha' };
const tenant = (extra: Record<string, unknown>) => ({ connector: 'fs', auth: { password: 'env:KVBOX_TEST_STORAGE_PW' }, ...extra });

function refused(tenants: Record<string, unknown>): string {
  try {
    resolveConfig({ tenants });
  } catch (err) {
    expect(err).toBeInstanceOf(ServeConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('serve configuration: storage', () => {
  process.env.KVBOX_TEST_STORAGE_PW = 'pw';
  process.env.KVBOX_TEST_S3_SECRET_CFG = 's3-secret';

  it('reads the S3 secret from its reference and needs no root', () => {
    const config = resolveConfig({ tenants: { alpha: tenant({ storage: { ...s3, credentials: { accessKeyId: 'AK', secretAccessKey: 'env:KVBOX_TEST_S3_SECRET_CFG' } } }) } });
    expect(config.tenants.get('alpha')!.storage).toEqual({ ...s3, credentials: { accessKeyId: 'AK', secretAccessKey: 's3-secret' } });
    expect(config.tenants.get('alpha')!.root).toBe('');
  });

  it('refuses a secret key written in plain text, and an unset variable, naming the field', () => {
    expect(refused({ alpha: tenant({ storage: { ...s3, credentials: { accessKeyId: 'AK', secretAccessKey: 'plain' } } }) })).toMatch(
      /tenant "alpha", field storage\.credentials\.secretAccessKey: must be "env:VAR" or "file:\/path"/,
    );
    expect(refused({ alpha: tenant({ storage: { ...s3, credentials: { accessKeyId: 'AK', secretAccessKey: 'env:KVBOX_NO_SUCH_VAR' } } }) })).toMatch(
      /field storage\.credentials\.secretAccessKey: refers to environment variable KVBOX_NO_SUCH_VAR, which is not set/,
    );
  });

  it('requires a root on the filesystem, and refuses two tenants on one prefix or an unknown kind', () => {
    expect(refused({ alpha: tenant({}) })).toMatch(/tenant "alpha", field root: is required/);
    expect(refused({ alpha: tenant({ storage: s3 }), beta: tenant({ storage: s3, auth: { username: 'b', password: 'env:KVBOX_TEST_STORAGE_PW' } }) })).toMatch(
      /tenant "beta", field storage: s3 http:\/\/127\.0\.0\.1:8333\/kv\/alpha is also tenant "alpha"'s prefix/,
    );
    expect(refused({ alpha: tenant({ root: 'a', storage: { kind: 'nfs' } }) })).toMatch(/tenant "alpha", field storage/);
    // One prefix inside another: the outer tenant's listings and removes would reach the inner one's objects.
    const nested = { ...s3, prefix: 'alpha/inner/' };
    expect(refused({ alpha: tenant({ storage: s3 }), beta: tenant({ storage: nested, auth: { username: 'b', password: 'env:KVBOX_TEST_STORAGE_PW' } }) })).toMatch(
      /tenant "beta", field storage: s3 http:\/\/127\.0\.0\.1:8333\/kv\/alpha\/inner is inside tenant "alpha"'s prefix s3 http:\/\/127\.0\.0\.1:8333\/kv\/alpha/,
    );
    const whole = { ...s3, prefix: '' };
    expect(refused({ alpha: tenant({ storage: s3 }), beta: tenant({ storage: whole, auth: { username: 'b', password: 'env:KVBOX_TEST_STORAGE_PW' } }) })).toMatch(/tenant "beta", field storage: .* contains tenant "alpha"'s prefix/);
    // The same endpoint written with a trailing slash is the same store.
    expect(refused({ alpha: tenant({ storage: s3 }), beta: tenant({ storage: { ...s3, endpoint: 'http://127.0.0.1:8333/', prefix: 'alpha/x' }, auth: { username: 'b', password: 'env:KVBOX_TEST_STORAGE_PW' } }) })).toMatch(/is inside tenant "alpha"'s prefix/);
    // Another bucket, or a sibling prefix, is fine.
    expect(() => resolveConfig({ tenants: { alpha: tenant({ storage: s3 }), beta: tenant({ storage: { ...s3, prefix: 'alphabet' }, auth: { username: 'b', password: 'env:KVBOX_TEST_STORAGE_PW' } }) } })).not.toThrow();
    expect(() => resolveConfig({ tenants: { alpha: tenant({ storage: s3 }), beta: tenant({ storage: { ...s3, bucket: 'other' }, auth: { username: 'b', password: 'env:KVBOX_TEST_STORAGE_PW' } }) } })).not.toThrow();
  });
});
