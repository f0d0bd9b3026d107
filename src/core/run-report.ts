import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { RunReport } from './result.js';
import { VERSION } from './version.js';

/** Context of a run that is not in its results. */
export interface RunContext {
  agent?: string;
  role?: string | null;
  site?: string | null;
  profile?: RunReport['profile'];
  startedAt: Date;
  extra?: Pick<RunReport, 'site_hash' | 'edition' | 'overlaps' | 'not_proven'>;
}

/** What a RunReport says before its results: known when the run starts. */
export type ReportHead = Omit<RunReport, 'finished_at' | 'results' | 'summary'>;

/** The head of a RunReport, for writers that stream results as they come. */
export function reportHead(context: RunContext): ReportHead {
  return {
    id: randomUUID(),
    agent: context.agent ?? hostname(),
    role: context.role ?? null,
    site: context.site ?? null,
    profile: context.profile ?? null,
    version: VERSION,
    started_at: context.startedAt.toISOString(),
    host: hostname(),
    ...context.extra,
  };
}
