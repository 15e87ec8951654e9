/**
 * The server's error classes. Error codes are a closed set declared by the
 * Rust core (host/generated/contract.ts), so each server error is a subclass
 * of the library class whose code fits it: test with `instanceof` for the
 * server's kind, or `.code` for the family.
 */
import { InvalidArgumentError, InvalidConfigError, LoadError, StorageIoError } from '../errors.js';

/**
 * The server configuration is unusable: unreadable, not JSON/TOML, or a field
 * fails validation. The message names the file, the tenant and the field.
 * Code `ERR_KVBOX_INVALID_CONFIG`.
 */
export class ServeConfigError extends InvalidConfigError {}

/**
 * A `.wasm` connector's sha256 differs from the one pinned in the
 * configuration; the server refuses to load it. Code `ERR_KVBOX_LOAD`.
 */
export class PinMismatchError extends LoadError {}

/** A listener could not bind its address (in use, not permitted). Code `ERR_KVBOX_IO`. */
export class ListenError extends StorageIoError {}

/**
 * A client broke the wire protocol (RESP or lm://); that connection is
 * answered with an error where the protocol allows one, then closed.
 * Code `ERR_KVBOX_INVALID_ARGUMENT`.
 */
export class ProtocolError extends InvalidArgumentError {}
