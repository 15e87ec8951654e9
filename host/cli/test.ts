/** `kvbox test`: the conformance suite against a component. */
import { type Command, Option } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compileConfigSchema, type ConfigCheck } from '../author/config-schema.js';
import { inspectComponent } from '../author/inspect.js';
import { conformanceCases, runConformance } from '../conformance/index.js';
import { InvalidConfigError } from '../errors.js';
import { testDir } from '../conformance/run.js';
import { compileConnector, type ConnectorComponent } from '../load.js';
import { printJson } from './output.js';
import { globalsOf, parseConfig } from './tenant.js';

/** Registers `kvbox test`. */
export function register(program: Command): void {
  program
    .command('test')
    .summary('run the conformance suite against a connector component')
    .description('run the connector conformance suite (@kvbox/kvbox/conformance) against a component, each case on fresh tenant directories; exit 1 when a case fails')
    .argument('<file.wasm>', 'the connector component')
    .addOption(new Option('--config <json|@file>', "the connector's JSON configuration, inline or @path").argParser(parseConfig))
    .option('--dir <dir>', 'where tenant directories are made (disk-backed; removed afterwards) [$KVBOX_TEST_DIR or /var/tmp]')
    .option('--grep <text>', 'only the cases whose name contains this')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, flags: { config?: Record<string, unknown>; dir?: string; grep?: string; json?: boolean }, self: Command) => {
      const path = resolve(file);
      if (flags.grep !== undefined && !conformanceCases.some((c) => c.name.includes(flags.grep!))) {
        self.error(`no conformance case matches --grep ${JSON.stringify(flags.grep)}`);
      }
      const t = performance.now();
      const config = flags.config ?? {};
      let component: ConnectorComponent;
      let compileMs: number;
      try {
        component = await compileConnector(path, { cacheDir: globalsOf(self).cacheDir });
        compileMs = performance.now() - t;
        if (flags.config !== undefined) await checkAgainstSchema(path, config);
        await probeOpen(component, config, flags.dir);
      } catch (err) {
        // A component that does not compile or a config it refuses: still a report under --json.
        if (flags.json) printJson({ file: path, config, passed: 0, failed: 0, results: [], error: errorFields(err) });
        throw err;
      }
      if (!flags.json) console.log(`kvbox: testing ${path} (contract ${component.contractVersion}, sha256 ${component.sha256?.slice(0, 16)}…, ${component.origin} in ${compileMs.toFixed(0)} ms) with config ${JSON.stringify(config)}\n`);
      const report = await runConformance((root, limits) => component.open({ root, limits, config }), {
        dir: flags.dir,
        filter: flags.grep ? (name) => name.includes(flags.grep!) : undefined,
        onResult: flags.json ? undefined : (r) => console.log(`  ${r.ok ? 'ok  ' : 'FAIL'}  ${r.name} (${r.ms.toFixed(0)} ms)${r.ok ? '' : `\n        ${String(r.error?.message).split('\n').join('\n        ')}`}`),
      });
      if (flags.json) {
        printJson({ file: path, sha256: component.sha256, contractVersion: component.contractVersion, config, ...report, results: report.results.map((r) => ({ ...r, error: r.error?.message })) });
      } else {
        console.log(`\n${report.failed === 0 ? 'conformance ok' : 'conformance FAILED'}: ${report.passed} passed, ${report.failed} failed`);
      }
      if (report.failed > 0 || report.results.length === 0) process.exitCode = 1;
    });
}

/** An error as JSON fields: its class name, `ERR_KVBOX_*` code when it has one, and message. */
function errorFields(err: unknown): { name: string; code?: string; message: string } {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const code = (err as { code?: unknown }).code;
  return { name: err.name, ...(typeof code === 'string' ? { code } : {}), message: err.message };
}

/**
 * Checks `--config` against the `configSchema` the component embeds (`kvbox build` puts kvbox.json's there),
 * if any, so a configuration that drifted from the schema the author publishes is named before any case runs.
 * An embedded schema kvbox cannot use (another draft, an invalid one) is a warning: the connector itself
 * still judges the configuration.
 * @throws {@link InvalidConfigError} naming every mismatch
 */
async function checkAgainstSchema(path: string, config: Record<string, unknown>): Promise<void> {
  const schema = (await inspectComponent(path)).manifest?.configSchema;
  if (schema === undefined) return;
  let check: ConfigCheck;
  try {
    check = compileConfigSchema(schema, false);
  } catch (err) {
    console.error(`kvbox: warning: the configSchema ${path} embeds cannot be used (${(err as Error).message}); --config is not checked against it`);
    return;
  }
  const wrong = check(config);
  if (wrong !== undefined) throw new InvalidConfigError(`the configuration does not match the configSchema ${path} embeds: ${wrong}`);
}

/** Opens the component once with `config`, so a configuration it refuses is one error, not one failure per case. */
async function probeOpen(component: ConnectorComponent, config: Record<string, unknown>, dir: string | undefined): Promise<void> {
  const root = mkdtempSync(join(testDir(dir), 'kvbox-test-probe-'));
  try {
    const store = await component.open({ root, config });
    await store.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
