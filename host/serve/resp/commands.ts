/** The RESP command table, COMMAND (which describes it), and dispatch with the arity and AUTH checks. */
import { printable } from './parser.js';
import { ReplyError } from './reply.js';
import { CONNECTION_COMMANDS } from './connection-commands.js';
import { DATA_COMMANDS } from './data-commands.js';
import type { CommandSpec, Session } from './session.js';

const COMMAND: CommandSpec = {
  arity: -1,
  flags: ['random', 'loading', 'stale'],
  keys: [0, 0, 0],
  run(s, args) {
    const sub = args[1]?.toString('latin1').toUpperCase();
    const info = (name: string) => {
      const c = COMMANDS[name]!;
      return [name.toLowerCase(), c.arity, c.flags, ...c.keys];
    };
    if (sub === undefined) s.reply.array(Object.keys(COMMANDS).map(info));
    else if (sub === 'COUNT') s.reply.integer(Object.keys(COMMANDS).length);
    else if (sub === 'LIST') s.reply.array(Object.keys(COMMANDS).map((n) => n.toLowerCase()));
    else if (sub === 'INFO') s.reply.array(args.slice(2).map((a) => (COMMANDS[a.toString('latin1').toUpperCase()] ? info(a.toString('latin1').toUpperCase()) : null)));
    // redis-cli asks for documentation to show hints; it starts fine without any.
    else if (sub === 'DOCS') s.reply.array([]);
    else throw new ReplyError(`ERR unknown subcommand '${printable(args[1]!)}'. Try COMMAND HELP.`);
  },
};

/** Every command the server knows, by upper-case name. */
export const COMMANDS: Record<string, CommandSpec> = { ...CONNECTION_COMMANDS, ...DATA_COMMANDS, COMMAND };

/** The command's name for metrics: upper case when known, else `UNKNOWN` (clients must not create label values). */
export function commandLabel(args: Buffer[]): string {
  const name = args[0]!.toString('latin1').toUpperCase();
  return Object.hasOwn(COMMANDS, name) ? name : 'UNKNOWN';
}

/**
 * Runs one request: unknown commands, wrong arity and commands before AUTH
 * are answered with their Redis errors.
 * @throws {@link ReplyError} and kvbox errors; the caller turns them into error replies.
 */
export async function dispatch(session: Session, args: Buffer[]): Promise<void> {
  const name = args[0]!.toString('latin1').toUpperCase();
  const spec = Object.hasOwn(COMMANDS, name) ? COMMANDS[name]! : undefined;
  if (!spec) {
    const rest = args
      .slice(1, 4)
      .map((a) => `'${printable(a.subarray(0, 64))}'`)
      .join(' ');
    throw new ReplyError(`ERR unknown command '${printable(args[0]!.subarray(0, 64))}', with args beginning with: ${rest}`);
  }
  if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) {
    throw new ReplyError(`ERR wrong number of arguments for '${name.toLowerCase()}' command`);
  }
  if (!spec.preAuth && !session.tenant) throw new ReplyError('NOAUTH Authentication required.');
  await spec.run(session, args);
}
