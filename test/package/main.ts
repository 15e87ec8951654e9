// A consumer of the packed @kvbox/kvbox, compiled by tsc in a brand-new
// project (test/package.test.ts): round-trips bytes through the sandboxed
// connector and catches errors by class and code. Prints one JSON line.
import { randomBytes } from 'node:crypto';
import { compileConnector, FS_CONNECTOR, InvalidKeyError, KvboxError, LoadError, loadConnector } from '@kvbox/kvbox';

const root = process.argv[2]!;
const data = randomBytes(3 << 20);
const store = await loadConnector(FS_CONNECTOR, { root, cacheDir: false, config: { namespace: 'pkg' } });
await store.put('model@1@0@cafe@bf16', data);
const back = await store.get('model@1@0@cafe@bf16');
const caught: Array<{ name: string; code: string; isKvbox: boolean }> = [];
try {
  await store.put('bad\0key', data);
} catch (err) {
  if (err instanceof InvalidKeyError) caught.push({ name: err.name, code: err.code, isKvbox: err instanceof KvboxError });
}
try {
  await compileConnector(Buffer.from('not a component'), { cacheDir: false });
} catch (err) {
  if (err instanceof LoadError) caught.push({ name: err.name, code: err.code, isKvbox: err instanceof KvboxError });
}
const sandboxed = store.stats().instancesCreated > 0;
await store.close();
console.log(JSON.stringify({ node: process.version, roundTrip: back?.equals(data) === true, sandboxed, caught }));
