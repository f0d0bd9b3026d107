import type { ProbeKind, ProbeSpec } from '../core/probe-kind.js';
import type { ProbeResult, RunReport, Summary } from '../core/result.js';
import { UsageError } from '../core/usage-error.js';
import { reportHead, type ReportHead, type RunContext } from '../core/run-report.js';
import { parseDuration } from '../core/duration.js';
import type { ResolverAddress } from '../net/resolve.js';
import { expandProfiles } from '../profile/expand.js';
import { loadRun, profileIdentity, type LoadedRun } from '../profile/load.js';
import type { Site } from '../profile/site.js';
import { formatProblems } from '../profile/source.js';
import { executePlan, type RunWarning } from './execute.js';
import { resolvePlan } from './plan.js';
import { lookUpRoutes } from './routes.js';
import { FinalResults } from './final-results.js';

/** Profiles and a site that loaded without a problem: ready to run. */
export type ValidRun = LoadedRun & { site: Site };

/** How one run of loaded profiles is carried out. */
export interface ProfileRunOptions {
  /** Agent name in the report (default: the host name). */
  agent?: string;
  concurrency: number;
  ratePerSecond?: number;
  resolver?: ResolverAddress;
  /** Probe only these port-table rows (`reachgate explain` runs one); every row when absent. */
  rows?: ReadonlySet<string>;
  /** Called once the plan is resolved, with its number of probes. */
  onPlanned?: (total: number) => void;
  onResult?: (result: ProbeResult, index: number) => void;
  warn: RunWarning;
}

/** Load profiles and their site; any problem is a UsageError listing each at file:line:col. */
export async function loadValidRun(profileNames: readonly string[], siteFile: string): Promise<ValidRun> {
  const loaded = await loadRun(profileNames, siteFile);
  if (loaded.problems.length > 0 || !loaded.site) {
    throw new UsageError(`the profile or site is not valid; nothing was probed:\n${formatProblems(loaded.problems)}`);
  }
  return loaded as ValidRun;
}

/** A run whose results went out one by one: its report without them. */
export interface StreamedRun {
  head: ReportHead;
  finishedAt: Date;
  summary: Summary;
  /** Results delivered: one per probe of the plan. */
  total: number;
}

/** Run loaded profiles against their site once: expand, resolve, probe, and wrap the results in a RunReport. */
export async function runProfiles(loaded: ValidRun, options: ProfileRunOptions): Promise<RunReport> {
  const results: ProbeResult[] = [];
  const run = await streamProfiles(loaded, options, (result, index) => {
    results[index] = result;
  });
  return { ...run.head, finished_at: run.finishedAt.toISOString(), results, summary: run.summary };
}

/**
 * Run loaded profiles against their site once, handing each result as its report carries it (route and family
 * notes added) to `deliver` with its plan index, in the order they are ready; the run holds none of them.
 */
export async function streamProfiles(
  loaded: ValidRun,
  options: ProfileRunOptions,
  deliver: (result: ProbeResult, index: number) => void,
): Promise<StreamedRun> {
  const { site, profiles, kinds } = loaded;
  const startedAt = new Date();
  const { plan, extra } = await planRun(loaded, options);
  options.onPlanned?.(plan.length);
  // The kernel's route toward each target, asked beside the probing: which source address and first router it used.
  const routes = lookUpRoutes(plan.flatMap((spec) => (spec.target.address === null ? [] : [spec.target.address])));
  const finals = new FinalResults(plan, deliver);
  void routes.then((known) => finals.routesKnown(known));
  const summary: Summary = { pass: 0, fail: 0, inconclusive: 0, error: 0 };
  await executePlan(plan, (name) => kinds.get(name) as ProbeKind, {
    concurrency: options.concurrency,
    ...(options.ratePerSecond === undefined ? {} : { ratePerSecond: options.ratePerSecond }),
    retain: false,
    onResult: (result, index) => {
      summary[result.verdict] += 1;
      options.onResult?.(result, index);
      finals.take(result, index);
    },
    warn: options.warn,
  });
  finals.routesKnown(await routes);
  const head = reportHead({
    ...(options.agent ? { agent: options.agent } : {}),
    role: [...new Set(profiles.map((profile) => profile.role))].join('+'),
    site: site.name,
    profile: profileIdentity(profiles),
    startedAt,
    extra,
  });
  return { head, finishedAt: new Date(), summary, total: plan.length };
}

/** The resolved plan of a run and what its report says of the expansion; the expanded specs are not kept. */
async function planRun(
  loaded: ValidRun,
  options: ProfileRunOptions,
): Promise<{ plan: ProbeSpec[]; extra: NonNullable<RunContext['extra']> }> {
  const { site, profiles, kinds } = loaded;
  const expansion = expandProfiles(profiles, site, kinds);
  const specs = options.rows ? expansion.plan.filter((spec) => options.rows!.has(spec.row ?? '')) : expansion.plan;
  const plan = await resolvePlan(specs, parseDuration(site.settings.timeout, 'settings.timeout'), options.resolver);
  return {
    plan,
    extra: {
      site_hash: site.hash,
      edition: site.edition,
      overlaps: expansion.overlaps,
      not_proven: expansion.notProven,
    },
  };
}
