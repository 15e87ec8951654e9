import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compileConnector, NATIVE_FS, allocBuffer } from '../host/index.js';
const dir = mkdtempSync('/var/tmp/kvbox-gexp-');
const size = Number(process.argv[2] ?? 4) << 20;
const N = 32;
const comp = await compileConnector(NATIVE_FS, { cacheDir: false });
const c = await comp.open({ root: join(dir, 't') });
const data = allocBuffer(size).fill(3);
for (let i = 0; i < N; i++) await c.put(`k${i}`, data);
const dst = allocBuffer(size);
const t = { get: 0, getInto: 0 }, f = { get: 0, getInto: 0 };
for (let r = 0; r < 12; r++) {
  for (let i = 0; i < N; i++) {
    for (const m of (i + r) % 2 ? ['get', 'getInto'] as const : ['getInto', 'get'] as const) {
      const f0 = process.resourceUsage().minorPageFault;
      const t0 = process.hrtime.bigint();
      if (m === 'get') await c.get(`k${i}`); else await c.getInto(`k${i}`, dst);
      t[m] += Number(process.hrtime.bigint() - t0) / 1e3;
      f[m] += process.resourceUsage().minorPageFault - f0;
    }
  }
  if (r % 3 === 2) { console.log(`rounds ..${r}: get ${(t.get / N / 3).toFixed(0)} us (${(f.get / N / 3).toFixed(0)} faults), getInto ${(t.getInto / N / 3).toFixed(0)} us (${(f.getInto / N / 3).toFixed(0)} faults)`); t.get = t.getInto = f.get = f.getInto = 0; }
}
await c.close();
rmSync(dir, { recursive: true, force: true });
