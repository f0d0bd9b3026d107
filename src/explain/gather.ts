import { existsSync } from 'node:fs';
import type { LatestReport, MatrixCell, MatrixAgent } from '../core/matrix.js';
import type { RunReport } from '../core/result.js';
import { UsageError } from '../core/usage-error.js';
import { openCoordinator, refused, type MatrixSource, type CoordinatorReader } from '../coordinator/client.js';
import { buildMatrix } from '../coordinator/matrix.js';
import { readBaseline, readReport } from '../coordinator/matrix-files.js';
import { closeMatches } from '../profile/did-you-mean.js';
import { loadRun, profileIdentity } from '../profile/load.js';
import { profileFile } from '../profile/profile.js';
import { formatProblems } from '../profile/source.js';
import type { ResolverAddress } from '../net/resolve.js';
import { loadValidRun, runProfiles } from '../run/profiles.js';
import type { RunWarning } from '../run/execute.js';
import { originsOf, type EntryOrigin } from './origins.js';
import type { RowEvidence } from './story.js';

/** Profile and site files a user named, to show the entries behind a report's or cell's row. */
export interface ProfileFiles {
  profiles?: readonly string[];
  site?: string;
}

/** A row name that is not there: exit 2, with the close matches and the rows that are. */
function unknownRow(row: string, where: string, rows: readonly string[]): UsageError {
  const close = closeMatches(row, rows);
  return new UsageError(
    `no row \`${row}\` in ${where}${close.length > 0 ? `; close matches: ${close.join(', ')}` : ''}`,
    rows.length > 0 ? `Rows there: ${rows.join(', ')}.` : 'It has no rows at all.',
  );
}

const NO_ROUTE_IN_REPORT = 'the report records no route (an agent older than this reachgate, or one without iproute2)';

/** A row from RunReport files: the agent's results, controls judged against every report given, drift against a baseline file. */
export async function fromReports(
  files: readonly string[],
  row: string,
  options: ProfileFiles & { agent?: string; baseline?: string; now: Date },
): Promise<RowEvidence> {
  const latest = files.map((file) => ({ file, ...readReport(file) }));
  const baseline = options.baseline === undefined ? null : readBaseline(options.baseline);
  const candidates = latest.filter((entry) => options.agent === undefined || entry.report.agent === options.agent);
  if (candidates.length === 0) {
    const agents = latest.map((entry) => entry.report.agent);
    throw new UsageError(
      `no report of agent \`${options.agent}\` among ${files.join(', ')}` +
        `${closeMatches(options.agent!, agents).length > 0 ? `; close matches: ${closeMatches(options.agent!, agents).join(', ')}` : ''}`,
      `Agents there: ${agents.join(', ')}.`,
    );
  }
  const holding = candidates.filter((entry) => entry.report.results.some((result) => result.row === row));
  if (holding.length === 0) {
    const rows = [...new Set(candidates.flatMap((entry) => entry.report.results.map((result) => result.row ?? '')))];
    throw unknownRow(row, candidates.map((entry) => entry.file).join(', '), rows.filter(Boolean));
  }
  if (holding.length > 1) {
    throw new UsageError(
      `row \`${row}\` is in the reports of agents ${holding.map((entry) => entry.report.agent).join(', ')}`,
      'Name the one to explain with --agent NAME.',
    );
  }
  const chosen = holding[0]!;
  const matrix = buildMatrix(latest as LatestReport[], { now: options.now, baseline });
  const cell = matrix.cells.find((c) => c.agent === chosen.report.agent && c.row === row)!;
  const roles = [...new Set(latest.flatMap((entry) => entry.report.role?.split('+') ?? []))];
  const origins = await originsFor(chosen.report, row, options);
  return {
    mode: 'report',
    from: chosen.file,
    row,
    agent: chosen.report.agent,
    role: chosen.report.role,
    site: chosen.report.site,
    results: cell.results,
    control: { judged: true, roles, missingHint: 'add its report with --report FILE' },
    ...origins,
    overlaps: chosen.report.overlaps ?? [],
    notProven: chosen.report.not_proven ?? [],
    routeNote: NO_ROUTE_IN_REPORT,
    ...(baseline
      ? { cell: { verdict: cell.verdict, stale: false, drift: cell.drift, ...baselineOf(cell) } }
      : { baselineNote: 'no baseline given: name an accepted matrix with --baseline FILE to see drift' }),
  };
}

