/**
 * The shipped conformance suite (`host/conformance`, `@kvbox/kvbox/conformance`)
 * as vitest tests: one `it` per case, for every connector kind that calls it.
 * The batch cases run from `conformance-batch.ts`, with the host's own batch checks.
 */
import { describe, it } from 'vitest';
import { LOCAL_DIRECTORY, type Opener, type StoreView, singleKeyCases } from '../host/conformance/index.js';
import { scratch } from './helpers.js';

export type { Opener, StoreView };

export function conformance(kind: string, open: Opener, store: StoreView = LOCAL_DIRECTORY): void {
  describe(`conformance: ${kind}`, () => {
    const base = scratch(kind.replace(/\W+/g, '-'));
    let n = 0;
    const tenant = () => `${base}/t${++n}`;
    for (const c of singleKeyCases) it(c.name, () => c.run({ open, tenant, store }));
  });
}
