/** Versions the server reports (INFO, HELLO). */
import { readFileSync } from 'node:fs';

/** kvbox's own version, from package.json. */
export const KVBOX_VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The Redis version whose RESP2 behaviour the server follows (AUTH with a username, HELLO, CLIENT SETINFO tolerated). */
export const REDIS_COMPAT_VERSION = '6.2.0';