function baselineOf(cell: MatrixCell): { baseline?: string } {
  return cell.baseline === undefined ? {} : { baseline: cell.baseline };
}

/**
 * The profile entries behind a report's row: from the files named, or from the built-in profiles the report
 * names, when their content hash is the report's. The site's values need the site file.
 */
async function originsFor(
  report: Pick<RunReport, 'profile' | 'site_hash'>,
  row: string,
  files: ProfileFiles,
): Promise<{ origins: EntryOrigin[]; originsNote?: string }> {
  const names = files.profiles ?? report.profile?.name.split('+') ?? [];
  const builtIn = files.profiles === undefined;
  if (
    names.length === 0 ||
    (builtIn && !names.every((name) => !name.endsWith('.yaml') && existsSync(profileFile(name))))
  ) {
    return {
      origins: [],
      originsNote: `the profile ${report.profile?.name ?? '(unnamed)'} is not at hand: name it with --profile FILE (and --site FILE) to see its entries`,
    };
  }
  const loaded = await loadRun(names, files.site);
  if (loaded.problems.length > 0)
    throw new UsageError(`the profile or site is not valid:\n${formatProblems(loaded.problems)}`);
  const notes: string[] = [];
  if (report.profile && profileIdentity(loaded.profiles).hash !== report.profile.hash) {
    if (builtIn)
      return {
        origins: [],
        originsNote:
          `the built-in profile ${report.profile.name} has changed since the report was made: ` +
          'name the file it was made with in --profile FILE to see its entries',
      };
    notes.push('the profiles given differ from the ones the report was made with (another content hash)');
  }
  if (loaded.site && report.site_hash !== undefined && loaded.site.hash !== report.site_hash)
    notes.push('the site file given differs from the one the report was made with (another content hash)');
  if (!loaded.site) notes.push("the site's values need the site file: name it with --site FILE");
  return {
    origins: originsOf(loaded.profiles, loaded.site, row),
    ...(notes.length > 0 ? { originsNote: notes.join('; ') } : {}),
  };
}

/** Cells of one agent listed at most, to name the rows it has when the one asked for is not there. */
const AGENT_ROWS_MAX = 1000;

/** A row of one agent from a coordinator's read API: its cell (controls and baseline judged there) and its report. */
export async function fromCoordinator(
  source: MatrixSource,
  agent: string,
  row: string,
  files: ProfileFiles,
): Promise<RowEvidence> {
  const reader = await openCoordinator(source);
  try {
    const api = reader.base.pathname.replace(/\/matrix$/, '');
    const query = new URLSearchParams({ agent, row });
    const cellAnswer = await reader.get(`${api}/cell?${query}`, 'the cell');
    const agentsAnswer = await reader.get(`${api}/agents`, 'the agents');
    if (agentsAnswer.status !== 200) throw refused(reader.base, agentsAnswer.status, agentsAnswer.text);
    const agents = ((agentsAnswer.body as { agents?: MatrixAgent[] })?.agents ?? []) as MatrixAgent[];
    const column = agents.find((a) => a.name === agent);
    if (!column) {
      const close = closeMatches(
        agent,
        agents.map((a) => a.name),
      );
      throw new UsageError(
        `no agent \`${agent}\` reports to ${source.coordinator}${close.length > 0 ? `; close matches: ${close.join(', ')}` : ''}`,
        `${agents.length} agents report there.`,
      );
    }
    if (cellAnswer.status === 404)
      throw unknownRow(row, `the cells of agent ${agent}`, await agentRows(reader, api, agent));
    if (cellAnswer.status !== 200) throw refused(reader.base, cellAnswer.status, cellAnswer.text);
    const cell = cellAnswer.body as MatrixCell;
    if (!Array.isArray(cell?.results))
      throw new UsageError(`the coordinator at ${reader.base.href} did not answer with a cell`);
    const report = await agentReport(reader, api, column.report_id);
    const roles = [...new Set(agents.flatMap((a) => a.role?.split('+') ?? []))];
    const origins = await originsFor(
      { profile: column.profile, ...(report?.site_hash ? { site_hash: report.site_hash } : {}) },
      row,
      files,
    );
    return {
      mode: 'coordinator',
      from: source.coordinator,
      row,
      agent,
      role: column.role,
      site: report?.site ?? null,
      results: cell.results,
      control: { judged: true, roles, missingHint: 'none reports to this coordinator' },
      ...origins,
      overlaps: report?.overlaps ?? [],
      notProven: report?.not_proven ?? [],
      routeNote: NO_ROUTE_IN_REPORT,
      cell: { verdict: cell.verdict, stale: cell.stale, drift: cell.drift, ...baselineOf(cell) },
      ...(cell.baseline === undefined && !cell.drift
        ? { baselineNote: 'no baseline is accepted at the coordinator: nothing to compare with' }
        : {}),
    };
  } finally {
    await reader.close();
  }
}

