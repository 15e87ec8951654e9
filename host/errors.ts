/**
 * kvbox's error classes, and {@link fromNative}: the one place where errors
 * from the native addon become them. Every class has a stable `code`
 * (`ERR_KVBOX_…`, defined in the Rust core and generated into
 * `generated/contract.ts`); test with `instanceof` or `.code`.
 */
import { ERROR_CODES, type ErrorCode } from './generated/contract.js';

export type { ErrorCode } from './generated/contract.js';

/** Base class of every kvbox error. */
export class KvboxError extends Error {
  /** Stable machine-readable code; a `switch` over it can be exhaustive. */
  readonly code: ErrorCode | 'ERR_KVBOX' = 'ERR_KVBOX';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

function kind<C extends ErrorCode>(code: C) {
  return class extends KvboxError {
    override readonly code: C = code;
  };
}

/** The key is not a string, is empty, contains NUL, is too long, or the connector refused it. */
export class InvalidKeyError extends kind('ERR_KVBOX_INVALID_KEY') {}
/** An argument has the wrong type or an unacceptable value (data, limits, options). */
export class InvalidArgumentError extends kind('ERR_KVBOX_INVALID_ARGUMENT') {}
/** The connector rejected its configuration; the message names the key. */
export class InvalidConfigError extends kind('ERR_KVBOX_INVALID_CONFIG') {}
/** The bytes are not a loadable component, or it does not implement the kvbox world. */
export class LoadError extends kind('ERR_KVBOX_LOAD') {}
/** The connector was closed. */
export class ClosedError extends kind('ERR_KVBOX_CLOSED') {}
/** The connector used an object path outside the rules (an escape attempt, a reserved name). */
export class InvalidPathError extends kind('ERR_KVBOX_INVALID_PATH') {}
/** The object exceeds the size limit. Nothing was written. */
export class TooLargeError extends kind('ERR_KVBOX_TOO_LARGE') {}
/** The device is full. Nothing was written. */
export class NoSpaceError extends kind('ERR_KVBOX_NO_SPACE') {}
/** Stored bytes failed verification. */
export class CorruptError extends kind('ERR_KVBOX_CORRUPT') {}
/** The connector misused a payload handle. */
export class BadPayloadError extends kind('ERR_KVBOX_BAD_PAYLOAD') {}
/** The operating system refused an I/O operation. */
export class StorageIoError extends kind('ERR_KVBOX_IO') {}
/** A call ran past its deadline; the instance was replaced. */
export class TimeoutError extends kind('ERR_KVBOX_TIMEOUT') {}
/** The connector trapped (panic, memory limit, bad handle); the instance was replaced. */
export class TrapError extends kind('ERR_KVBOX_TRAP') {}
/** The connector reported a failure of its own, or broke the contract (an oversized page). */
export class ConnectorError extends kind('ERR_KVBOX_CONNECTOR') {}
/** The connector tried to grow its memory past `limits.memoryBytes`; the instance was replaced. */
export class MemoryLimitError extends kind('ERR_KVBOX_MEMORY_LIMIT') {}
/** A tenant quota (bytes, objects, operations in flight) would be exceeded. Nothing was written. */
export class QuotaExceededError extends kind('ERR_KVBOX_QUOTA') {}
/** The call was cancelled through its `AbortSignal`. */
export class CancelledError extends kind('ERR_KVBOX_CANCELLED') {}
/** The tenant directory is held by another open connector (in this or another process). */
export class BusyError extends kind('ERR_KVBOX_BUSY') {}
/** The remote object store (S3) could not be reached, or failed or timed out after its retries; a put that reports this may or may not be stored. Retrying is safe. */
export class UnavailableError extends kind('ERR_KVBOX_UNAVAILABLE') {}

/** No native binary for this platform could be loaded; the message says which platform and what to do. */
export class UnsupportedPlatformError extends kind('ERR_KVBOX_UNSUPPORTED_PLATFORM') {}

/** A connector project could not be built (`kvbox build`): a missing toolchain — the message gives the install commands — or a failed compile, with the tool's last lines. */
export class BuildError extends kind('ERR_KVBOX_BUILD') {}

/** Every code's class: a code added in Rust fails to compile here until it has one. */
const byCode: Record<ErrorCode, new (message: string, options?: { cause?: unknown }) => KvboxError> = {
  ERR_KVBOX_INVALID_KEY: InvalidKeyError,
  ERR_KVBOX_INVALID_ARGUMENT: InvalidArgumentError,
  ERR_KVBOX_INVALID_CONFIG: InvalidConfigError,
  ERR_KVBOX_LOAD: LoadError,
  ERR_KVBOX_CLOSED: ClosedError,
  ERR_KVBOX_INVALID_PATH: InvalidPathError,
  ERR_KVBOX_TOO_LARGE: TooLargeError,
  ERR_KVBOX_NO_SPACE: NoSpaceError,
  ERR_KVBOX_CORRUPT: CorruptError,
  ERR_KVBOX_BAD_PAYLOAD: BadPayloadError,
  ERR_KVBOX_IO: StorageIoError,
  ERR_KVBOX_TIMEOUT: TimeoutError,
  ERR_KVBOX_TRAP: TrapError,
  ERR_KVBOX_CONNECTOR: ConnectorError,
  ERR_KVBOX_MEMORY_LIMIT: MemoryLimitError,
  ERR_KVBOX_QUOTA: QuotaExceededError,
  ERR_KVBOX_CANCELLED: CancelledError,
  ERR_KVBOX_BUSY: BusyError,
  ERR_KVBOX_UNAVAILABLE: UnavailableError,
  ERR_KVBOX_UNSUPPORTED_PLATFORM: UnsupportedPlatformError,
  ERR_KVBOX_BUILD: BuildError,
};

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/**
 * Turns an error thrown by the native addon into its kvbox class.
 * @param err - what the addon threw: an `Error` whose `code` is a kvbox code.
 * @param op - the operation, for the message (`put "key"`).
 * @returns the typed error, with the original as `cause`; anything
 *   unrecognised becomes a plain {@link KvboxError}.
 */
export function fromNative(err: unknown, op: string): KvboxError {
  if (err instanceof KvboxError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const Class = isErrorCode(code) ? byCode[code] : KvboxError;
  return new Class(`${op}: ${message}`, { cause: err });
}

/**
 * Runs a native call and maps its failure.
 * @throws {@link KvboxError} subclasses, via {@link fromNative}.
 */
export async function native<T>(op: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw fromNative(err, op);
  }
}
