/**
 * Structured logs (pino, JSON lines). Connector log records (the
 * connector's `log` calls, its stdout and stderr) are taken after each call
 * and logged with the tenant, a timestamp and the operation that just ran.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { pino, type Level, type Logger } from 'pino';
import { CALL_CHANNEL, type CallEvent } from '../metrics.js';
import type { TenantRegistry } from './tenants.js';

/** A JSON logger to stdout (or `destination`), ISO timestamps. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { pid: process.pid, service: 'kvbox-serve' }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}

const LEVELS = new Set<string>(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/**
 * Forwards connector log records to `log`. Records are gathered per
 * connector, so with calls running in parallel a record may be attributed
 * to a neighbouring call of the same tenant.
 * @returns a function that stops forwarding.
 */
export function forwardConnectorLogs(tenants: () => TenantRegistry | undefined, log: Logger): () => void {
  const onCall = (message: unknown) => {
    const e = message as CallEvent;
    const tenant = tenants()?.ofConnector(e.connector);
    if (!tenant || e.connector.closed) return;
    for (const record of e.connector.drainLog()) {
      const level = (LEVELS.has(record.level) ? record.level : 'info') as Level;
      log[level]({ tenant: tenant.name, op: e.op, source: record.source }, record.message);
    }
  };
  subscribe(CALL_CHANNEL, onCall);
  return () => unsubscribe(CALL_CHANNEL, onCall);
}
