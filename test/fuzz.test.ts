/**
 * Property tests (fast-check) over keys, configurations, operation
 * sequences and mutated components. `npm test` runs a quick slice;
 * `npm run fuzz` (KVBOX_FUZZ=long) runs over 100 000 cases.
 *
 * Every outcome must be a result or a typed KvboxError: never another
 * error, never a crash of the process, never a key that reads back wrong.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compileConnector,
  type Connector,
  FS_CONNECTOR,
  InvalidArgumentError,
  InvalidConfigError,
  InvalidKeyError,
  KvboxError,
  loadConnector,
  NATIVE_FS,
} from '../host/index.js';
import { CONNECTOR_KINDS, fresh, scratch } from './helpers.js';

const LONG = process.env.KVBOX_FUZZ === 'long';
const RUNS = LONG
  ? { keys: 100_000, roundTrips: 10_000, configs: 20_000, sequences: 2_000, wasm: 3_000 }
  : { keys: 1_000, roundTrips: 200, configs: 200, sequences: 30, wasm: 150 };
const tally: Record<string, number> = {};
const count = (what: string) => (tally[what] = (tally[what] ?? 0) + 1);
afterAll(() => console.log(`fuzz (${LONG ? 'long' : 'quick'}):`, JSON.stringify(tally)));

const base = scratch('fuzz');
const kinds = CONNECTOR_KINDS.map(([name, open]) => [name, (root: string) => open({ root, durable: false })] as const);

/** Keys a hostile or careless caller might send. */
const anyKey = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.string({ unit: fc.constantFrom('/', '.', '%', 'a', 'Z', '\0', '\uD800', '\uDFFF', 'é', '🚀', ' ', '\\', '\n'), maxLength: 40 }),
  fc.constantFrom('', '.', '..', '/', '//', 'a/../b', '../../etc/passwd', '.kvbox-tmp-1', '%2e%2e', 'con', 'x'.repeat(1024), 'x'.repeat(1025)),
  fc.string({ unit: 'binary', minLength: 250, maxLength: 1100 }),
);

function isValidKey(k: string): boolean {
  return k.length > 0 && !k.includes('\0') && k.isWellFormed() && Buffer.byteLength(k) <= 1024;
}

describe.each(kinds)('fuzzed keys (%s)', (_, open) => {
  let c: Connector;
  beforeAll(async () => {
    c = await open(fresh(base));
  });
  afterAll(() => c.close());

  it('either refuses a key with InvalidKeyError or serves it', async () => {
    await fc.assert(
      fc.asyncProperty(anyKey, async (key) => {
        if (!isValidKey(key)) {
          await expect(c.exists(key)).rejects.toBeInstanceOf(InvalidKeyError);
          count('keys refused');
        } else {
          expect(await c.exists(key)).toBeTypeOf('boolean');
          count('keys served');
        }
      }),
      { numRuns: RUNS.keys },
    );
  }, 3_600_000);

  it('round-trips every valid key exactly, and lists it as it was put', async () => {
    await fc.assert(
      fc.asyncProperty(anyKey.filter(isValidKey), fc.uint8Array({ maxLength: 5000 }), async (key, data) => {
        await c.put(key, data);
        expect(Buffer.compare((await c.get(key))!, data)).toBe(0);
        expect(await c.size(key)).toBe(data.length);
        const listed: string[] = [];
        for await (const k of c.keys()) listed.push(k);
        expect(listed).toEqual([key]);
        expect(await c.remove(key)).toBe(true);
        count('round trips');
      }),
      { numRuns: RUNS.roundTrips },
    );
  }, 3_600_000);
});

