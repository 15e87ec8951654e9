/**
 * A single scenario in a loop, for profiling with perf:
 *
 *   perf record -e cpu-clock -F 2000 -g -o /tmp/kvbox.perf -- npx tsx bench/profile.ts get 16 native
 *   perf report -i /tmp/kvbox.perf --no-children --sort dso,symbol
 *
 * Scenarios: `get <MiB> <wasm|native>`, `put <MiB> <wasm|native>` (new keys), `exists <wasm|native>`,
 * `open <wasm|native>`. Runs for $SECONDS_TO_RUN (default 10) seconds; `DURABLE=false` opens the
 * tenant with `durable: false` (puts through the page cache, no sync).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compileConnector, FS_CONNECTOR, NATIVE_FS } from '../host/index.js';

const [scenario = 'get', a = '16', b = 'native'] = process.argv.slice(2);
const kind = scenario === 'exists' || scenario === 'open' ? a : b;
const seconds = Number(process.env.SECONDS_TO_RUN ?? 10);
const dir = mkdtempSync('/var/tmp/kvbox-profile-');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const component = await compileConnector(kind === 'wasm' ? FS_CONNECTOR : NATIVE_FS, { cacheDir: false });
const end = Date.now() + seconds * 1000;
let n = 0;
if (scenario === 'open') {
  while (Date.now() < end) {
    const c = await component.open({ root: join(dir, `t${n % 2}`) });
    await c.close();
    n++;
  }
} else {
  const store = await component.open({ root: join(dir, 'store'), durable: process.env.DURABLE !== 'false' });
  const size = Number(a) << 20;
  const data = Buffer.alloc(size, 7);
  for (let i = 0; i < 8; i++) await store.put(`k${i}`, data);
  while (Date.now() < end) {
    const key = `k${n % 8}`;
    if (scenario === 'get') await store.get(key);
    else if (scenario === 'put') await store.put(`new-${n}`, data); // new objects, as the benchmark writes
    else await store.exists(key);
    n++;
  }
}
console.log(`${scenario} ${a} ${b}: ${n} operations in ${seconds} s`);
