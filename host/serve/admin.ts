/**
 * The HTTP admin listener: `GET /metrics` (Prometheus text format),
 * `GET /healthz` (the process answers), `GET /readyz` (every listener bound
 * and not shutting down), `POST /reload` (re-read the configuration; needs
 * the bearer token of `admin.token`, and is off without one).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SecretCheck } from './secrets.js';
import type { ServeMetrics } from './metrics.js';

/** What the admin listener serves. */
export interface AdminTarget {
  readonly metrics: ServeMetrics;
  readonly ready: boolean;
  /** The current admin token check, if any (a reload may change it). */
  adminToken(): SecretCheck | undefined;
  /** Reloads; resolves with a JSON-able report. */
  reload(): Promise<unknown>;
}

/** Starts the admin listener. */
export async function listenAdmin(target: AdminTarget, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    handle(target, req, res).catch((err: unknown) => send(res, 500, { error: (err as Error).message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** The bound address of a listening admin server. */
export function adminAddress(server: Server): AddressInfo {
  return server.address() as AddressInfo;
}

async function handle(target: AdminTarget, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://admin').pathname;
  if (req.method === 'GET' && path === '/metrics') {
    const body = await target.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': target.metrics.registry.contentType }).end(body);
  } else if (req.method === 'GET' && path === '/healthz') {
    send(res, 200, { status: 'ok' });
  } else if (req.method === 'GET' && path === '/readyz') {
    send(res, target.ready ? 200 : 503, { status: target.ready ? 'ready' : 'not ready' });
  } else if (req.method === 'POST' && path === '/reload') {
    const check = target.adminToken();
    if (!check) return send(res, 403, { error: 'reload over HTTP is off: set admin.token in the configuration' });
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined || !(await check(Buffer.from(token, 'utf8')))) return send(res, 401, { error: 'wrong or missing bearer token' });
    try {
      send(res, 200, await target.reload());
    } catch (err) {
      send(res, 422, { error: (err as Error).message, code: (err as { code?: string }).code });
    }
  } else {
    send(res, 404, { error: `no ${req.method} ${path}; try /metrics, /healthz, /readyz, POST /reload` });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
}
