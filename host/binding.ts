/** Loads the native addon (built by `npm run build:native` into native/). */
import { createRequire } from 'node:module';
import type * as Binding from '../native/binding.cjs';

const require = createRequire(import.meta.url);

/** The addon's exports; private to the library (the facade owns the API). */
export const binding: typeof Binding = require('../native/binding.cjs');

export type { NativeCancel, NativeComponent, NativeConnector, NativeLogRecord } from '../native/binding.cjs';
