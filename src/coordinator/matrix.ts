import type { ProbeResult, RunReport } from '../core/result.js';
import { summarize } from '../core/verdict.js';
import type {
  Baseline,
  LatestReport,
  Matrix,
  MatrixAgent,
  MatrixCell,
  MatrixResult,
  MatrixSummary,
} from '../core/matrix.js';
import { worstVerdict } from '../core/matrix.js';
import { groupByRow } from '../core/rows.js';

/** The baseline key of a cell. */
export function cellKey(agent: string, row: string): string {
  return `${agent}|${row}`;
}

/**
 * Build the matrix from every agent's latest report: verdicts per row, controls, staleness and drift.
 * `maxAgeMs`: results older than this are stale whatever interval the agent claims (the coordinator's bound).
 */
export function buildMatrix(
  latest: LatestReport[],
  options: { now: Date; baseline?: Baseline | null; maxAgeMs?: number },
): Matrix {
  const entries = latestPerAgent(latest);
  const agents = entries.map((entry) => describeAgent(entry, options.now, options.maxAgeMs ?? Infinity));
  const openByRole = openAddressesByRole(entries.map((entry) => entry.report));
  const rows: string[] = [];
  const cells: MatrixCell[] = [];
  for (const [index, { report }] of entries.entries()) {
    const agent = agents[index]!;
    for (const [row, results] of groupByRow(report.results)) {
      if (!rows.includes(row)) rows.push(row);
      const judged = results.map((result) => judgeControl(result, openByRole));
      cells.push({
        agent: agent.name,
        role: agent.role,
        row,
        verdict: worstVerdict(judged.map((r) => r.verdict)),
        stale: agent.stale,
        drift: false,
        results: judged,
      });
    }
  }
  const matrix: Omit<Matrix, 'summary'> = {
    generated_at: options.now.toISOString(),
    site: siteOf(entries.map((entry) => entry.report)),
    rows,
    agents,
    cells: sortCells(cells, rows, agents),
    drift_count: 0,
  };
  if (options.baseline) applyBaseline(matrix, options.baseline);
  return { ...matrix, summary: matrixSummary(matrix) };
}

/** The matrix's verdicts as a baseline to accept. */
export function baselineOf(matrix: Matrix): Baseline {
  return Object.fromEntries(matrix.cells.map((cell) => [cellKey(cell.agent, cell.row), cell.verdict]));
}

/** One report per agent, its newest; agents grouped by role (no role last), then by name. */
function latestPerAgent(latest: readonly LatestReport[]): LatestReport[] {
  const byAgent = new Map<string, LatestReport>();
  for (const entry of latest) {
    const known = byAgent.get(entry.report.agent);
    if (!known || Date.parse(entry.report.finished_at) > Date.parse(known.report.finished_at))
      byAgent.set(entry.report.agent, entry);
  }
  return [...byAgent.values()].sort(
    (a, b) => compareRoles(a.report.role, b.report.role) || a.report.agent.localeCompare(b.report.agent),
  );
}

function compareRoles(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a.localeCompare(b);
}

function describeAgent({ report, received_at }: LatestReport, now: Date, maxAgeMs: number): MatrixAgent {
  // The results' own time, but never later than their arrival: an agent clock running ahead cannot make old results look fresh.
  const taken = Math.min(Date.parse(report.finished_at), Date.parse(received_at) || Infinity);
  const lastReportAt = Number.isFinite(taken) ? new Date(taken).toISOString() : report.finished_at;
  const interval = report.interval_s;
  const staleAfterMs = Math.min(
    typeof interval === 'number' && interval > 0 ? 2 * interval * 1000 : Infinity,
    maxAgeMs,
  );
  const stale = now.getTime() - taken > staleAfterMs;
  return {
    name: report.agent,
    role: report.role,
    version: report.version,
    profile: report.profile,
    last_report_at: lastReportAt,
    stale,
    ...(typeof interval === 'number' ? { interval_s: interval } : {}),
    report_id: report.id,
  };
}

