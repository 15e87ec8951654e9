import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { register } from '../host/cli/serve.js';
import { createServer } from '../host/index.js';
import { createLogger } from '../host/serve/log.js';
import { bytes, scratch } from './helpers.js';
import { authed, serveConfig, tenant } from './serve/helpers.js';
import { text } from './serve/resp-client.js';

const base = scratch('serve-hostile');
const PANIC = new URL('../guests/dist/hostile-panic.wasm', import.meta.url).pathname;

describe('a hostile connector behind the server', () => {
  it('turns its trap into an error reply, logs its panic message with tenant, time and operation, counts it, and leaves other tenants alone', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const sha256 = createHash('sha256').update(readFileSync(PANIC)).digest('hex');
    const server = await createServer(
      serveConfig({ evil: tenant(base, 'evil', { connector: PANIC, sha256 }), good: tenant(base, 'good') }),
      { logger: createLogger('info', sink) },
    );
    try {
      const evil = await authed(server.resp!.port, 'evil');
      const good = await authed(server.resp!.port, 'good');
      const [bad, fine] = await Promise.all([evil.call('SET', 'attack', bytes(1)), good.call('SET', 'k', bytes(1000))]);
      expect(text(bad)).toMatch(/^-ERR ERR_KVBOX_TRAP /);
      expect(text(fine)).toBe('OK');
      expect(text(await evil.call('PING'))).toBe('PONG'); // the connection survives its connector's trap
      const record = lines.find((l) => typeof l.msg === 'string' && l.msg.includes('panics on purpose'));
      expect(record).toMatchObject({ tenant: 'evil', op: 'put', source: 'log' });
      expect(Date.parse(record!.time as string)).not.toBeNaN();
      const metrics = await server.metrics.registry.metrics();
      expect(metrics).toMatch(/kvbox_traps_total\{tenant="evil"\} 1/);
      expect(metrics).toMatch(/kvbox_traps_total\{tenant="good"\} 0/);
      expect(metrics).toMatch(/kvbox_operations_total\{tenant="evil",op="put",result="error"\} 1/);
      evil.close();
      good.close();
    } finally {
      await server.close();
    }
  });
});

describe('kvbox serve command', () => {
  const program = () => {
    const p = new Command('kvbox').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    register(p);
    return p;
  };

  it('registers `serve` with --config and --hash-password', () => {
    const serve = program().commands.find((c) => c.name() === 'serve')!;
    expect(serve.options.map((o) => o.long)).toEqual(['--config', '--hash-password']);
  });

  it('refuses to start without --config', async () => {
    const err = await program()
      .parseAsync(['node', 'kvbox', 'serve'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommanderError);
    expect((err as Error).message).toMatch(/--config <file> is required/);
  });
});
