import { join } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { PACKAGE_ROOT } from '../core/package-root.js';
import type { YamlSource } from './source.js';
import { didYouMean } from './did-you-mean.js';

/** The published JSON Schemas, by file kind. */
export type SchemaName = 'profile' | 'site' | 'agent' | 'alerts';

/** Path of a published schema, for `$schema` lines and docs. */
export function schemaPath(name: SchemaName): string {
  return join(PACKAGE_ROOT, 'profiles', 'schema', `${name}.schema.json`);
}

/**
 * The validator of a published schema. They are generated at build time (scripts/validators.mjs, ajv standalone
 * code with allErrors and verbose) into schema-validators.gen.ts, loaded only by the commands that read such files.
 */
async function validator(name: SchemaName): Promise<ValidateFunction> {
  const generated = (await import('./schema-validators.gen.js')) as Record<SchemaName, ValidateFunction>;
  return generated[name];
}

/**
 * Check a file's data against its schema and report each problem at its line and column.
 * Paths in `ownChecks` are left to the caller's own, clearer checks (values with several valid forms).
 */
export async function checkSchema(
  source: YamlSource,
  data: unknown,
  name: SchemaName,
  ownChecks: RegExp[] = [],
): Promise<void> {
  const validate = await validator(name);
  if (validate(data)) return;
  for (const error of validate.errors ?? []) {
    if (ownChecks.some((pattern) => pattern.test(error.instancePath))) continue;
    const path = pointerPath(error.instancePath);
    const problem = describe(error, path);
    if (problem) source.report(problem.path, problem.message, problem.atKey);
  }
}

function pointerPath(pointer: string): string[] {
  return pointer === ''
    ? []
    : pointer
        .slice(1)
        .split('/')
        .map((step) => step.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function nameOf(path: string[]): string {
  const last = path.at(-1);
  if (last === undefined) return 'the file';
  if (/^\d+$/.test(last)) return `item ${Number(last) + 1} of \`${path.at(-2) ?? 'the list'}\``;
  return `\`${last}\``;
}

function shown(value: unknown): string {
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

function describe(
  error: ErrorObject,
  path: string[],
): { path: string[]; message: string; atKey?: boolean } | undefined {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys((error.parentSchema as { properties?: object })?.properties ?? {}).filter(
        (k) => k !== '$schema',
      );
      return {
        path: [...path, key],
        atKey: true,
        message: `unknown key \`${key}\`${didYouMean(key, known)}; expected one of: ${known.join(', ')}`,
      };
    }
    case 'required':
      return { path, message: `${nameOf(path)} is missing the required key \`${String(params.missingProperty)}\`` };
    case 'type':
      return { path, message: `${nameOf(path)} must be ${article(String(params.type))}, got ${shown(error.data)}` };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      return {
        path,
        message: `${nameOf(path)} must be one of ${allowed.join(', ')}; got ${shown(error.data)}${didYouMean(String(error.data), allowed)}`,
      };
    }
    case 'minimum':
    case 'maximum':
      return {
        path,
        message: `${nameOf(path)} must be ${error.keyword === 'minimum' ? 'at least' : 'at most'} ${String(params.limit)}, got ${shown(error.data)}`,
      };
    case 'minItems':
      return {
        path,
        message: `${nameOf(path)} must list at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`,
      };
    case 'minLength':
      return { path, message: `${nameOf(path)} must not be empty` };
    case 'uniqueItems':
      return {
        path: [...path, String(params.j)],
        message: `${nameOf(path)} lists ${shown((error.data as unknown[])[params.j as number])} twice`,
      };
    case 'pattern':
      return {
        path,
        message: `${nameOf(path)} ${shown(error.data)} is not of the expected form ${patternHint(String(params.pattern))}`,
      };
    case 'anyOf':
      return undefined;
    default:
      return { path, message: `${nameOf(path)} ${error.message ?? 'is not valid'}` };
  }
}

function article(type: string): string {
  const names: Record<string, string> = {
    integer: 'a whole number',
    object: 'a mapping (key: value)',
    array: 'a list',
    string: 'a string',
    boolean: 'true or false',
    number: 'a number',
  };
  return names[type] ?? type;
}

function patternHint(pattern: string): string {
  if (pattern.includes('ms|s|m')) return '(a duration like 2s or 500ms)';
  if (pattern.startsWith('^[a-z]')) return '(lower-case letters, digits and dashes, starting with a letter)';
  return `/${pattern}/`;
}
