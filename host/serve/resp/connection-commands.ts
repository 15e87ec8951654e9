/**
 * RESP commands about the connection rather than keys: AUTH, HELLO, PING,
 * ECHO, QUIT, SELECT, CLIENT, INFO, CONFIG GET — enough for LMCache,
 * `redis-cli` and `redis-benchmark` to start and authenticate.
 */
import { KVBOX_VERSION, REDIS_COMPAT_VERSION } from './version.js';
import { ReplyError } from './reply.js';
import type { CommandSpec, Session } from './session.js';

async function authenticate(s: Session, user: Buffer, password: Buffer): Promise<void> {
  let tenant = await s.server.registry.authenticate(user.toString('utf8'), password);
  // A reload that reopened the tenant while the password was checked: check against the new one (its
  // connections were dropped already, so this one would hold a slot of the new tenant yet be refused).
  if (tenant?.closed) tenant = await s.server.registry.authenticate(user.toString('utf8'), password);
  if (!tenant) {
    s.server.metrics.authFailures.inc();
    throw new ReplyError('WRONGPASS invalid username-password pair or user is disabled.');
  }
  // A connection counts against one tenant's auth.maxConnections: the one it is authenticated as.
  if (s.tenant?.name !== tenant.name) {
    const { registry, metrics } = s.server;
    if (!registry.claimConnection(tenant)) {
      metrics.tenantConnectionsRefused.labels(tenant.name).inc();
      // Closed, as for a full listener: it could do nothing else, and would hold a listener slot.
      s.quit = true;
      throw new ReplyError(`ERR max number of clients reached for this user (${tenant.config.auth.maxConnections})`);
    }
    if (s.tenant) registry.releaseConnection(s.tenant);
  }
  s.tenant = tenant;
  s.cursors.clear();
}

/** The table fields of the commands that select a tenant. */
const BEFORE_AUTH = { flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth'], keys: [0, 0, 0] as [number, number, number], preAuth: true };

export const CONNECTION_COMMANDS: Record<string, CommandSpec> = {
  AUTH: {
    arity: -2,
    ...BEFORE_AUTH,
    async run(s, args) {
      if (args.length > 3) throw new ReplyError('ERR syntax error');
      // `AUTH password` is `AUTH default password`, as in Redis 6+.
      await authenticate(s, args.length === 3 ? args[1]! : Buffer.from('default'), args[args.length - 1]!);
      s.reply.ok();
    },
  },
  HELLO: {
    arity: -1,
    ...BEFORE_AUTH,
    async run(s, args) {
      const version = args[1]?.toString('latin1');
      if (version !== undefined && version !== '2') {
        throw new ReplyError(/^\d+$/.test(version) ? 'NOPROTO unsupported protocol version (kvbox speaks RESP2)' : 'ERR Protocol version is not an integer or out of range');
      }
      for (let i = 2; i < args.length; i++) {
        const option = args[i]!.toString('latin1').toUpperCase();
        if (option === 'AUTH' && i + 2 < args.length) {
          await authenticate(s, args[i + 1]!, args[i + 2]!);
          i += 2;
        } else if (option === 'SETNAME' && i + 1 < args.length) s.name = args[++i]!.toString('utf8');
        else throw new ReplyError(`ERR Syntax error in HELLO option '${option.replace(/[^\x20-\x7e]/g, '?')}'`);
      }
      if (!s.tenant) {
        throw new ReplyError('NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used');
      }
      s.reply.array(['server', 'redis', 'version', REDIS_COMPAT_VERSION, 'proto', 2, 'id', s.id, 'mode', 'standalone', 'role', 'master', 'modules', []]);
    },
  },
  PING: {
    arity: -1,
    flags: ['fast'],
    keys: [0, 0, 0],
    run(s, args) {
      if (args.length > 2) throw new ReplyError("ERR wrong number of arguments for 'ping' command");
      if (args[1]) s.reply.bulk(args[1]);
      else s.reply.simple('PONG');
    },
  },
  ECHO: {
    arity: 2,
    flags: ['fast'],
    keys: [0, 0, 0],
    run(s, [, message]) {
      s.reply.bulk(message!);
    },
  },
  QUIT: {
    arity: -1,
    flags: ['fast', 'no_auth'],
    keys: [0, 0, 0],
    preAuth: true,
    run(s) {
      s.quit = true;
      s.reply.ok();
    },
  },
  SELECT: {
    arity: 2,
    flags: ['fast'],
    keys: [0, 0, 0],
    run(s, [, db]) {
      // A tenant is one keyspace: database 0.
      if (db!.toString('latin1') !== '0') throw new ReplyError('ERR DB index is out of range (a kvbox tenant has database 0 only)');
      s.reply.ok();
    },
  },
  CLIENT: {
    arity: -2,
    flags: ['slow'],
    keys: [0, 0, 0],
    run(s, args) {
      const sub = args[1]!.toString('latin1').toUpperCase();
      if (sub === 'SETNAME' && args.length === 3) {
        const name = args[2]!.toString('utf8');
        if (/\s/.test(name)) throw new ReplyError('ERR Client names cannot contain spaces, newlines or special characters.');
        s.name = name;
        s.reply.ok();
      } else if (sub === 'SETINFO' && args.length === 4) s.reply.ok();
      else if (sub === 'GETNAME' && args.length === 2) s.reply.value(s.name ?? null);
      else if (sub === 'ID' && args.length === 2) s.reply.integer(s.id);
      else throw new ReplyError(`ERR unknown subcommand or wrong number of arguments for 'CLIENT ${sub.replace(/[^\x20-\x7e]/g, '?')}'`);
    },
  },
  INFO: {
    arity: -1,
    flags: ['slow'],
    keys: [0, 0, 0],
    run(s) {
      const t = s.tenant!;
      const stats = t.connector.stats();
      const lines = [
        '# Server',
        `redis_version:${REDIS_COMPAT_VERSION}`,
        `kvbox_version:${KVBOX_VERSION}`,
        'redis_mode:standalone',
        `process_id:${process.pid}`,
        `tcp_port:${s.server.port()}`,
        `uptime_in_seconds:${Math.floor(process.uptime())}`,
        '',
        '# Clients',
        `connected_clients:${s.server.connectedClients()}`,
        '',
        '# Tenant',
        `tenant:${t.name}`,
        `bytes_stored:${stats.bytesStored}`,
        `in_flight:${stats.inFlight}`,
        `traps:${stats.traps}`,
        `timeouts:${stats.timeouts}`,
        `quota_rejections:${stats.quotaRejections}`,
        '',
        '# Keyspace',
        `db0:keys=${stats.objects},expires=0,avg_ttl=0`,
        '',
      ];
      s.reply.bulk(lines.join('\r\n'));
    },
  },
  CONFIG: {
    arity: -2,
    flags: ['admin', 'noscript', 'loading', 'stale'],
    keys: [0, 0, 0],
    run(s, args) {
      if (args[1]!.toString('latin1').toUpperCase() !== 'GET') throw new ReplyError('ERR kvbox supports CONFIG GET only');
      // redis-benchmark asks for these two; every write here is synced before its +OK.
      const known: Record<string, string> = { save: '', appendonly: 'no' };
      const out: string[] = [];
      for (const p of args.slice(2).map((a) => a.toString('latin1').toLowerCase())) if (p in known) out.push(p, known[p]!);
      s.reply.array(out);
    },
  },
};
