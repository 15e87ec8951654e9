/**
 * A real S3-compatible store for the tests: SeaweedFS (`weed server -s3`) on
 * loopback, built once from the Go module proxy by scripts/seaweedfs.mjs and
 * cached. One store per test file ({@link startStore}) or per benchmark.
 *
 * The store has one identity with keys (what kvbox uses) and anonymous
 * read/list/write access, so tests can see what is really stored with plain
 * unsigned requests (and corrupt an object behind kvbox's back). A request
 * signed with a wrong secret is still refused.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket, connect } from 'node:net';
import { join } from 'node:path';
import type { S3StorageOptions } from '../../host/index.js';
// @ts-expect-error -- a plain .mjs build script, no types
import { ensureWeed } from '../../scripts/seaweedfs.mjs';

export const ACCESS_KEY = 'kvbox-test-key';
export const SECRET_KEY = 'kvbox-test-secret-0123456789';
export const BUCKET = 'kvbox';

/** A free loopback port whose +10000 (SeaweedFS's gRPC port) is free too. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 25_000);
    if ((await canBind(port)) && (await canBind(port + 10_000))) return port;
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One SeaweedFS server (master, volume, filer and S3 gateway in one process). */
export class SeaweedStore {
  readonly endpoint: string;
  #child: ChildProcess | undefined;
  #log: string[] = [];

  private constructor(
    readonly weed: string,
    readonly dir: string,
    readonly ports: { s3: number; master: number; volume: number; filer: number },
  ) {
    this.endpoint = `http://127.0.0.1:${ports.s3}`;
  }

  /** Builds (first time only) and starts a store with bucket {@link BUCKET}; {@link destroy} it after use. */
  static async launch(): Promise<SeaweedStore> {
    const weed = ensureWeed({ log: (m: string) => console.log(m) }) as string;
    const dir = mkdtempSync(join(process.env.KVBOX_TEST_DIR ?? '/var/tmp', 'kvbox-seaweed-'));
    const ports = { s3: await freePort(), master: await freePort(), volume: await freePort(), filer: await freePort() };
    const store = new SeaweedStore(weed, dir, ports);
    writeFileSync(
      join(dir, 's3.json'),
      JSON.stringify({
        identities: [
          { name: 'kvbox', credentials: [{ accessKey: ACCESS_KEY, secretKey: SECRET_KEY }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] },
          { name: 'anonymous', actions: ['Read', 'List', 'Write'] },
        ],
      }),
    );
    await store.run();
    execFileSync(weed, ['shell', `-master=127.0.0.1:${ports.master}`], { input: `s3.bucket.create -name ${BUCKET}\n`, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
    await store.#waitFor(async () => (await fetch(`${store.endpoint}/${BUCKET}?list-type=2&max-keys=1`)).status === 200, 'the bucket to appear');
    store.#bucketMade = true;
    return store;
  }

  /** Starts the process (on the same data and ports) and waits until the S3 gateway answers. */
  async run(): Promise<void> {
    mkdirSync(join(this.dir, 'data'), { recursive: true });
    const { s3, master, volume, filer } = this.ports;
    const child = spawn(
      this.weed,
      [
        'server',
        '-ip=127.0.0.1',
        '-ip.bind=127.0.0.1',
        `-dir=${join(this.dir, 'data')}`,
        `-master.port=${master}`,
        '-master.volumeSizeLimitMB=64',
        '-master.volumePreallocate=false',
        `-volume.port=${volume}`,
        '-volume.max=0',
        `-filer.port=${filer}`,
        '-s3',
        `-s3.port=${s3}`,
        `-s3.config=${join(this.dir, 's3.json')}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (d: Buffer) => {
      this.#log.push(d.toString());
      if (this.#log.length > 200) this.#log.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.#child = child;
    await this.#waitFor(async () => {
      const r = await fetch(`${this.endpoint}/`);
      return r.status < 500;
    }, 'the S3 gateway to answer');
    if (this.#bucketMade) {
      // After a restart the gateway answers before volumes are writable again: wait for a real write.
      await this.#waitFor(async () => (await fetch(`${this.endpoint}/${BUCKET}/.probe`, { method: 'PUT', body: 'x', signal: AbortSignal.timeout(5000) })).status === 200, 'the store to take writes');
    }
  }

  #bucketMade = false;

  async #waitFor(ok: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      if (this.#child?.exitCode !== null && this.#child?.exitCode !== undefined) break;
      try {
        if (await ok()) return;
      } catch {
        // not listening yet
      }
      await pause(200);
    }
    throw new Error(`SeaweedFS: timed out waiting for ${what}; its log:\n${this.#log.join('').slice(-4000)}`);
  }

  /** Kills the process at once (for exit handlers, which cannot wait). */
  killNow(): void {
    this.#child?.kill('SIGKILL');
  }

  /** Stops the process (SIGTERM, then SIGKILL after 10 s). */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the store and deletes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops and starts the store again on the same data. */
  async restart(): Promise<void> {
    await this.stop();
    await this.run();
  }

  /** The storage options of a tenant on `prefix`. */
  storage(prefix: string, extra: Partial<S3StorageOptions> = {}): S3StorageOptions {
    return { kind: 's3', endpoint: this.endpoint, bucket: BUCKET, prefix, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }, ...extra };
  }

  /** Every key stored under `prefix/`, relative to it, as the store lists them (unsigned). */
  async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const q = new URLSearchParams({ 'list-type': '2', prefix: prefix === '' ? '' : `${prefix}/` });
      if (token) q.set('continuation-token', token);
      const r = await fetch(`${this.endpoint}/${BUCKET}?${q}`);
      const xml = await r.text();
      if (r.status !== 200) throw new Error(`listing ${prefix}: ${r.status} ${xml}`);
      for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) out.push(unescapeXml(m[1]!).slice(prefix === '' ? 0 : prefix.length + 1));
      token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? unescapeXml(/<NextContinuationToken>([^<]*)</.exec(xml)?.[1] ?? '') : undefined;
    } while (token);
    return out.sort();
  }
}

function unescapeXml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/**
 * A TCP relay on loopback in front of the store that holds every chunk
 * `delayMs` before passing it on: a slow network path to a real store.
 */
export async function slowRelay(target: number, delayMs: number): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    const pipe = (from: Socket, to: Socket) => from.on('data', (d) => setTimeout(() => to.writable && to.write(d), delayMs));
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A store for one test file, destroyed after its tests. */
export async function startStore(): Promise<SeaweedStore> {
  const { afterAll } = await import('vitest');
  const store = await SeaweedStore.launch();
  afterAll(() => store.destroy());
  return store;
}
