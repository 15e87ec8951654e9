/**
 * What the shipped conformance suite (host/conformance) reports when a connector gets a batch wrong:
 * the first per-key error in full, not only a diff of the values.
 */
import { describe, expect, it } from 'vitest';
import { runConformance } from '../host/conformance/index.js';
import { type Connector, loadConnector, NATIVE_FS, TrapError } from '../host/index.js';
import { scratch } from './helpers.js';

const base = scratch('conformance-report');

describe('conformance report', () => {
  it('names the first failed key of a batch and its error', async () => {
    // A connector whose sizeMany fails every key, as one with a missing export does.
    const broken = async (root: string): Promise<Connector> => {
      const c = await loadConnector(NATIVE_FS, { root });
      return new Proxy(c, {
        get(target, prop, receiver) {
          if (prop === 'sizeMany') {
            return async (keys: string[]) => ({
              sizes: keys.map(() => undefined),
              errors: new Map(keys.map((_, i) => [i, new TrapError('Connector.prototype.sizeMany is undefined')])),
            });
          }
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
    };
    const report = await runConformance(broken, { dir: base, filter: (name) => name.startsWith('batches: round-trips 64') });
    expect(report.results).toHaveLength(1);
    const [result] = report.results;
    expect(result!.ok).toBe(false);
    expect(result!.error?.message).toMatch(/^sizeMany: 64 key\(s\) failed; the first, #0: TrapError \(ERR_KVBOX_TRAP\): Connector\.prototype\.sizeMany is undefined/);
  });
});
