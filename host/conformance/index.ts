/**
 * `@kvbox/kvbox/conformance`: the connector conformance suite, for any test
 * runner ({@link singleKeyCases} then {@link batchCases}). {@link runConformance} runs it all and reports; to get one test per
 * case in your runner, loop over {@link conformanceCases} and call each
 * case's `run` with an opener and fresh tenant directories.
 */
export { batchCases } from './batch.js';
export { type CaseContext, type ConformanceCase, LOCAL_DIRECTORY, type Opener, singleKeyCases, type StoreView } from './cases.js';
export { type CaseResult, type ConformanceOptions, type ConformanceReport, conformanceCases, runConformance } from './run.js';
