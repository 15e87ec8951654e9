/** Running the conformance cases without any test framework. */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { batchCases } from './batch.js';
import { type ConformanceCase, type Opener, singleKeyCases } from './cases.js';

/** Every conformance case, in order: single-key calls, then batches. */
export const conformanceCases: readonly ConformanceCase[] = [...singleKeyCases, ...batchCases];

/** How one case went. */
export interface CaseResult {
  name: string;
  ok: boolean;
  ms: number;
  /** Why it failed. */
  error?: Error;
}

/** The outcome of {@link runConformance}. */
export interface ConformanceReport {
  passed: number;
  failed: number;
  results: CaseResult[];
}

/** Options of {@link runConformance}. */
export interface ConformanceOptions {
  /**
   * Where tenant directories are made (removed afterwards) [`$KVBOX_TEST_DIR`,
   * else `/var/tmp`]. Use a disk-backed filesystem: O_DIRECT on tmpfs proves nothing.
   */
  dir?: string;
  /** Runs only the cases whose name this accepts. */
  filter?: (name: string) => boolean;
  /** Called after each case, for progress output. */
  onResult?: (result: CaseResult) => void;
}

/** Where tenant directories are made: `dir`, else `$KVBOX_TEST_DIR`, else `/var/tmp` (disk-backed). */
export function testDir(dir?: string): string {
  return dir ?? process.env.KVBOX_TEST_DIR ?? '/var/tmp';
}

/**
 * Runs every conformance case against the connector `open` opens, one after
 * another, each on fresh tenant directories; never throws for a failed case.
 * @example
 * ```ts
 * import { compileConnector } from '@kvbox/kvbox';
 * import { runConformance } from '@kvbox/kvbox/conformance';
 * const component = await compileConnector('dist/my-connector.wasm');
 * const report = await runConformance((root, limits) => component.open({ root, limits, config: { shards: 4 } }));
 * assert.equal(report.failed, 0);
 * ```
 */
export async function runConformance(open: Opener, options: ConformanceOptions = {}): Promise<ConformanceReport> {
  const base = mkdtempSync(join(testDir(options.dir), 'kvbox-conformance-'));
  let n = 0;
  const cx = { open, tenant: () => join(base, `t${++n}`) };
  const results: CaseResult[] = [];
  try {
    for (const c of conformanceCases) {
      if (options.filter && !options.filter(c.name)) continue;
      const started = performance.now();
      let result: CaseResult;
      try {
        await c.run(cx);
        result = { name: c.name, ok: true, ms: performance.now() - started };
      } catch (err) {
        result = { name: c.name, ok: false, ms: performance.now() - started, error: err instanceof Error ? err : new Error(String(err)) };
      }
      results.push(result);
      options.onResult?.(result);
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
  const passed = results.filter((r) => r.ok).length;
  return { passed, failed: results.length - passed, results };
}