describe('fuzzed configurations', () => {
  const config = fc.oneof(
    fc.jsonValue(),
    fc.record(
      {
        namespace: fc.oneof(fc.string(), fc.constantFrom('', '..', 'a/b', '.kvbox', 'ns'), fc.integer(), fc.constant(null)),
        max_key_bytes: fc.oneof(fc.integer({ min: -5, max: 5000 }), fc.double(), fc.string()),
        base_path: fc.string(),
        extra: fc.anything(),
      },
      { requiredKeys: [] },
    ),
  );

  it('the sandboxed and native connectors accept or refuse each configuration alike, with typed errors', async () => {
    const rootW = fresh(base);
    const rootN = fresh(base);
    await fc.assert(
      fc.asyncProperty(config, async (cfg) => {
        const text = JSON.stringify(cfg) ?? 'null';
        const outcome = async (source: string, root: string) => {
          try {
            const c = await loadConnector(source, { root, config: text, cacheDir: false });
            await c.close();
            return 'ok';
          } catch (err) {
            expect(err).toBeInstanceOf(KvboxError);
            expect([InvalidConfigError, InvalidArgumentError].some((C) => err instanceof C), String(err)).toBe(true);
            return (err as KvboxError).code + (err as Error).message.replace(/^open \S+: /, '');
          }
        };
        const [w, n] = [await outcome(FS_CONNECTOR, rootW), await outcome(NATIVE_FS, rootN)];
        expect(w, text).toBe(n);
        count(w === 'ok' ? 'configs accepted' : 'configs refused');
      }),
      { numRuns: RUNS.configs },
    );
  }, 3_600_000);
});

describe.each(kinds)('fuzzed operation sequences against a model (%s)', (_, open) => {
  it('matches a Map after any sequence of puts, removes and gets', async () => {
    const keys = ['a', 'b/c', 'ü', '..', 'x'.repeat(300)];
    const op = fc.record({ op: fc.constantFrom('put', 'remove', 'get', 'size'), key: fc.constantFrom(...keys), len: fc.nat(70_000) });
    await using c = await open(fresh(base));
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 20 }), async (ops) => {
        const model = new Map<string, Buffer>();
        for (const k of keys) await c.remove(k);
        for (const { op, key, len } of ops) {
          if (op === 'put') {
            const data = Buffer.alloc(len, len % 251);
            await c.put(key, data);
            model.set(key, data);
          } else if (op === 'remove') {
            expect(await c.remove(key)).toBe(model.delete(key));
          } else if (op === 'get') {
            const got = await c.get(key);
            expect(got === undefined ? undefined : Buffer.compare(got, model.get(key)!)).toBe(model.has(key) ? 0 : undefined);
          } else {
            expect(await c.size(key)).toBe(model.get(key)?.length);
          }
        }
        const listed: string[] = [];
        for await (const k of c.keys({ pageSize: 2 })) listed.push(k);
        expect(listed.sort()).toEqual([...model.keys()].sort());
        count('sequences');
      }),
      { numRuns: RUNS.sequences },
    );
  }, 3_600_000);
});

describe('mutated components', () => {
  const good = readFileSync(FS_CONNECTOR);
  const mutation = fc.record({
    kind: fc.constantFrom('flip', 'set', 'truncate', 'splice', 'duplicate', 'zero'),
    at: fc.nat(),
    value: fc.nat(255),
    len: fc.integer({ min: 1, max: 64 }),
  });

  function mutate(bytes: Buffer, ms: { kind: string; at: number; value: number; len: number }[]): Buffer {
    let b = Buffer.from(bytes);
    for (const m of ms) {
      const at = b.length === 0 ? 0 : m.at % b.length;
      if (b.length === 0) break;
      if (m.kind === 'flip') b[at] = b[at]! ^ (1 << (m.value % 8));
      else if (m.kind === 'set') b[at] = m.value;
      else if (m.kind === 'truncate') b = b.subarray(0, at);
      else if (m.kind === 'splice') b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + m.len))]);
      else if (m.kind === 'duplicate') b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]);
      else b.fill(0, at, Math.min(b.length, at + m.len));
    }
    return b;
  }

  it('load with LoadError or run with typed errors; never crash the process', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 6 }), async (ms) => {
        const wasm = mutate(good, ms);
        let component;
        try {
          component = await compileConnector(wasm, { cacheDir: false });
        } catch (err) {
          expect(err, String(err)).toBeInstanceOf(KvboxError);
          count(`wasm ${(err as KvboxError).code}`);
          return;
        }
        count('wasm loaded');
        try {
          await using c = await component.open({ root: fresh(base, 'mutant'), limits: { callTimeoutMs: 2000 }, durable: false });
          await c.put('k', Buffer.from('v'));
          await c.get('k');
          await c.listKeys();
          count('wasm ran');
        } catch (err) {
          expect(err, String(err)).toBeInstanceOf(KvboxError);
          count(`wasm ran then ${(err as KvboxError).code}`);
        }
      }),
      { numRuns: RUNS.wasm },
    );
  }, 3_600_000);
});
