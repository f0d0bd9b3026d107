import { readFileSync } from 'node:fs';
import type { RunReport } from '../core/result.js';
import { UsageError } from '../core/usage-error.js';
import type { Baseline, LatestReport, Matrix } from '../core/matrix.js';
import { baselineOf, buildMatrix } from './matrix.js';

/** The matrix built offline from RunReport files, with drift marked against a baseline file when one is named. */
export function matrixFromFiles(reports: readonly string[], baseline: string | undefined, now: Date): Matrix {
  const latest = reports.map(readReport);
  return buildMatrix(latest, { now, baseline: baseline === undefined ? null : readBaseline(baseline) });
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new UsageError(`cannot read the ${what} ${file}: ${code}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `${file}: not valid JSON (${(error as Error).message})`,
      `The ${what} must be one JSON document, as \`--format json\` writes it.`,
    );
  }
}

/** A RunReport file as the matrix's latest report of its agent, received when the run finished. */
export function readReport(file: string): LatestReport {
  const report = readJson(file, 'report') as Partial<RunReport> | null;
  const missing = ['id', 'agent', 'version', 'started_at', 'finished_at'].filter(
    (key) => typeof (report as Record<string, unknown> | null)?.[key] !== 'string',
  );
  if (report === null || typeof report !== 'object' || missing.length > 0 || !Array.isArray(report.results)) {
    throw new UsageError(
      `${file}: not a RunReport${missing.length ? ` (missing ${missing.join(', ')})` : ' (no results list)'}`,
      'Write one with `reachgate run PROFILE --site SITE --format json --out FILE`.',
    );
  }
  return { report: report as RunReport, received_at: report.finished_at as string };
}

/** A baseline file: a matrix written as JSON, or an object of "agent|row": "verdict". */
function readBaseline(file: string): Baseline {
  const value = readJson(file, 'baseline') as Record<string, unknown> | null;
  if (value === null || typeof value !== 'object') throw notBaseline(file);
  if (Array.isArray(value.cells)) return baselineOf(value as unknown as Matrix);
  const verdicts = !Array.isArray(value) && Object.values(value).every((verdict) => typeof verdict === 'string');
  if (!verdicts) throw notBaseline(file);
  return value as Baseline;
}

function notBaseline(file: string): UsageError {
  return new UsageError(
    `${file}: not a baseline`,
    'Use a matrix written with `reachgate matrix ... --format json`, or an object of "agent|row": "verdict".',
  );
}
