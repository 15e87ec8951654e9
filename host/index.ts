export { allocBuffer } from './buffers.js';
export { type CallOptions, Connector, type ConnectorStats, type KeyPage, type LogRecord } from './connector.js';
export type {
  BatchErrors,
  ExistsManyResult,
  GetManyIntoResult,
  GetManyResult,
  PutEntry,
  PutManyResult,
  RemoveManyResult,
  SizeManyResult,
} from './batch.js';
// Error classes only: `native` and `fromNative` are internal.
export {
  KvboxError,
  InvalidKeyError,
  InvalidArgumentError,
  InvalidConfigError,
  LoadError,
  ClosedError,
  InvalidPathError,
  TooLargeError,
  NoSpaceError,
  CorruptError,
  BadPayloadError,
  StorageIoError,
  TimeoutError,
  TrapError,
  ConnectorError,
  MemoryLimitError,
  QuotaExceededError,
  CancelledError,
  BusyError,
  UnavailableError,
  UnsupportedPlatformError,
  BuildError,
  type ErrorCode,
} from './errors.js';
export {
  compileConnector,
  ConnectorComponent,
  defaultCacheDir,
  FS_CONNECTOR,
  loadConnector,
  loadNativeConnector,
  loadNativeLibrary,
  NATIVE_FS,
  type CompileOptions,
  type ConnectorSource,
  type NativeLibraryOptions,
} from './load.js';
export { DEFAULT_LIMITS, type Limits, type OpenOptions, type Quota, type S3Credentials, type S3StorageOptions, type StorageOptions } from './options.js';
export { CONTRACT_VERSIONS, ERROR_CODES } from './generated/contract.js';
export {
  CALL_CHANNEL,
  LATENCY_BUCKETS_MS,
  type CallEvent,
  type BatchSummary,
  type CallOutcome,
  type LatencyHistogram,
  type OperationKind,
  type OperationStats,
} from './metrics.js';
export { createServer, KvboxServer, type ServerConfigSource, type ServerOptions } from './serve/server.js';
export type { ServeConfigInput } from './serve/config-schema.js';
export type { ReloadReport } from './serve/tenants.js';
export { ListenError, PinMismatchError, ProtocolError, ServeConfigError } from './serve/errors.js';
export { hashSecret } from './serve/secrets.js';
