/** The server's error classes (the library's live in host/errors.ts). */
import { KvboxError } from '../errors.js';

/**
 * The server configuration is unusable: unreadable, not JSON/TOML, or a field
 * fails validation. The message names the file, the tenant and the field.
 */
export class ServeConfigError extends KvboxError {
  override readonly code = 'ERR_KVBOX_SERVE_CONFIG' as const;
}

/** A `.wasm` connector's sha256 differs from the one pinned in the configuration; the server refuses to start it. */
export class PinMismatchError extends KvboxError {
  override readonly code = 'ERR_KVBOX_PIN_MISMATCH' as const;
}

/** A listener could not bind its address (in use, not permitted). */
export class ListenError extends KvboxError {
  override readonly code = 'ERR_KVBOX_LISTEN' as const;
}

/** A client broke the wire protocol (RESP or lm://); that connection is answered with an error where the protocol allows one, then closed. */
export class ProtocolError extends KvboxError {
  override readonly code = 'ERR_KVBOX_PROTOCOL' as const;
}
