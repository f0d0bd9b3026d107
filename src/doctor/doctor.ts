import { hostname } from 'node:os';
import { loadAgentConfig } from '../agent/config.js';
import { parseDuration } from '../core/duration.js';
import { UsageError } from '../core/usage-error.js';
import { VERSION } from '../core/version.js';
import { loadSite, type Site } from '../profile/site.js';
import { formatProblems } from '../profile/source.js';
import { DEFAULT_CONCURRENCY } from '../run/execute.js';
import { checkClock } from './clock.js';
import { checkCoordinator } from './coordinator.js';
import { skipped, type Finding, type FindingStatus } from './finding.js';
import { checkOpenFiles } from './open-files.js';
import { checkRawSocket } from './raw-socket.js';
import { checkResolvers } from './resolvers.js';
import { checkRoutes } from './routes.js';
import { checkSpool } from './spool.js';

/** What to examine besides the host itself. */
export interface DoctorOptions {
  /** A site file: routes toward its hosts, the clock against its NTP server. */
  site?: string;
  /** An agent config: its site, concurrency, coordinator, token and spool. */
  agentConfig?: string;
}

/** Everything doctor found, as `--json` prints it. */
export interface DoctorReport {
  version: string;
  host: string;
  uid: number | null;
  node: string;
  site: string | null;
  agent_config: string | null;
  checked_at: string;
  findings: Finding[];
  summary: Record<FindingStatus, number>;
}

/** Examine this host: what it can probe, and what stands in the way; sends only one NTP query and the coordinator requests. */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const config = options.agentConfig === undefined ? undefined : (await loadAgentConfig(options.agentConfig)).config;
  const siteFile = options.site ?? config?.site;
  const site = siteFile === undefined ? undefined : await loadValidSite(siteFile);
  const findings: Finding[] = [
    checkRawSocket(),
    config
      ? checkOpenFiles(config.concurrency, `concurrency in ${config.file}`)
      : checkOpenFiles(DEFAULT_CONCURRENCY, 'the default --concurrency'),
    checkResolvers(),
  ];
  if (site) {
    const timeoutMs = parseDuration(site.settings.timeout, 'settings.timeout');
    findings.push(...(await checkRoutes(site, timeoutMs)), await checkClock(site, timeoutMs));
  } else {
    findings.push(
      skipped(
        'route',
        'no site given: routes toward its hosts and the clock were not checked',
        'give --site FILE (or --agent-config FILE)',
      ),
    );
  }
  if (config) {
    findings.push(...(await checkCoordinator(config)), checkSpool(config));
  } else {
    findings.push(
      skipped(
        'coordinator',
        'no agent config given: coordinator, token and spool were not checked',
        'give --agent-config FILE',
      ),
    );
  }
  const summary: Record<FindingStatus, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const finding of findings) summary[finding.status] += 1;
  return {
    version: VERSION,
    host: hostname(),
    uid: process.getuid?.() ?? null,
    node: process.version,
    site: site?.file ?? null,
    agent_config: config?.file ?? null,
    checked_at: new Date().toISOString(),
    findings,
    summary,
  };
}

/** 0 when nothing warns or fails (skipped checks do not count), 1 otherwise. */
export function doctorExitCode(report: DoctorReport): number {
  return report.summary.warn + report.summary.fail === 0 ? 0 : 1;
}

async function loadValidSite(file: string): Promise<Site> {
  const { source, site } = await loadSite(file);
  if (!site) throw new UsageError(`the site is not valid; nothing was checked:\n${formatProblems(source.problems)}`);
  return site;
}
