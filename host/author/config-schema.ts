/**
 * A connector's `configSchema` (a JSON Schema of its configuration, from
 * `kvbox.json`, embedded in the component by `kvbox build`): checked as a
 * schema when the author builds, and used to check a configuration before
 * it reaches the connector (`kvbox test --config`).
 *
 * Ajv, the reference JSON Schema validator: draft-07 by default, 2020-12 when
 * `$schema` says so. `format` is an annotation only (no format plug-ins).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';

/** Validates configurations against `schema`. */
export type ConfigCheck = (config: unknown) => string | undefined;

/**
 * Compiles `schema`. `strict` (for the author's own schema, at build time) also refuses unknown keywords
 * and ambiguous constructs Ajv's strict mode reports — most often a misspelt keyword that would silently
 * check nothing.
 * @returns a check that gives `undefined` for a valid configuration, else every reason, `; `-separated
 * @throws {Error} with Ajv's reason when `schema` is not a valid JSON Schema
 */
export function compileConfigSchema(schema: unknown, strict: boolean): ConfigCheck {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new Error('must be a JSON Schema object');
  const draft2020 = typeof (schema as { $schema?: unknown }).$schema === 'string' && (schema as { $schema: string }).$schema.includes('2020-12');
  const options = { strict, allErrors: true, validateFormats: false };
  const ajv = draft2020 ? new Ajv2020(options) : new Ajv(options);
  const validate: ValidateFunction = ajv.compile(schema);
  return (config) => (validate(config) ? undefined : describe(validate.errors ?? []));
}

/** Ajv's errors as `config.path: message` phrases. */
function describe(errors: ErrorObject[]): string {
  return errors
    .map((e) => {
      const where = `config${e.instancePath.replace(/\//g, '.')}`;
      const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: unknown }).additionalProperty)})` : e.keyword === 'enum' ? ` (${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)})` : '';
      return `${where} ${e.message ?? 'is invalid'}${extra}`;
    })
    .join('; ');
}
