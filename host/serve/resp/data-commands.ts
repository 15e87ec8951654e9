/** RESP commands over the authenticated tenant's keys: GET, SET, EXISTS, DEL, MGET, STRLEN, SCAN, DBSIZE. */
import type { Tenant } from '../tenants.js';
import { readValue } from '../values.js';
import { errorReply, ReplyError } from './reply.js';
import { type CommandSpec, keyArg, mapBounded, type Session, tenantOf } from './session.js';
import { globMatcher, MATCH_BUDGET, type MatchBudget } from './scan.js';

/** Keys looked up at once by one EXISTS or DEL (the tenant's `quota.inFlight` bounds the server as a whole). */
const KEY_PARALLELISM = 16;

/** EXISTS and DEL: runs `op` on every key argument, replies how many returned true. */
async function countKeys(s: Session, args: Buffer[], op: (t: Tenant, key: string) => Promise<boolean>): Promise<void> {
  const tenant = tenantOf(s);
  const keys = args.slice(1).map(keyArg);
  const results = await mapBounded(keys, KEY_PARALLELISM, (k) => op(tenant, k));
  s.reply.integer(results.filter(Boolean).length);
}

export const DATA_COMMANDS: Record<string, CommandSpec> = {
  GET: {
    arity: 2,
    flags: ['readonly', 'fast'],
    keys: [1, 1, 1],
    async run(s, [, key]) {
      const value = await readValue(s.server.pool, tenantOf(s), keyArg(key!));
      if (value) s.reply.bulk(value.bytes, value.release);
      else s.reply.nil();
    },
  },
  SET: {
    arity: -3,
    flags: ['write', 'denyoom'],
    keys: [1, 1, 1],
    async run(s, args) {
      if (args.length > 3) throw new ReplyError('ERR syntax error (kvbox supports SET key value without options)');
      const tenant = tenantOf(s);
      const value = args[2]!;
      await tenant.connector.put(keyArg(args[1]!), value);
      tenant.sizeHint = value.length;
      s.reply.ok();
    },
  },
  EXISTS: {
    arity: -2,
    flags: ['readonly', 'fast'],
    keys: [1, -1, 1],
    run: (s, args) => countKeys(s, args, (t, k) => t.connector.exists(k)),
  },
  DEL: {
    arity: -2,
    flags: ['write'],
    keys: [1, -1, 1],
    run: (s, args) => countKeys(s, args, (t, k) => t.connector.remove(k)),
  },
  MGET: {
    arity: -2,
    flags: ['readonly', 'fast'],
    keys: [1, -1, 1],
    async run(s, args) {
      const tenant = tenantOf(s);
      const keys = args.slice(1).map(keyArg);
      // One value at a time, each written (and drained) before the next is read:
      // memory stays one value deep. A failed read is an error element (valid RESP2).
      s.reply.arrayHeader(keys.length);
      for (const k of keys) {
        try {
          const v = await readValue(s.server.pool, tenant, k);
          if (v) s.reply.bulk(v.bytes, v.release);
          else s.reply.nil();
        } catch (err) {
          s.reply.error(errorReply(err));
        }
        await s.drained();
      }
    },
  },
  STRLEN: {
    arity: 2,
    flags: ['readonly', 'fast'],
    keys: [1, 1, 1],
    async run(s, [, key]) {
      s.reply.integer((await tenantOf(s).connector.size(keyArg(key!))) ?? 0);
    },
  },
  SCAN: {
    arity: -2,
    flags: ['readonly'],
    keys: [0, 0, 0],
    async run(s, args) {
      const tenant = tenantOf(s);
      let match: ((k: string, budget: MatchBudget) => boolean) | undefined;
      let count = 10;
      let typeOk = true;
      for (let i = 2; i < args.length; i += 2) {
        const option = args[i]!.toString('latin1').toUpperCase();
        const value = args[i + 1];
        if (value === undefined) throw new ReplyError('ERR syntax error');
        if (option === 'MATCH') match = globMatcher(keyArg(value));
        else if (option === 'COUNT') {
          count = Number(value.toString('latin1'));
          if (!Number.isInteger(count) || count < 1) throw new ReplyError('ERR value is not an integer or out of range');
        } else if (option === 'TYPE') typeOk = value.toString('latin1').toLowerCase() === 'string';
        else throw new ReplyError('ERR syntax error');
      }
      const cursor = s.cursors.resolve(args[1]!.toString('latin1'));
      const page = await tenant.connector.listKeys({ cursor, limit: Math.min(count, tenant.config.limits.maxListPage ?? 1000) });
      const budget: MatchBudget = { left: MATCH_BUDGET };
      const keys = typeOk ? (match ? page.keys.filter((k) => match(k, budget)) : page.keys) : [];
      s.reply.array([page.cursor === undefined ? '0' : s.cursors.issue(page.cursor), keys]);
    },
  },
  DBSIZE: {
    arity: 1,
    flags: ['readonly', 'fast'],
    keys: [0, 0, 0],
    run(s) {
      s.reply.integer(tenantOf(s).connector.stats().objects);
    },
  },
};
