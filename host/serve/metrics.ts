/**
 * The server's Prometheus metrics (prom-client), per tenant. Connector calls
 * are measured once, by the library (host/metrics.ts): its diagnostics
 * channel feeds the per-operation counters and histograms here, and each
 * tenant's `stats()` is read at scrape time for its usage and sandbox events.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CALL_CHANNEL, type CallEvent, LATENCY_BUCKETS_MS } from '../metrics.js';
import type { TenantRegistry } from './tenants.js';

const SECONDS = LATENCY_BUCKETS_MS.map((ms) => ms / 1000);

/** Sandbox events and usage read from each tenant's `stats()` when scraped. */
const FROM_STATS = [
  ['kvbox_instances_created_total', 'Connector instances created (first, on demand, replacements).', 'instancesCreated', 'counter'],
  ['kvbox_traps_total', 'Calls that trapped; the instance was replaced.', 'traps', 'counter'],
  ['kvbox_timeouts_total', 'Calls that ran past their deadline.', 'timeouts', 'counter'],
  ['kvbox_memory_limits_total', 'Calls that hit the memory cap.', 'memoryLimits', 'counter'],
  ['kvbox_quota_rejections_total', 'Calls refused by a quota (bytes, objects, in flight).', 'quotaRejections', 'counter'],
  ['kvbox_near_deadline_total', 'Calls that used more than 80 % of their deadline.', 'nearDeadline', 'counter'],
  ['kvbox_throttled_ms_total', 'Milliseconds guest code was held back by limits.cpuMsPerSec.', 'throttledMs', 'counter'],
  ['kvbox_log_dropped_total', "Connector log records dropped because the connector's log was full.", 'logDropped', 'counter'],
  ['kvbox_in_flight', 'Connector calls admitted and not yet settled (queue depth).', 'inFlight', 'gauge'],
  ['kvbox_stored_bytes', "Bytes stored by the tenant (S3 storage: the tenant's total across nodes as this node last listed it; aggregate with max, not sum).", 'bytesStored', 'gauge'],
  ['kvbox_stored_objects', "Objects stored by the tenant (S3 storage: the tenant's total across nodes as this node last listed it; aggregate with max, not sum).", 'objects', 'gauge'],
] as const;

/** Every metric the server exports, in its own registry. */
export class ServeMetrics {
  readonly registry = new Registry();
  readonly connections: Gauge<'protocol'>;
  readonly commands: Counter<'tenant' | 'protocol' | 'command' | 'result'>;
  readonly commandSeconds: Histogram<'protocol' | 'command'>;
  readonly authFailures: Counter;
  readonly protocolErrors: Counter<'protocol'>;
  readonly connectionsRefused: Counter<'protocol'>;
  readonly tenantConnectionsRefused: Counter<'tenant'>;
  readonly authTimeouts: Counter;
  readonly reloads: Counter<'result'>;
  readonly #operations: Counter<'tenant' | 'op' | 'result'>;
  readonly #operationSeconds: Histogram<'tenant' | 'op'>;
  readonly #bytes: Counter<'tenant' | 'direction'>;
  readonly #onCall: (message: unknown) => void;

  constructor(tenants: () => TenantRegistry | undefined) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.connections = new Gauge({ name: 'kvbox_connections', help: 'Open client connections.', labelNames: ['protocol'], registers });
    this.commands = new Counter({
      name: 'kvbox_commands_total',
      help: 'Protocol commands handled, by tenant (- before AUTH), command and result.',
      labelNames: ['tenant', 'protocol', 'command', 'result'],
      registers,
    });
    this.commandSeconds = new Histogram({
      name: 'kvbox_command_seconds',
      help: 'Time from a parsed request to its reply written.',
      labelNames: ['protocol', 'command'],
      buckets: SECONDS,
      registers,
    });
    this.authFailures = new Counter({ name: 'kvbox_auth_failures_total', help: 'AUTH attempts with wrong credentials.', registers });
    this.connectionsRefused = new Counter({ name: 'kvbox_connections_refused_total', help: 'Connections refused because the listener was full.', labelNames: ['protocol'], registers });
    this.tenantConnectionsRefused = new Counter({
      name: 'kvbox_tenant_connections_refused_total',
      help: "RESP logins refused because the tenant already had its auth.maxConnections connections (the connection is closed).",
      labelNames: ['tenant'],
      registers,
    });
    new Gauge({
      name: 'kvbox_tenant_connections',
      help: 'RESP connections authenticated as the tenant.',
      labelNames: ['tenant'],
      registers,
      collect(this: Gauge<'tenant'>) {
        this.reset();
        const registry = tenants();
        for (const t of registry?.all() ?? []) this.labels(t.name).set(registry!.respConnections(t.name));
      },
    });
    this.authTimeouts = new Counter({ name: 'kvbox_auth_timeouts_total', help: 'RESP connections closed for not authenticating in time.', registers });
    this.protocolErrors = new Counter({ name: 'kvbox_protocol_errors_total', help: 'Connections closed for a protocol error.', labelNames: ['protocol'], registers });
    this.reloads = new Counter({ name: 'kvbox_reloads_total', help: 'Configuration reloads.', labelNames: ['result'], registers });
    this.#operations = new Counter({
      name: 'kvbox_operations_total',
      help: 'Connector calls by tenant, operation and result (hit, miss, ok, error).',
      labelNames: ['tenant', 'op', 'result'],
      registers,
    });
    this.#operationSeconds = new Histogram({ name: 'kvbox_operation_seconds', help: 'Connector call latency.', labelNames: ['tenant', 'op'], buckets: SECONDS, registers });
    this.#bytes = new Counter({ name: 'kvbox_payload_bytes_total', help: 'Payload bytes written (put) and read (get).', labelNames: ['tenant', 'direction'], registers });
    for (const [name, help, field, type] of FROM_STATS) {
      const Kind = type === 'counter' ? Counter : Gauge;
      new Kind({
        name,
        help,
        labelNames: ['tenant'],
        registers,
        collect(this: Counter<'tenant'> | Gauge<'tenant'>) {
          this.reset();
          for (const t of tenants()?.all() ?? []) {
            const value = t.connector.stats()[field];
            if (this instanceof Counter) this.labels(t.name).inc(value);
            else this.labels(t.name).set(value);
          }
        },
      });
    }
    this.#onCall = (message) => {
      const e = message as CallEvent;
      const tenant = tenants()?.ofConnector(e.connector)?.name;
      if (tenant === undefined) return;
      this.#operations.labels(tenant, e.op, e.outcome).inc();
      this.#operationSeconds.labels(tenant, e.op).observe(e.durationMs / 1000);
      if (e.bytes > 0) this.#bytes.labels(tenant, e.op === 'put' ? 'written' : 'read').inc(e.bytes);
    };
    subscribe(CALL_CHANNEL, this.#onCall);
  }

  /** Stops listening to connector calls. */
  close(): void {
    unsubscribe(CALL_CHANNEL, this.#onCall);
  }
}