/** The rows an agent has cells for. */
async function agentRows(reader: CoordinatorReader, api: string, agent: string): Promise<string[]> {
  const query = new URLSearchParams({ agent, limit: String(AGENT_ROWS_MAX) });
  const answer = await reader.get(`${api}/matrix?${query}`, 'the matrix');
  if (answer.status !== 200) throw refused(reader.base, answer.status, answer.text);
  const cells = (answer.body as { cells?: Array<{ row?: unknown }> })?.cells ?? [];
  return [...new Set(cells.map((cell) => cell.row).filter((name): name is string => typeof name === 'string'))];
}

/** The agent's latest report (its overlaps, not-proven entries and site), or null once retention deleted it. */
async function agentReport(reader: CoordinatorReader, api: string, id: string): Promise<RunReport | null> {
  const answer = await reader.get(`${api}/reports/${encodeURIComponent(id)}`, 'the report');
  if (answer.status === 404) return null;
  if (answer.status !== 200) throw refused(reader.base, answer.status, answer.text);
  return (answer.body as { report?: RunReport })?.report ?? null;
}

/** How a live explain runs its row's probes. */
export interface LiveOptions {
  profiles: readonly string[];
  site: string;
  agent?: string;
  concurrency: number;
  ratePerSecond?: number;
  resolver?: ResolverAddress;
  warn: RunWarning;
}

/** A row probed here and now: the profiles' entries of the row against the site, only those. */
export async function fromLive(row: string, options: LiveOptions): Promise<RowEvidence> {
  const loaded = await loadValidRun(options.profiles, options.site);
  const rows = [...new Set(loaded.profiles.flatMap((profile) => profile.probes.map((probe) => probe.row)))];
  if (!rows.includes(row)) throw unknownRow(row, options.profiles.join(', '), rows);
  const report = await runProfiles(loaded, {
    ...(options.agent ? { agent: options.agent } : {}),
    concurrency: options.concurrency,
    ...(options.ratePerSecond === undefined ? {} : { ratePerSecond: options.ratePerSecond }),
    ...(options.resolver === undefined ? {} : { resolver: options.resolver }),
    rows: new Set([row]),
    warn: options.warn,
  });
  const origins = originsOf(loaded.profiles, loaded.site, row);
  const results = report.results.filter((result) => result.row === row);
  if (results.length === 0) {
    const skipped = origins.map(
      (origin) => `${origin.profile} entry ${origin.entry}: ${origin.site?.skipped ?? 'no target'}`,
    );
    throw new UsageError(
      `row \`${row}\` makes no probe at site ${loaded.site.name}, so nothing was probed`,
      skipped.join('\n'),
    );
  }
  return {
    mode: 'live',
    from: `${options.profiles.join(' ')} --site ${options.site}`,
    row,
    agent: report.agent,
    role: report.role,
    site: report.site,
    results,
    control: {
      judged: false,
      why: "a live run probes from this host only; explain the row from the coordinator, or from both roles' reports (--report)",
    },
    origins,
    overlaps: report.overlaps ?? [],
    notProven: report.not_proven ?? [],
    routeNote: "iproute2's ip command is not available here",
    baselineNote: 'a live run has no baseline: explain from the coordinator to compare with the accepted one',
  };
}
