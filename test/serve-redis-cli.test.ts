import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import type { ServeConfigInput } from '../host/index.js';
import { bytes, scratch } from './helpers.js';
import { have, startServer } from './serve/helpers.js';

// Real third-party clients from Debian's redis-tools (installed by scripts/install-system-deps.sh).
const missing = ['redis-cli', 'redis-benchmark'].filter((c) => !have(c));
if (missing.length > 0) console.warn(`serve-redis-cli: skipped: ${missing.join(', ')} not on PATH (Debian package redis-tools; scripts/install-system-deps.sh installs it)`);

describe.skipIf(missing.length > 0)('kvbox serve with redis-cli and redis-benchmark', async () => {
  const base = scratch('serve-redis-cli');
  // The documented example, with ephemeral ports and roots in a scratch directory.
  const example = parse(readFileSync(new URL('../docs/examples/serve.toml', import.meta.url), 'utf8')) as unknown as ServeConfigInput;
  process.env.KVBOX_BETA_PASSWORD = 'beta-secret';
  const config: ServeConfigInput = {
    ...example,
    resp: { ...example.resp!, port: 0 },
    admin: { ...example.admin!, port: 0 },
    log: { level: 'silent' },
    cacheDir: false,
    tenants: Object.fromEntries(Object.entries(example.tenants).map(([name, t]) => [name, { ...t, root: join(base, name), lm: undefined, durable: false }])),
  };
  const server = await startServer(config);
  const port = String(server.resp!.port);
  const alpha = ['-p', port, '--user', 'alpha', '--pass', 'alpha-secret', '--no-auth-warning'];
  const beta = ['-p', port, '--user', 'beta', '--pass', 'beta-secret', '--no-auth-warning'];
  // Asynchronous: the server runs in this process, so the event loop must stay free.
  const run = (command: string, args: string[], input?: Buffer) =>
    new Promise<{ status: number | null; stdout: Buffer; stderr: string }>((resolve, reject) => {
      const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
      child.stdin.end(input);
    });
  const cli = async (args: string[], input?: Buffer) => {
    const r = await run('redis-cli', args, input);
    expect(r.status, r.stderr).toBe(0);
    return r.stdout;
  };

  it('runs SET, GET, EXISTS, DEL, DBSIZE, STRLEN and a --scan against a two-tenant server', async () => {
    expect((await cli([...alpha, 'SET', 'model@1@0@ab@bf16', 'hello'])).toString()).toBe('OK\n');
    expect((await cli([...alpha, 'GET', 'model@1@0@ab@bf16'])).toString()).toBe('hello\n');
    expect((await cli([...alpha, 'STRLEN', 'model@1@0@ab@bf16'])).toString()).toBe('5\n');
    expect((await cli([...alpha, 'EXISTS', 'model@1@0@ab@bf16', 'nope'])).toString()).toBe('1\n');
    for (let i = 0; i < 30; i++) await cli([...alpha, 'SET', `scan-${i}`, String(i)]);
    const scanned = (await cli([...alpha, '--scan', '--pattern', 'scan-1*', '-i', '0'])).toString().trim().split('\n').sort();
    expect(scanned).toEqual(['scan-1', ...Array.from({ length: 10 }, (_, i) => `scan-1${i}`)].sort());
    expect(Number((await cli([...alpha, 'DBSIZE'])).toString())).toBe(31);
    expect((await cli([...alpha, 'DEL', 'model@1@0@ab@bf16'])).toString()).toBe('1\n');
    // The other tenant sees none of it.
    expect((await cli([...beta, 'DBSIZE'])).toString()).toBe('0\n');
    expect((await cli([...beta, 'GET', 'scan-1'])).toString()).toBe('\n');
  });

  it('stores a 1 MiB value from stdin and reads it back byte for byte', async () => {
    const value = Buffer.from(bytes(1 << 20).toString('base64').slice(0, 1 << 20));
    expect((await cli([...beta, '-x', 'SET', 'big'], value)).toString()).toBe('OK\n');
    const back = await cli([...beta, '--raw', 'GET', 'big']);
    expect(back.subarray(0, -1).equals(value)).toBe(true);
  });

  it('reports errors for unknown commands and missing AUTH the way redis-cli prints them', async () => {
    expect((await cli([...alpha, 'FLUSHALL'])).toString()).toMatch(/^ERR unknown command 'FLUSHALL'/);
    expect((await cli(['-p', port, 'GET', 'x'])).toString()).toMatch(/^NOAUTH Authentication required/);
    expect((await cli(['-p', port, '--user', 'alpha', '--pass', 'wrong', '--no-auth-warning', 'PING'])).toString()).toMatch(/NOAUTH|WRONGPASS/);
  });

  it('survives redis-benchmark SET/GET with 8 connections, with and without pipelining, and keeps what it wrote', async () => {
    for (const pipeline of ['1', '16']) {
      const r = await run('redis-benchmark', ['-p', port, '--user', 'alpha', '-a', 'alpha-secret', '-t', 'set,get', '-n', '400', '-c', '8', '-d', '65536', '-P', pipeline, '-q']);
      expect(r.status, r.stderr).toBe(0);
      const rates = [...r.stdout.toString().matchAll(/(SET|GET): ([\d.]+) requests per second/g)].map((m) => [m[1], Number(m[2])]);
      expect(rates.map(([op]) => op)).toEqual(['SET', 'GET']);
      for (const [, rate] of rates) expect(rate).toBeGreaterThan(0);
    }
    expect((await cli([...alpha, 'STRLEN', 'key:__rand_int__'])).toString()).toBe('65536\n');
  });
});
