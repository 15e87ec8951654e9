/** `kvbox stats`: what a tenant stores, and how its connector runs. */
import type { Command } from 'commander';
import { binding } from '../binding.js';
import { formatBytes, printJson, printPairs } from './output.js';
import { globalsOf, openTenant, type TenantFlags, tenantOptions, whereOf } from './tenant.js';

/** Registers `kvbox stats`. */
export function register(program: Command): void {
  const cmd = program
    .command('stats')
    .summary('print what a tenant stores')
    .description("open the tenant and print what it stores (objects, bytes) and the connector's I/O mode")
    .option('--json', 'print the figures as JSON (the library\'s stats() without its per-operation counters)');
  tenantOptions(cmd).action(async (flags: TenantFlags & { json?: boolean }, self: Command) => {
    await using store = await openTenant(flags, globalsOf(self), 'existing');
    const stats = store.stats();
    // Straight: allocBuffers and large results move between the device and memory with no copy (huge pages).
    const straight = store.directAlignment !== undefined && binding.straightTransfers();
    const io = store.directAlignment
      ? `O_DIRECT (${store.directAlignment}-byte alignment; ${straight ? 'straight from and into allocBuffers' : 'through bounce buffers: transparent huge pages are off'})`
      : 'buffered';
    if (flags.json) {
      // Per-operation counters and latency histograms are left out: this short-lived process made no calls.
      const { operations: _none, ...figures } = stats;
      printJson({ root: whereOf(flags), directAlignment: store.directAlignment ?? null, straightTransfers: straight, ...figures });
      return;
    }
    printPairs([
      ['tenant', whereOf(flags)],
      ['objects', String(stats.objects)],
      ['bytes stored', `${stats.bytesStored} (${formatBytes(stats.bytesStored)})`],
      ['I/O', io],
      ['instances created', String(stats.instancesCreated)],
    ]);
  });
}
