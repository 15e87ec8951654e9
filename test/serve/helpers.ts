/** Helpers for the server tests: configurations, in-process servers, server processes, clients. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll } from 'vitest';
import { createServer, type KvboxServer, type ServeConfigInput } from '../../host/index.js';
import { createLogger } from '../../host/serve/log.js';
import { RespClient } from './resp-client.js';

/** The password of tenant `name` in these tests (given to the server as `env:` references). */
export function password(name: string): string {
  return `pw-${name}-secret`;
}

/** A tenant's configuration: native or sandboxed fs connector under `base`, password by environment variable. */
export function tenant(base: string, name: string, extra: Record<string, unknown> = {}): ServeConfigInput['tenants'][string] {
  const variable = `KVBOX_TEST_PW_${name.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;
  process.env[variable] = password(name);
  return { connector: 'native-fs', root: join(base, name), auth: { username: name, password: `env:${variable}` }, durable: false, ...extra };
}

/** A configuration with RESP and admin on ephemeral loopback ports. */
export function serveConfig(tenants: ServeConfigInput['tenants'], extra: Partial<ServeConfigInput> = {}): ServeConfigInput {
  return { resp: { port: 0 }, admin: { port: 0 }, log: { level: 'silent' }, cacheDir: false, tenants, ...extra };
}

/** Starts a server in this process (silent logs), closed after the file's tests. */
export async function startServer(config: ServeConfigInput | string): Promise<KvboxServer> {
  const server = await createServer(config, { logger: createLogger('silent') });
  afterAll(() => server.close());
  return server;
}

/** A RESP connection authenticated as tenant `name` (LMCache's `AUTH username password`). */
export async function authed(port: number, name: string): Promise<RespClient> {
  const c = await RespClient.connect(port);
  const r = await c.call('AUTH', name, password(name));
  if (!(r !== null && typeof r === 'object' && 'simple' in r && r.simple === 'OK')) throw new Error(`AUTH as ${name} failed: ${JSON.stringify(r)}`);
  return c;
}

/** A server running as its own process (`node dist/serve/main.js`). */
export interface ServeProcess {
  child: ChildProcess;
  /** Bound ports, from the ready log line. */
  resp: number;
  admin?: number;
  lm: Record<string, number>;
  /** Every log line so far. */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const MAIN = new URL('../../dist/serve/main.js', import.meta.url).pathname;

/** Writes `config` as a JSON configuration file (logs at info, for {@link spawnServe}). */
export function writeConfig(dir: string, config: ServeConfigInput, file: string): string {
  const path = join(dir, file);
  writeFileSync(path, JSON.stringify({ ...config, log: { level: 'info' } }));
  return path;
}

/** Writes `config` as JSON and starts a server process on it; resolves once it logs that it is ready. */
export async function spawnServe(dir: string, config: ServeConfigInput, file = 'serve.json'): Promise<ServeProcess> {
  const path = writeConfig(dir, config, file);
  const child = spawn(process.execPath, [MAIN, '--config', path], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  const lines: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const stderr: string[] = [];
  child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const ready = await new Promise<Record<string, { port: number } | Record<string, { port: number }>>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      const record = JSON.parse(line) as { msg: string };
      if (record.msg === 'kvbox serve ready') resolve(record as never);
    });
    void exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before ready: ${stderr.join('')}${lines.join('\n')}`)));
  });
  const lm = Object.fromEntries(Object.entries((ready.lm ?? {}) as Record<string, { port: number }>).map(([k, v]) => [k, v.port]));
  return { child, resp: (ready.resp as { port: number }).port, admin: (ready.admin as { port: number } | undefined)?.port, lm, lines, exited };
}

/** Whether a command is on PATH. */
export function have(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** Resolves after `ms` (for bounded polling loops only, never for assertions on time). */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
