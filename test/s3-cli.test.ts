/**
 * `kvbox put / get / ls / rm / stats --storage '{"kind":"s3",…}'`: the tenant
 * commands on S3 storage (a real SeaweedFS on loopback), run as child
 * processes; the secret only ever as an `env:` reference.
 */
import { describe, expect, it } from 'vitest';
import { loadConnector, NATIVE_FS } from '../host/index.js';
import { kvboxIn, oneLine } from './cli-run.js';
import { bytes, scratch, sha256 } from './helpers.js';
import { ACCESS_KEY, BUCKET, SECRET_KEY, startStore } from './s3/seaweed.js';

const store = await startStore();
const base = scratch('s3-cli');
const kvbox = kvboxIn(base);
process.env.KVBOX_TEST_S3_SECRET = SECRET_KEY;

const storageOf = (prefix: string, secret = 'env:KVBOX_TEST_S3_SECRET') =>
  JSON.stringify({ kind: 's3', endpoint: store.endpoint, bucket: BUCKET, prefix, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: secret } });

describe.each([
  ['sandboxed', [] as string[]],
  ['native', ['--native']],
])('kvbox tenant commands on S3 storage (%s)', (name, kind) => {
  const prefix = `cli/${process.pid}/${name}`;
  const at = (...args: string[]) => [...args, '--storage', storageOf(prefix), ...kind];

  it('puts, gets, lists, counts and removes, and the library sees the same objects', async () => {
    const big = bytes(2 << 20);
    const put = kvbox(at('put', 'llama@1@0@9f2c', '--json'), big);
    expect(put.status, put.stderr).toBe(0);
    expect(JSON.parse(put.stdout)).toMatchObject({ key: 'llama@1@0@9f2c', size: big.length });
    expect(kvbox(at('put', 'other'), Buffer.from('x')).status).toBe(0);

    const got = kvbox(at('get', 'llama@1@0@9f2c'));
    expect(got.status, got.stderr).toBe(0);
    expect(sha256(got.raw)).toBe(sha256(big));
    expect(kvbox(at('ls')).stdout.trim().split('\n').sort()).toEqual(['llama@1@0@9f2c', 'other']);
    const stats = kvbox(at('stats', '--json'));
    expect(JSON.parse(stats.stdout)).toMatchObject({ root: `s3 ${store.endpoint}/${BUCKET}/${prefix}`, objects: 2, bytesStored: big.length + 1 });

    await using lib = await loadConnector(NATIVE_FS, { storage: store.storage(prefix) });
    expect(sha256((await lib.get('llama@1@0@9f2c'))!)).toBe(sha256(big));

    expect(kvbox(at('rm', 'other')).status).toBe(0);
    const missing = kvbox(at('get', 'other'));
    expect(missing.status).toBe(1);
    expect(oneLine(missing.stderr)).toMatch(/no object under "other" in s3 http/);
    expect(await store.keys(prefix)).toHaveLength(1);
  });
});

describe('kvbox --storage refusals', () => {
  it('refuses a secret given in clear, an unset variable, a bad store and mixing --root, as usage errors', () => {
    const inline = kvbox(['ls', '--storage', storageOf('x', SECRET_KEY)]);
    expect(inline.status).toBe(2);
    expect(oneLine(inline.stderr)).toMatch(/storage\.credentials\.secretAccessKey: must be "env:VAR" or "file:\/path"/);
    expect(inline.stderr).not.toContain(SECRET_KEY);

    const unset = kvbox(['ls', '--storage', storageOf('x', 'env:KVBOX_NO_SUCH_VARIABLE')]);
    expect(unset.status).toBe(2);
    expect(oneLine(unset.stderr)).toMatch(/KVBOX_NO_SUCH_VARIABLE, which is not set/);

    const kind = kvbox(['ls', '--storage', '{"kind":"nfs"}']);
    expect(kind.status).toBe(2);
    expect(oneLine(kind.stderr)).toMatch(/--storage/);

    const both = kvbox(['ls', '--root', base, '--storage', storageOf('x')]);
    expect(both.status).toBe(2);
    expect(oneLine(both.stderr)).toMatch(/--root and S3 --storage are exclusive/);

    const neither = kvbox(['ls']);
    expect(neither.status).toBe(2);
    expect(oneLine(neither.stderr)).toMatch(/required option '-r, --root <dir>' not specified/);
  });

  it('fails with a typed error, one line, when the store refuses the credentials', () => {
    process.env.KVBOX_TEST_S3_WRONG = 'not-the-secret';
    const wrong = kvbox(['ls', '--storage', storageOf('x', 'env:KVBOX_TEST_S3_WRONG')]);
    expect(wrong.status).toBe(1);
    expect(oneLine(wrong.stderr)).toMatch(/^kvbox: StorageIoError \(ERR_KVBOX_IO\): .*refused/);
  });
});
