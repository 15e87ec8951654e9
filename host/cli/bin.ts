#!/usr/bin/env node
/**
 * The `kvbox` executable. The program is imported dynamically so that a
 * failure to load the native addon (no binary for this platform) is
 * reported as one line like any other error, not as a stack trace.
 */
import { reportFailure } from './output.js';

// A closed pipe (`kvbox ls | head`) ends output quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

import('./index.js').then(({ main }) => main(process.argv.slice(2))).catch(reportFailure);
