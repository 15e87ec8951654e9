import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compileConnector, NATIVE_FS, allocBuffer } from '../host/index.js';
const dir = mkdtempSync('/var/tmp/kvbox-gexp-');
const size = Number(process.env.MIB ?? 4) << 20;
const comp = await compileConnector(NATIVE_FS, { cacheDir: false });
const c = await comp.open({ root: join(dir, 't') });
const data = allocBuffer(size).fill(3);
for (let i = 0; i < 32; i++) await c.put(`k${i}`, data);
const dst = allocBuffer(size);
const mode = process.argv[2];
for (let i = 0; i < 64; i++) await c.get(`k${i % 32}`);
const end = Date.now() + 8000; let n = 0;
const t0 = process.hrtime.bigint();
while (Date.now() < end) { if (mode === 'get') await c.get(`k${n % 32}`); else await c.getInto(`k${n % 32}`, dst); n++; }
console.log(`${mode} ${(Number(process.hrtime.bigint() - t0) / 1e3 / n).toFixed(0)} us/op`);
await c.close();
rmSync(dir, { recursive: true, force: true });