/** The roles an agent reports as: profiles run together report their roles joined with `+`. */
function rolesOf(role: string | null): string[] {
  return role === null ? [] : role.split('+');
}

/** For each role, the target addresses its agents saw open (any port) in their latest reports, and who saw them. */
/** Agents named per control result: a fleet of thousands would otherwise repeat thousands of names in every cell. */
const SEEN_BY_NAMES = 3;

function openAddressesByRole(reports: readonly RunReport[]): Map<string, Map<string, Set<string>>> {
  const byRole = new Map<string, Map<string, Set<string>>>();
  for (const report of reports) {
    for (const role of rolesOf(report.role)) {
      let seen = byRole.get(role);
      if (!seen) byRole.set(role, (seen = new Map()));
      for (const result of report.results) {
        if (result.state !== 'open' || result.target.address === null) continue;
        let agents = seen.get(result.target.address);
        if (!agents) seen.set(result.target.address, (agents = new Set()));
        agents.add(report.agent);
      }
    }
  }
  return byRole;
}

/** A blocked result proves the block only if an agent of its control role reached the same address. */
function judgeControl(result: ProbeResult, openByRole: Map<string, Map<string, Set<string>>>): MatrixResult {
  if (result.expect !== 'blocked' || !result.control) return result;
  const seenBy =
    result.target.address === null ? undefined : openByRole.get(result.control)?.get(result.target.address);
  const names: string[] = [];
  for (const name of seenBy ?? []) {
    if (names.length === SEEN_BY_NAMES) break;
    names.push(name);
  }
  const judged: MatrixResult = { ...result, control_seen_by: names, control_seen_count: seenBy?.size ?? 0 };
  if (result.verdict === 'pass' && names.length === 0) {
    judged.verdict = 'inconclusive';
    judged.reported_verdict = result.verdict;
  }
  return judged;
}

function siteOf(reports: readonly RunReport[]): string | null {
  const sites = [
    ...new Set(reports.map((report) => report.site).filter((site): site is string => site !== null)),
  ].sort();
  return sites.length === 0 ? null : sites.join(', ');
}

function sortCells(cells: MatrixCell[], rows: readonly string[], agents: readonly MatrixAgent[]): MatrixCell[] {
  const rowIndex = new Map(rows.map((row, index) => [row, index]));
  const agentIndex = new Map(agents.map((agent, index) => [agent.name, index]));
  return cells.sort(
    (a, b) => rowIndex.get(a.row)! - rowIndex.get(b.row)! || agentIndex.get(a.agent)! - agentIndex.get(b.agent)!,
  );
}

function applyBaseline(matrix: Omit<Matrix, 'summary'>, baseline: Baseline): void {
  const present = new Set<string>();
  for (const cell of matrix.cells) {
    const key = cellKey(cell.agent, cell.row);
    present.add(key);
    const accepted = baseline[key];
    if (accepted !== undefined) cell.baseline = accepted;
    cell.drift = accepted !== cell.verdict;
  }
  const vanished = Object.entries(baseline)
    .filter(([key]) => !present.has(key))
    .map(([key, verdict]) => {
      const split = key.lastIndexOf('|');
      return { agent: key.slice(0, split), row: key.slice(split + 1), baseline: verdict };
    });
  if (vanished.length > 0) matrix.vanished = vanished;
  matrix.drift_count = matrix.cells.filter((cell) => cell.drift).length + vanished.length;
}

/** A matrix's summary, counted from its own cells and agents (and its drift count). */
export function matrixSummary(matrix: Omit<Matrix, 'summary'>): MatrixSummary {
  return {
    ...summarize(matrix.cells.map((cell) => cell.verdict)),
    cells: matrix.cells.length,
    rows: matrix.rows.length,
    agents: matrix.agents.length,
    stale_agents: matrix.agents.filter((agent) => agent.stale).length,
    drift: matrix.drift_count,
  };
}
