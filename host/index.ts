export { type CallOptions, Connector, type ConnectorStats, type KeyPage, type LogRecord } from './connector.js';
export * from './errors.js';
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
export { DEFAULT_LIMITS, type Limits, type OpenOptions, type Quota } from './options.js';
export { CONTRACT_VERSIONS, ERROR_CODES } from './generated/contract.js';
