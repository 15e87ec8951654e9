/**
 * A connector's `configSchema` (a JSON Schema of its configuration, from
 * `kvbox.json`, embedded in the component by `kvbox build`): checked as a
 * schema when the author builds, and used to check a configuration before
 * it reaches the connector (`kvbox test --config`).
 *
 * Ajv, the reference JSON Schema validator: draft-07 by default; draft-06,
 * 2019-09 and 2020-12 when `$schema` names them. `format` is an annotation
 * only (no format plug-ins).
 */
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';

/** Validates configurations against `schema`. */
export type ConfigCheck = (config: unknown) => string | undefined;

/**
 * Compiles `schema`. `strict` (for the author's own schema, at build time) refuses unknown keywords and
 * formats — most often a misspelt keyword (`propertiez`) that would silently check nothing — but not
 * Ajv's stylistic rules (`properties` without `type: "object"`, `required` naming a field `properties`
 * does not list), which valid schemas break.
 * @returns a check that gives `undefined` for a valid configuration, else every reason, `; `-separated
 * @throws {Error} with Ajv's reason when `schema` is not a valid JSON Schema, or names a draft Ajv does not know (draft-04)
 */
export function compileConfigSchema(schema: unknown, strict: boolean): ConfigCheck {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new Error('must be a JSON Schema object');
  const draft = String((schema as { $schema?: unknown }).$schema ?? '');
  const options: Options = { strict: false, strictSchema: strict, allErrors: true, validateFormats: false };
  let ajv: Ajv | Ajv2019 | Ajv2020;
  if (draft.includes('2020-12')) ajv = new Ajv2020(options);
  else if (draft.includes('2019-09')) ajv = new Ajv2019(options);
  else {
    ajv = new Ajv(options);
    if (draft.includes('draft-06')) ajv.addMetaSchema(createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-06.json'));
    else if (draft !== '' && !draft.includes('draft-07')) throw new Error(`$schema ${JSON.stringify(draft)} is not a draft kvbox checks (draft-06, draft-07, 2019-09, 2020-12)`);
  }
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
