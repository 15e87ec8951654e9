/**
 * Measurements that need a fresh process: first load (cold compile, then
 * from the on-disk cache) and resident memory per idle tenant.
 *
 *   child.ts load <cacheDir>          → {"ms": …, "origin": …}
 *   child.ts tenants <kind> <base> <n> → {"bytesPerTenant": …, "n": …}
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileConnector, FS_CONNECTOR, NATIVE_FS } from '../host/index.js';

const [task, ...args] = process.argv.slice(2);

function rssBytes(): number {
  // VmRSS from /proc: what the kernel charges this process, shared pages included.
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]) * 1024;
}

if (task === 'load') {
  const t = process.hrtime.bigint();
  const c = await compileConnector(FS_CONNECTOR, { cacheDir: args[0]! });
  console.log(JSON.stringify({ ms: Number(process.hrtime.bigint() - t) / 1e6, origin: c.origin }));
} else if (task === 'tenants') {
  const [kind, base, n] = [args[0]!, args[1]!, Number(args[2])];
  const component = await compileConnector(kind === 'native' ? NATIVE_FS : FS_CONNECTOR, { cacheDir: false });
  // Warm everything shared (engine, code, buffer pool) with one tenant first.
  const warm = await component.open({ root: join(base, 'warm') });
  await warm.put('k', Buffer.alloc(4096));
  globalThis.gc?.();
  const before = rssBytes();
  const tenants = [];
  for (let i = 0; i < n; i++) {
    const t = await component.open({ root: join(base, `t${i}`) });
    await t.exists('k');
    tenants.push(t);
  }
  globalThis.gc?.();
  const after = rssBytes();
  console.log(JSON.stringify({ bytesPerTenant: (after - before) / n, n, rssBefore: before, rssAfter: after }));
  await Promise.all(tenants.map((t) => t.close()));
} else {
  console.error(`child.ts: unknown task ${task}`);
  process.exit(2);
}
