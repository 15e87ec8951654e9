export { type CallOptions, Connector, type ConnectorStats, type KeyPage, type LogRecord } from './connector.js';
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
} from './errors.js';
export { UnsupportedPlatformError } from './binding.js';
export {
  compileConnector,
  ConnectorComponent,
  defaultCacheDir,
  FS_CONNECTOR,
  loadConnector,
  NATIVE_FS,
  type CompileOptions,
  type ConnectorSource,
} from './load.js';
export { DEFAULT_LIMITS, type Limits, type OpenOptions, type Quota } from './options.js';
