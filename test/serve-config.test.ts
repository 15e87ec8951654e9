import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createServer, FS_CONNECTOR, hashSecret, PinMismatchError, ServeConfigError } from '../host/index.js';
import { loadConfigFile } from '../host/serve/config.js';
import { createLogger } from '../host/serve/log.js';
import { rejectsWith, scratch } from './helpers.js';
import { authed, serveConfig, startServer, tenant } from './serve/helpers.js';
import { text } from './serve/resp-client.js';

const base = scratch('serve-config');
const silent = { logger: createLogger('silent') };

function configError(contents: string, name = `c${Math.random().toString(36).slice(2)}.toml`): ServeConfigError {
  const file = join(base, name);
  writeFileSync(file, contents);
  try {
    loadConfigFile(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ServeConfigError);
    expect((err as ServeConfigError).code).toBe('ERR_KVBOX_INVALID_CONFIG');
    expect((err as Error).message).toContain(file);
    return err as ServeConfigError;
  }
  throw new Error('expected the configuration to be refused');
}

describe('serve configuration', () => {
  it('names the file, the tenant and the field of an invalid value', () => {
    const err = configError(`[tenants.alpha]\nconnector = "fs"\nroot = "a"\nauth = { password = "env:X" }\nlimits = { maxObjectBytes = -1 }\n`);
    expect(err.message).toMatch(/tenant "alpha", field limits\.maxObjectBytes: Too small: expected number to be >=1/);
  });

  it('lists several problems on one line, each with its tenant and field', () => {
    const err = configError(`[tenants.a]\nconnector = "fs"\nroot = "a"\nauth = { password = "env:X" }\nlimits = { maxObjectBytes = 0 }\nquota = { bytes = -1 }\n`);
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(/: 2 problems: tenant "a", field limits\.maxObjectBytes: [^;]+; tenant "a", field quota\.bytes: /);
  });

  it('names unknown fields', () => {
    const err = configError(`[tenants.alpha]\nconnector = "fs"\nroot = "a"\nauth = { password = "env:X" }\nrot = "typo"\n`);
    expect(err.message).toMatch(/tenant "alpha", field \(the tenant itself\): Unrecognized key: "rot"/);
  });

  it('refuses a password written in plain text', () => {
    const err = configError(`[tenants.alpha]\nconnector = "fs"\nroot = "a"\nauth = { password = "hunter2" }\n`);
    expect(err.message).toMatch(/tenant "alpha", field auth\.password: must be a scrypt hash/);
  });

  it('refuses a reference to a missing environment variable or file', () => {
    expect(configError(`[tenants.a]\nconnector = "fs"\nroot = "a"\nauth = { password = "env:KVBOX_SURELY_UNSET" }\n`).message).toMatch(
      /tenant "a", field auth\.password: refers to environment variable KVBOX_SURELY_UNSET, which is not set/,
    );
    expect(configError(`[tenants.a]\nconnector = "fs"\nroot = "a"\nauth = { password = "file:/nonexistent/pw" }\n`).message).toMatch(/ENOENT/);
  });

  it('requires a sha256 pin for a .wasm path, and refuses invalid TOML and JSON', () => {
    expect(configError(`[tenants.a]\nconnector = "./x.wasm"\nroot = "a"\nauth = { password = "env:X" }\n`).message).toMatch(/tenant "a", field sha256: is required/);
    expect(configError(`[tenants.a]\nconnector = "redis"\nroot = "a"\nauth = { password = "env:X" }\n`).message).toMatch(/tenant "a", field connector: must be fs or native-fs, or a path/);
    expect(configError(`[tenants.a\n`).message).toMatch(/not valid TOML at line 1, column \d+: [^\n]+$/);
    expect(configError(`this is = = not toml\n`).message, 'one line, no code frame').toMatch(/: not valid TOML at line 1, column 6: illegal character in key$/);
    expect(configError(`{"tenants": `, 'bad.json').message).toMatch(/not valid JSON/);
  });

  it('refuses two tenants with one username or one root', () => {
    process.env.KVBOX_CFG_PW = 'x';
    const two = (b: string) => `[tenants.a]\nconnector = "fs"\nroot = "r1"\nauth = { username = "u", password = "env:KVBOX_CFG_PW" }\n[tenants.b]\nconnector = "fs"\n${b}`;
    expect(configError(two(`root = "r2"\nauth = { username = "u", password = "env:KVBOX_CFG_PW" }\n`)).message).toMatch(/tenant "b", field auth\.username: "u" is also tenant "a"/);
    expect(configError(two(`root = "r1"\nauth = { username = "v", password = "env:KVBOX_CFG_PW" }\n`)).message).toMatch(/tenant "b", field root: .* is also tenant "a"'s root/);
  });

  it('logs a start that fails (a root another server holds) before undoing it, and reports why', async () => {
    const config = serveConfig({ held: tenant(base, 'held') });
    const first = await createServer(config, { logger: createLogger('silent') });
    const lines: Array<{ msg: string; err?: { code?: string } }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { msg: string });
        done();
      },
    });
    try {
      const err = await rejectsWith(createServer(config, { logger: createLogger('info', sink) }), ServeConfigError, 'ERR_KVBOX_INVALID_CONFIG');
      expect(err.message).toMatch(/tenant "held".*cannot open the connector \(ERR_KVBOX_BUSY\)/);
      expect(lines.map((l) => l.msg)).toEqual(['start failed; undoing what started', 'shutting down: finishing requests in flight', 'stopped']);
      expect(lines[0]!.err?.code).toBe('ERR_KVBOX_INVALID_CONFIG');
    } finally {
      await first.close();
    }
  });

  it('refuses tenant roots inside one another, through symbolic links too, and accepts siblings', () => {
    process.env.KVBOX_CFG_PW = 'x';
    const two = (r1: string, r2: string) =>
      `[tenants.a]\nconnector = "fs"\nroot = "${r1}"\nauth = { username = "u", password = "env:KVBOX_CFG_PW" }\n` +
      `[tenants.b]\nconnector = "fs"\nroot = "${r2}"\nauth = { username = "v", password = "env:KVBOX_CFG_PW" }\n`;
    // The trial's case: b's root is a's namespace directory, so b read and overwrote a's objects.
    expect(configError(two('data/alpha', 'data/alpha/llama-3-8b')).message).toMatch(/tenant "b", field root: .*data\/alpha\/llama-3-8b is inside tenant "a"'s root .*data\/alpha \(tenants' directories must not overlap\)/);
    expect(configError(two('data/alpha/deep/er', 'data/alpha')).message).toMatch(/tenant "b", field root: .*data\/alpha contains tenant "a"'s root/);
    mkdirSync(join(base, 'real', 'alpha'), { recursive: true });
    rmSync(join(base, 'link'), { force: true });
    symlinkSync(join(base, 'real'), join(base, 'link'));
    expect(configError(two(join(base, 'real', 'alpha'), join(base, 'link'))).message).toMatch(/tenant "b", field root: .*link contains tenant "a"'s root/);
    // Siblings whose names share a prefix do not overlap.
    const siblings = join(base, 'siblings.toml');
    writeFileSync(siblings, two('data/ab', 'data/a'));
    expect([...loadConfigFile(siblings).tenants.keys()]).toEqual(['a', 'b']);
  });

  it('refuses to start a .wasm connector whose sha256 differs from its pin, and starts it when it matches', async () => {
    const wasm = join(base, 'connector.wasm');
    copyFileSync(FS_CONNECTOR, wasm);
    const digest = createHash('sha256').update(readFileSync(wasm)).digest('hex');
    const wrong = digest.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const config = (sha256: string) => serveConfig({ pinned: tenant(base, 'pinned', { connector: wasm, sha256 }) });
    const err = await rejectsWith(createServer(config(wrong), silent), PinMismatchError, 'ERR_KVBOX_LOAD');
    expect(err.message).toMatch(new RegExp(`tenant "pinned", field sha256: .*connector\\.wasm has sha256 ${digest}, the configuration pins ${wrong}`));
    const server = await startServer(config(digest));
    const c = await authed(server.resp!.port, 'pinned');
    expect(text(await c.call('SET', 'k', 'v'))).toBe('OK');
    c.close();
  });

  it('checks scrypt hashes', async () => {
    const hash = await hashSecret('correct horse');
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    const server = await startServer(serveConfig({ hashed: { ...tenant(base, 'hashed'), auth: { username: 'h', password: hash } } }));
    const { RespClient } = await import('./serve/resp-client.js');
    const c = await RespClient.connect(server.resp!.port);
    expect(text(await c.call('AUTH', 'h', 'correct horse!'))).toMatch(/^-WRONGPASS/);
    expect(text(await c.call('AUTH', 'h', 'correct horse'))).toBe('OK');
    c.close();
  });

  it('loads the documented example configuration', () => {
    process.env.KVBOX_BETA_PASSWORD = 'example';
    const config = loadConfigFile(new URL('../docs/examples/serve.toml', import.meta.url).pathname);
    expect([...config.tenants.keys()]).toEqual(['alpha', 'beta']);
    expect(config.resp?.port).toBe(6380);
  });
});
