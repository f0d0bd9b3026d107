import type { ErrorObject, ValidateFunction } from 'ajv';
import { report as validateReport } from './report-validator.gen.js';
import type { RunReport } from '../core/result.js';
import { STATES, VERDICTS } from '../core/result.js';
import { INTERVAL_MAX_S, NAME_MAX, RESULT_ID_MAX, RESULTS_MAX, TEXT_MAX } from './limits.js';
import { findBoundsProblem } from './report-bounds.js';

const TIMESTAMP = {
  type: 'string',
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$',
} as const;
const NAME = { type: 'string', minLength: 1, maxLength: NAME_MAX } as const;
/** A string that may be empty, at most a name long (a host, an address, a hash). */
const SHORT = { type: 'string', maxLength: NAME_MAX } as const;
/** Free text: a reason, a check's detail, a note. */
const TEXT = { type: 'string', maxLength: TEXT_MAX } as const;
// Keywords like minLength apply only to values of their type: a list of types makes a value nullable.
const NULLABLE_NAME = { ...NAME, type: ['string', 'null'] } as const;

const PROBE_RESULT = {
  type: 'object',
  required: ['id', 'kind', 'target', 'expect', 'state', 'verdict', 'reason', 'attempts', 'started_at'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: RESULT_ID_MAX },
    row: NAME,
    kind: NAME,
    target: {
      type: 'object',
      required: ['host', 'address', 'port', 'protocol'],
      properties: {
        host: SHORT,
        address: { ...SHORT, type: ['string', 'null'] },
        port: { type: ['integer', 'null'], minimum: 0, maximum: 65535 },
        protocol: { enum: ['tcp', 'udp', 'icmp'] },
      },
    },
    expect: { enum: ['reachable', 'blocked'] },
    state: { enum: [...STATES] },
    check: {
      type: 'object',
      required: ['ok', 'detail'],
      properties: { ok: { type: 'boolean' }, detail: TEXT },
    },
    verdict: { enum: [...VERDICTS] },
    reason: TEXT,
    rtt_ms: { type: 'number', minimum: 0 },
    attempts: { type: 'integer', minimum: 0 },
    icmp: {
      type: 'object',
      required: ['type', 'code', 'from'],
      properties: {
        type: { type: 'integer', minimum: 0, maximum: 255 },
        code: { type: 'integer', minimum: 0, maximum: 255 },
        from: SHORT,
      },
    },
    started_at: TIMESTAMP,
    evidence: { type: 'object' },
    control: NAME,
    confirm: NAME,
    note: TEXT,
  },
} as const;

const COUNT = { type: 'integer', minimum: 0 } as const;

/**
 * JSON Schema (draft-07) of a RunReport as agents post it. Unknown properties are allowed, so that
 * an older coordinator accepts reports of a newer agent; every known one is checked, every string
 * bounded. What the schema cannot name (unknown properties, evidence) report-bounds.ts bounds.
 */
export const REPORT_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'reachgate RunReport',
  type: 'object',
  required: ['id', 'agent', 'role', 'site', 'profile', 'version', 'started_at', 'finished_at', 'results', 'summary'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
    agent: NAME,
    role: NULLABLE_NAME,
    site: { ...SHORT, type: ['string', 'null'] },
    profile: {
      type: ['object', 'null'],
      required: ['name', 'hash'],
      properties: { name: NAME, hash: SHORT },
    },
    version: { type: 'string', minLength: 1, maxLength: 64 },
    started_at: TIMESTAMP,
    finished_at: TIMESTAMP,
    interval_s: { type: 'number', exclusiveMinimum: 0, maximum: INTERVAL_MAX_S },
    results: { type: 'array', maxItems: RESULTS_MAX, items: PROBE_RESULT },
    summary: {
      type: 'object',
      required: [...VERDICTS],
      properties: { pass: COUNT, fail: COUNT, inconclusive: COUNT, error: COUNT },
    },
    site_hash: SHORT,
    edition: SHORT,
    host: SHORT,
    overlaps: { type: 'array', maxItems: RESULTS_MAX, items: { type: 'object' } },
    not_proven: { type: 'array', maxItems: RESULTS_MAX, items: { type: 'object' } },
  },
} as const;

/** Why a posted document is not a RunReport: the JSON Pointer of the offending value and what was expected there. */
export interface ReportProblem {
  path: string;
  message: string;
}

/**
 * Make the checker of posted reports. Its validator of REPORT_SCHEMA is generated at build time
 * (scripts/validators.mjs, ajv standalone code, strict), so the coordinator compiles no schema when it starts.
 */
export function compileReportCheck(): (value: unknown) => { report: RunReport } | { problem: ReportProblem } {
  const validate = validateReport as ValidateFunction<RunReport>;
  return (value) => {
    if (validate(value)) {
      const problem = findBoundsProblem(value);
      return problem ? { problem } : { report: value };
    }
    const error = validate.errors?.[0];
    return { problem: error ? describe(error) : { path: '/', message: 'is not a RunReport' } };
  };
}

function describe(error: ErrorObject): ReportProblem {
  const at = error.instancePath || '';
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { path: `${at}/${String(params.missingProperty)}`, message: 'is required' };
    case 'enum':
      return {
        path: at || '/',
        message: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'type':
      return { path: at || '/', message: `must be ${[params.type].flat().join(' or ')}` };
    default:
      return { path: at || '/', message: error.message ?? `fails the schema's ${error.keyword} rule` };
  }
}
