/**
 * The connector author kit end to end, the way an author runs it: `kvbox new`
 * from each language's template in a clean directory, `kvbox build`, `kvbox
 * test` (the shipped conformance suite), `kvbox inspect` showing the
 * embedded manifest. A language is skipped only when its toolchain is
 * missing here, with the reason printed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectC, detectRust, installHint } from '../host/author/toolchain.js';
import { compileConfigSchema } from '../host/author/config-schema.js';
import { contractVersionsOf, importVerdict, inspectComponent } from '../host/author/inspect.js';
import { compileConnector, CONTRACT_VERSIONS, FS_CONNECTOR, LoadError, TrapError } from '../host/index.js';
import { rejectsWith, scratch } from './helpers.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'bin.js');
const base = scratch('kit');
// The build's own cargo target directory: the standard library (Debian path)
// and the SDK's dependencies are built there already, with the same profile.
const cargoTarget = execFileSync(process.execPath, [join(ROOT, 'scripts', 'target-dir.mjs')], { encoding: 'utf8' }).trim();

function kvbox(args: string[], cwd: string): { status: number | null; out: string; stdout: string } {
  const r = spawnSync(process.execPath, [CLI, '--cache-dir', join(base, 'cache'), ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, KVBOX_CARGO_TARGET_DIR: cargoTarget, KVBOX_TEST_DIR: base },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

function missing(lang: string): string | undefined {
  try {
    if (lang === 'rust') detectRust();
    if (lang === 'c') detectC();
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

describe('the SDK crate', () => {
  it('bundles exactly the frozen contract it targets (wit/0.2.0)', () => {
    for (const f of readdirSync(join(ROOT, 'wit', '0.2.0'))) {
      expect(readFileSync(join(ROOT, 'crates', 'connector-sdk', 'wit', f), 'utf8'), f).toBe(readFileSync(join(ROOT, 'wit', '0.2.0', f), 'utf8'));
    }
    expect(readdirSync(join(ROOT, 'crates', 'connector-sdk', 'wit')).sort()).toEqual(readdirSync(join(ROOT, 'wit', '0.2.0')).sort());
  });
});

describe('kvbox inspect', () => {
  it('flags a component built against a contract version this kvbox does not load', async () => {
    const file = join(ROOT, 'guests', 'dist', 'hostile-contract-future-version.wasm');
    const report = await inspectComponent(file);
    expect(report.contractVersions.some((v) => !(CONTRACT_VERSIONS as readonly string[]).includes(v))).toBe(true);
    // Its imports are WASI only; a contract interface imported at an unknown version is flagged missing.
    expect(importVerdict('kvbox:connector/objects@0.9.0')).toMatchObject({ verdict: 'missing', note: expect.stringMatching(/contract 0\.9\.0 is not one this kvbox loads \(0\.1\.0, 0\.2\.0\)/) });
    expect(importVerdict('kvbox:connector/objects@0.2.0')).toEqual({ name: 'kvbox:connector/objects@0.2.0', verdict: 'contract' });
    const printed = kvbox(['inspect', file], base);
    expect(printed.status).toBe(0);
    expect(printed.out).toMatch(/contract +\S+ — not loadable by this kvbox, which loads 0\.1\.0, 0\.2\.0/);
    // The summary is two left-aligned columns: each value starts where the longest name ends, plus two spaces.
    expect(printed.out).toMatch(/^kind {9}component$/m);
    expect(printed.out).toMatch(/^name {9}-$/m);
  });
});

describe('a configSchema', () => {
  it('is refused for a misspelt keyword or an unknown draft, not for valid schemas Ajv calls unidiomatic', () => {
    // Valid JSON Schemas that Ajv's full strict mode would refuse: properties without a type, required fields it does not list.
    for (const schema of [{ properties: { a: { type: 'string' } } }, { type: 'object', required: ['x'] }, { $schema: 'https://json-schema.org/draft/2019-09/schema', type: 'object' }, { $schema: 'http://json-schema.org/draft-06/schema#', type: 'object' }, { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { xs: { type: 'array', prefixItems: [{ type: 'string' }] } } }]) {
      expect(() => compileConfigSchema(schema, true), JSON.stringify(schema)).not.toThrow();
    }
    expect(() => compileConfigSchema({ type: 'object', propertiez: {} }, true)).toThrow(/strict mode: unknown keyword: "propertiez"/);
    expect(() => compileConfigSchema({ type: 'object', propertiez: {} }, false)).not.toThrow(); // someone else's component: lenient
    expect(() => compileConfigSchema({ $schema: 'http://json-schema.org/draft-04/schema#' }, false)).toThrow(/is not a draft kvbox checks \(draft-06, draft-07, 2019-09, 2020-12\)/);
    const check = compileConfigSchema({ type: 'object', additionalProperties: false, properties: { namespace: { type: 'string' }, mode: { enum: ['a', 'b'] } } }, true);
    expect(check({ namespace: 'x', mode: 'a' })).toBeUndefined();
    expect(check({ namespace: 1, mode: 'c', extra: true })).toBe('config must NOT have additional properties (extra); config.namespace must be string; config.mode must be equal to one of the allowed values (["a","b"])');
  });
});

describe('contract versions of a component', () => {
  it('are read from its kvbox:connector imports and exports (what kvbox build compares with kvbox.json)', async () => {
    expect((await inspectComponent(FS_CONNECTOR)).contractVersions).toEqual(['0.2.0']);
    expect((await inspectComponent(join(ROOT, 'guests', 'dist', 'fs-connector-contract-0-1.wasm'))).contractVersions).toEqual(['0.1.0']);
    expect(contractVersionsOf(['wasi:io/streams@0.2.3', 'kvbox:connector/objects@0.2.0', 'kvbox:connector/store@0.2.0', 'kvbox:connector/store@0.1.0'])).toEqual(['0.1.0', '0.2.0']);
  });
});

describe('missing build tools', () => {
  it('say npm install when the project lists them, else the install line', () => {
    const listed = join(base, 'hint-listed');
    const bare = join(base, 'hint-bare');
    for (const d of [listed, bare]) rmSync(d, { recursive: true, force: true });
    for (const d of [listed, bare]) mkdirSync(d, { recursive: true });
    writeFileSync(join(listed, 'package.json'), JSON.stringify({ devDependencies: { '@bytecodealliance/jco': '1.35.0' } }));
    expect(installHint(listed, ['@bytecodealliance/jco@1.35.0'])).toBe(`run npm install in ${listed} (its package.json lists @bytecodealliance/jco)`);
    expect(installHint(bare, ['@bytecodealliance/jco@1.35.0'])).toBe('npm install --save-dev @bytecodealliance/jco@1.35.0');
    // One of two listed is not enough.
    expect(installHint(listed, ['@bytecodealliance/jco@1.35.0', '@bytecodealliance/componentize-js@0.23.0'])).toMatch(/^npm install --save-dev /);
  });
});

describe('the author commands on bad input', () => {
  it('answer with one typed line and exit 1 (build, test, inspect), or a usage line and exit 2 (new)', () => {
    const junk = join(base, 'junk.wasm');
    writeFileSync(junk, 'not wasm');
    const cases: Array<[string[], RegExp]> = [
      [['build', base], /^kvbox: BuildError \(ERR_KVBOX_BUILD\): no kvbox\.json in .*: run kvbox build in a project made by kvbox new/],
      [['inspect', junk], /^kvbox: LoadError \(ERR_KVBOX_LOAD\): .*junk\.wasm: .*not a WebAssembly file/],
      [['test', junk], /^kvbox: LoadError \(ERR_KVBOX_LOAD\): /],
      [['test', join(base, 'missing.wasm')], /^kvbox: LoadError \(ERR_KVBOX_LOAD\): cannot read connector .*missing\.wasm/],
      // A configuration the connector refuses is one error, not one failure per case.
      [['test', FS_CONNECTOR, '--config', '{"bogus":1}'], /^kvbox: InvalidConfigError \(ERR_KVBOX_INVALID_CONFIG\): .*`bogus`: unknown field/],
    ];
    for (const [args, line] of cases) {
      const r = kvbox(args, base);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.out.trimEnd().split('\n')[0], args.join(' ')).toMatch(line);
    }
    // Under --json a component that does not load, or a config it refuses, is still a JSON report.
    for (const [args, code] of [
      [['test', '--json', junk], 'ERR_KVBOX_LOAD'],
      [['test', '--json', FS_CONNECTOR, '--config', '{"bogus":1}'], 'ERR_KVBOX_INVALID_CONFIG'],
    ] as const) {
      const r = kvbox([...args], base);
      expect(r.status, args.join(' ')).toBe(1);
      const report = JSON.parse(r.stdout) as { passed: number; failed: number; results: unknown[]; error: { name: string; code: string; message: string } };
      expect(report, args.join(' ')).toMatchObject({ passed: 0, failed: 0, results: [], error: { code } });
      expect(report.error.message.length).toBeGreaterThan(0);
    }
    const noCase = kvbox(['test', FS_CONNECTOR, '--grep', 'no such case'], base);
    expect(noCase.status, 'a --grep that matches no case is a usage error, not "conformance ok"').toBe(2);
    expect(noCase.out).toMatch(/^kvbox: no conformance case matches --grep "no such case"/);
    // Usage errors of kvbox new exit 2 with one line, like a bad --lang.
    for (const [args, line] of [
      [['new', 'Bad_Name'], /^kvbox: connector name "Bad_Name": use lowercase/],
      [['new', 'exists', '--dir', base], /^kvbox: .* exists and is not empty/],
    ] as const) {
      const r = kvbox([...args], base);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.out.trimEnd().split('\n')[0], args.join(' ')).toMatch(line);
    }
    // kvbox.json's configSchema is compiled (Ajv, strict) before anything builds: a misspelt keyword would check nothing.
    for (const [schema, reason] of [
      [{ type: 'object', properties: { shards: { type: 'integr' } } }, /configSchema is not a valid JSON Schema: .*type/],
      [{ type: 'object', propertiez: { shards: { type: 'integer' } } }, /configSchema is not a valid JSON Schema: strict mode: unknown keyword: "propertiez"/],
      [[1, 2], /configSchema: Invalid input: expected record, received array/],
    ] as const) {
      const project = join(base, `bad-schema-${JSON.stringify(schema).length}`);
      mkdirSync(project, { recursive: true });
      writeFileSync(join(project, 'kvbox.json'), JSON.stringify({ name: 'bad-schema', version: '0.1.0', lang: 'c', contract: '0.2.0', configSchema: schema }));
      const r = kvbox(['build'], project);
      expect(r.status, JSON.stringify(schema)).toBe(1);
      expect(r.out.trimEnd().split('\n')[0], JSON.stringify(schema)).toMatch(/^kvbox: BuildError \(ERR_KVBOX_BUILD\): .*kvbox\.json/);
      expect(r.out, JSON.stringify(schema)).toMatch(reason);
    }
    const badLang = kvbox(['new', 'x', '--lang', 'cobol'], base);
    expect(badLang.status).toBe(2);
    expect(badLang.out).toMatch(/argument 'cobol' is invalid. Allowed choices are rust, js, c/);
  });
});

describe('a Rust project in an npm workspace', () => {
  it.skipIf(missing('rust') !== undefined)('is told where the hoisted SDK is', () => {
    const ws = join(base, 'ws');
    rmSync(ws, { recursive: true, force: true });
    mkdirSync(join(ws, 'node_modules', '@kvbox'), { recursive: true });
    symlinkSync(ROOT, join(ws, 'node_modules', '@kvbox', 'kvbox'));
    expect(kvbox(['new', 'ws-conn', '--dir', join(ws, 'packages', 'ws-conn')], base).status).toBe(0);
    const built = kvbox(['build'], join(ws, 'packages', 'ws-conn'));
    expect(built.status).toBe(1);
    expect(built.out).toMatch(/kvbox is installed at .*ws\/node_modules\/@kvbox\/kvbox \(hoisted\): set kvbox-connector's path in Cargo\.toml to \.\.\/\.\.\/node_modules\/@kvbox\/kvbox\/crates\/connector-sdk/);
  });
});

describe('kvbox new → build → test → inspect', () => {
  for (const lang of ['rust', 'c', 'js'] as const) {
    const why = missing(lang);
    if (why) console.warn(`kit: skipping the ${lang} template: ${why}`);
    it.skipIf(why !== undefined)(`builds the ${lang} template, which passes conformance unmodified and carries its manifest`, { timeout: 900_000 }, async () => {
      const name = `kit-${lang}`;
      const made = kvbox(['new', name, '--lang', lang], base);
      expect(made.status, made.out).toBe(0);
      expect(made.out, 'the steps it prints').toContain(`next:\n  cd ${name}\n  npm install\n  kvbox build\n  kvbox test dist/${name}.wasm`);
      const dir = join(base, name);
      if (lang === 'rust') {
        // The SDK comes from the project's own node_modules: without it, the build says so before cargo runs.
        const missingSdk = kvbox(['build'], dir);
        expect(missingSdk.status).toBe(1);
        expect(missingSdk.out).toMatch(/BuildError \(ERR_KVBOX_BUILD\): the Rust SDK is not in .*node_modules\/@kvbox\/kvbox\/crates\/connector-sdk: run npm install in /);
      }
      // What `npm install /path/to/kvbox` does in the project (the registry's package is not reachable here).
      mkdirSync(join(dir, 'node_modules', '@kvbox'), { recursive: true });
      symlinkSync(ROOT, join(dir, 'node_modules', '@kvbox', 'kvbox'));
      const built = kvbox(['build', '--json'], dir);
      expect(built.status, built.out).toBe(0);
      const result = JSON.parse(built.out.slice(built.out.lastIndexOf('\n{') + 1)) as { path: string; bytes: number; sha256: string; ms: number };
      expect(result.path).toBe(join(dir, 'dist', `${name}.wasm`));
      console.log(`kit: ${lang} template built in ${(result.ms / 1000).toFixed(1)} s, ${result.bytes} bytes`);

      const tested = kvbox(['test', `dist/${name}.wasm`], dir);
      expect(tested.status, tested.out).toBe(0);
      expect(tested.out).toMatch(/conformance ok: \d+ passed, 0 failed/);
      // A configuration is checked against the configSchema the component embeds (the template's: no fields
      // but the Rust one's two), before any case runs.
      const drifted = kvbox(['test', `dist/${name}.wasm`, '--config', lang === 'rust' ? '{"namespace":5,"shards":2}' : '{"shards":2}'], dir);
      expect(drifted.status, drifted.out).toBe(1);
      expect(drifted.out.trimEnd().split('\n')[0]).toMatch(
        lang === 'rust'
          ? /^kvbox: InvalidConfigError \(ERR_KVBOX_INVALID_CONFIG\): the configuration does not match the configSchema .* embeds: config must NOT have additional properties \(shards\); config\.namespace must be string$/
          : /^kvbox: InvalidConfigError \(ERR_KVBOX_INVALID_CONFIG\): the configuration does not match the configSchema .* embeds: config must NOT have additional properties \(shards\)$/,
      );

      const inspected = kvbox(['inspect', '--json', `dist/${name}.wasm`], dir);
      expect(inspected.status, inspected.out).toBe(0);
      const report = JSON.parse(inspected.out) as { name: string; version: string; licenses: string; contractVersions: string[]; sha256: string; manifest: { lang: string }; imports: { verdict: string }[] };
      expect(report).toMatchObject({ name, version: '0.1.0', licenses: 'Apache-2.0', contractVersions: ['0.2.0'], sha256: result.sha256, manifest: { lang } });
      expect(report.imports.filter((i) => i.verdict === 'missing'), 'imports kvbox does not provide').toEqual([]);

      // Pinning: the artifact loads with its own hash and is refused with any other.
      const wasm = readFileSync(result.path);
      expect((await compileConnector(wasm, { sha256: result.sha256, cacheDir: join(base, 'cache') })).sha256).toBe(result.sha256);
      const other = result.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      const err = await rejectsWith(compileConnector(wasm, { sha256: other }), LoadError, 'ERR_KVBOX_LOAD');
      expect(err.message).toContain(result.sha256);
      expect(err.message).toContain(other);

      if (lang === 'c') {
        // The C mistake wasmtime reports as "borrow handles still remain": kvbox names the call and the fix.
        const source = join(dir, 'src', 'connector.c');
        const edited = readFileSync(source, 'utf8').replace(/^\s*kvbox_connector_payload_payload_drop_borrow\(data\);.*$/m, '');
        expect(edited).not.toBe(readFileSync(source, 'utf8'));
        writeFileSync(source, edited);
        rmSync(join(dir, 'dist'), { recursive: true });
        expect(kvbox(['build'], dir).status).toBe(0);
        const leaky = await compileConnector(join(dir, 'dist', `${name}.wasm`), { cacheDir: false });
        await using store = await leaky.open({ root: join(base, 'leaky') });
        const trap = await rejectsWith(store.put('k', Buffer.from('v')), TrapError, 'ERR_KVBOX_TRAP');
        expect(trap.message).toMatch(/returned from put still holding a borrowed payload handle.*kvbox_connector_payload_payload_drop_borrow/s);
      }
    });
  }
});
