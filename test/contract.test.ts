/**
 * One source of truth across the boundary: the error codes, limits and
 * quotas TypeScript knows are generated from the Rust core and must match
 * the built addon; errors cross with a structured code; components are
 * matched to a contract version at load.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTRACT_TS, loadContract, renderSecurityMd, renderTs, SECURITY_MD } from '../scripts/gen-contract.mjs';
import { compileConnector, CONTRACT_VERSIONS, DEFAULT_LIMITS, ERROR_CODES, FS_CONNECTOR, InvalidArgumentError, loadConnector, LoadError, NATIVE_FS, QuotaExceededError } from '../host/index.js';
import { fresh, rejectsWith, scratch } from './helpers.js';

const base = scratch('contract');
const fixture = (name: string) => join(import.meta.dirname, '..', 'guests', 'dist', `${name}.wasm`);

describe('the generated contract', () => {
  it('host/generated/contract.ts is what the built addon defines (run `npm run gen:contract` after changing the Rust)', () => {
    expect(readFileSync(CONTRACT_TS, 'utf8')).toBe(renderTs(loadContract()));
  });

  it("docs/security.md's limits table is what the built addon defines", () => {
    const current = readFileSync(SECURITY_MD, 'utf8');
    expect(current).toBe(renderSecurityMd(loadContract(), current));
  });

  it('every error code the core defines has a class, and defaults come from the core', () => {
    const core = loadContract();
    expect(Object.keys(ERROR_CODES)).toEqual(core.errors.map((e) => e.code));
    expect(DEFAULT_LIMITS.memoryBytes).toBe(core.limits.find((l) => l.name === 'memoryBytes')!.default);
    expect(CONTRACT_VERSIONS).toEqual(core.versions);
  });

  it('ranges are enforced as the core defines them (maxHostHandles ≥ 8, memoryBytes ≥ 64 KiB)', async () => {
    for (const limits of [{ maxHostHandles: 7 }, { memoryBytes: 1 }, { maxInstances: 0 }, { callTimeoutMs: 1.5 }]) {
      const err = await rejectsWith(loadConnector(NATIVE_FS, { root: fresh(base), limits }), InvalidArgumentError, 'ERR_KVBOX_INVALID_ARGUMENT');
      expect(err.message).toMatch(new RegExp(`limits\\.${Object.keys(limits)[0]} must be an integer from \\d+ to \\d+`));
    }
    await using ok = await loadConnector(NATIVE_FS, { root: fresh(base), limits: { maxHostHandles: 8, memoryBytes: 65536 } });
    expect(ok.closed).toBe(false);
  });
});

describe('errors across the boundary', () => {
  it('carry their code as a property, not in the message text', async () => {
    await using store = await loadConnector(NATIVE_FS, { root: fresh(base), quota: { objects: 0 } });
    const err = await rejectsWith(store.put('k', Buffer.from('v')), QuotaExceededError, 'ERR_KVBOX_QUOTA');
    expect(err.message).not.toMatch(/\[ERR_KVBOX/);
    expect((err.cause as { code?: string }).code).toBe('ERR_KVBOX_QUOTA');
  });
});

describe('contract versions at load', () => {
  it('loads the bundled connector as kvbox:connector@0.2.0, and its 0.1.0 build as 0.1.0, pinned by the sha256 of the bytes', async () => {
    const component = await compileConnector(FS_CONNECTOR, { cacheDir: false });
    expect(component.contractVersion).toBe('0.2.0');
    expect((await compileConnector(fixture('fs-connector-contract-0-1'), { cacheDir: false })).contractVersion).toBe('0.1.0');
    expect(CONTRACT_VERSIONS).toEqual(['0.1.0', '0.2.0']);
    const { createHash } = await import('node:crypto');
    expect(component.sha256).toBe(createHash('sha256').update(readFileSync(FS_CONNECTOR)).digest('hex'));
    expect(component.sha256).not.toBe(component.digest);
  });

  it('refuses a component built for an unknown contract version, naming both versions', async () => {
    const err = await rejectsWith(compileConnector(fixture('hostile-contract-future-version'), { cacheDir: false }), LoadError, 'ERR_KVBOX_LOAD');
    expect(err.message).toMatch(/targets kvbox:connector@0\.9\.0/);
    expect(err.message).toMatch(/this host supports kvbox:connector@0\.1\.0, kvbox:connector@0\.2\.0/);
  });

  it('refuses at load a component whose put has another signature, naming [method]connector.put', async () => {
    const err = await rejectsWith(compileConnector(fixture('hostile-contract-wrong-signature'), { cacheDir: false }), LoadError, 'ERR_KVBOX_LOAD');
    expect(err.message).toMatch(/export `\[method\]connector\.put` of kvbox:connector\/store@0\.1\.0 does not have the contract's type/);
  });
});
