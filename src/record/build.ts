import type { LatestReport, Matrix, MatrixResult } from '../core/matrix.js';
import type { Verdict } from '../core/result.js';
import { worstVerdict } from '../core/matrix.js';
import { UsageError } from '../core/usage-error.js';
import { VERSION } from '../core/version.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import {
  RECORD_FORMAT,
  RECORD_TYPE,
  type AcceptanceRecord,
  type RecordAgent,
  type RecordControl,
  type RecordSource,
} from './model.js';

/** Who accepts, for which change, from where, and when. */
export interface Acceptance {
  approver: string;
  change: string;
  source: RecordSource;
  now: Date;
}

/** Longest approver or change reference: a name and an address, a ticket URL. */
export const ACCEPTANCE_TEXT_MAX = 512;

/**
 * The acceptance record of a matrix: every agent of `matrix` with its latest report (from `reports`, by report id),
 * its cells and every judged result, the profiles and site files they ran, the controls and who met them.
 */
export function buildRecord(
  matrix: Matrix,
  reports: readonly LatestReport[],
  acceptance: Acceptance,
): AcceptanceRecord {
  const approver = acceptanceText(acceptance.approver, 'approver');
  const change = acceptanceText(acceptance.change, 'change');
  const byId = new Map(reports.map((entry) => [entry.report.id, entry]));
  const cellsOf = new Map<string, Matrix['cells']>();
  for (const cell of matrix.cells) {
    let cells = cellsOf.get(cell.agent);
    if (!cells) cellsOf.set(cell.agent, (cells = []));
    cells.push(cell);
  }
  const agents = matrix.agents.map((agent): RecordAgent => {
    const latest = byId.get(agent.report_id);
    if (!latest) throw new Error(`no report ${agent.report_id} for agent ${agent.name}`);
    const { report, received_at } = latest;
    const cells = cellsOf.get(agent.name) ?? [];
    return {
      name: agent.name,
      role: agent.role,
      version: agent.version,
      host: report.host ?? null,
      profile: agent.profile === null ? null : { name: agent.profile.name, sha256: agent.profile.hash },
      site_sha256: report.site_hash ?? null,
      edition: report.edition ?? null,
      report: {
        id: report.id,
        sha256: sha256Hex(canonicalJson(report)),
        started_at: report.started_at,
        finished_at: report.finished_at,
        received_at,
      },
      stale: agent.stale,
      cells: Object.fromEntries(cells.map((cell) => [cell.row, cell.verdict])),
      overlaps: report.overlaps ?? [],
      not_proven: report.not_proven ?? [],
      results: cells.flatMap((cell) => cell.results),
    };
  });
  const times = reports.filter((entry) => byId.has(entry.report.id));
  return {
    type: RECORD_TYPE,
    format: RECORD_FORMAT,
    site: matrix.site,
    edition: joined(agents.map((agent) => agent.edition)),
    site_files: counted(agents.map((agent) => agent.site_sha256)).map(([sha256, count]) => ({ sha256, agents: count })),
    profiles: profilesOf(agents),
    window: {
      from: earliest(times.map((entry) => entry.report.started_at)) ?? acceptance.now.toISOString(),
      to: latestOf(times.map((entry) => entry.report.finished_at)) ?? acceptance.now.toISOString(),
    },
    approver,
    change,
    created_at: acceptance.now.toISOString(),
    generator: { name: 'reachgate', version: VERSION },
    source: acceptance.source,
    verdict: recordVerdict(matrix),
    summary: matrix.summary,
    rows: matrix.rows,
    controls: controlsOf(agents),
    agents,
  };
}

/** The record's verdict: the worst cell; no cell at all proves nothing. */
function recordVerdict(matrix: Matrix): Verdict {
  return matrix.cells.length === 0 ? 'inconclusive' : worstVerdict(matrix.cells.map((cell) => cell.verdict));
}

/** An approver or change reference: one line of printable text, bounded. */
function acceptanceText(value: string, option: 'approver' | 'change'): string {
  const text = value.trim();
  // Control characters would let a name hide or rewrite lines where the record is shown.
  if (text.length === 0 || text.length > ACCEPTANCE_TEXT_MAX || /[\u0000-\u001f\u007f-\u009f]/.test(text)) {
    throw new UsageError(
      `Expected the \`--${option}\` option to be one line of 1 to ${ACCEPTANCE_TEXT_MAX} printable characters, got ${JSON.stringify(value.slice(0, 80))}`,
      option === 'approver'
        ? 'Name the person who accepts the site, e.g. --approver "Jane Doe <jane@example.org>".'
        : 'Give the change or ticket the acceptance belongs to, e.g. --change CHG-1234.',
    );
  }
  return text;
}

/** Distinct non-null values with how often each occurs, most frequent first. */
function counted(values: ReadonlyArray<string | null>): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const value of values) if (value !== null) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function joined(values: ReadonlyArray<string | null>): string | null {
  const distinct = counted(values).map(([value]) => value);
  return distinct.length === 0 ? null : distinct.sort().join(', ');
}

function profilesOf(agents: readonly RecordAgent[]): AcceptanceRecord['profiles'] {
  const byKey = new Map<string, AcceptanceRecord['profiles'][number]>();
  for (const { profile } of agents) {
    if (profile === null) continue;
    const key = `${profile.name}\n${profile.sha256}`;
    const known = byKey.get(key);
    if (known) known.agents++;
    else byKey.set(key, { ...profile, agents: 1 });
  }
  return [...byKey.values()].sort((a, b) => a.name.localeCompare(b.name) || a.sha256.localeCompare(b.sha256));
}

function earliest(times: readonly string[]): string | undefined {
  return [...times].sort((a, b) => Date.parse(a) - Date.parse(b))[0];
}

function latestOf(times: readonly string[]): string | undefined {
  return [...times].sort((a, b) => Date.parse(b) - Date.parse(a))[0];
}

/** "address:port/protocol" of a result's target. */
function endpoint(result: MatrixResult): string {
  const address = result.target.address ?? result.target.host;
  const host = address.includes(':') ? `[${address}]` : address;
  return `${host}${result.target.port === null ? '' : `:${result.target.port}`}/${result.target.protocol}`;
}

/** Every control the agents' blocked results name, per row, role and target: how many results, how many met, by whom. */
function controlsOf(agents: readonly RecordAgent[]): RecordControl[] {
  const byKey = new Map<string, RecordControl>();
  for (const agent of agents) {
    for (const result of agent.results) {
      if (result.expect !== 'blocked' || !result.control) continue;
      const target = endpoint(result);
      const row = result.row ?? '(no row)';
      const key = `${row}\n${result.control}\n${target}`;
      let control = byKey.get(key);
      if (!control)
        byKey.set(key, (control = { row, control: result.control, target, results: 0, met: 0, seen_by: [] }));
      control.results++;
      const seen = result.control_seen_by ?? [];
      if ((result.control_seen_count ?? seen.length) > 0) control.met++;
      for (const name of seen)
        if (control.seen_by.length < 3 && !control.seen_by.includes(name)) control.seen_by.push(name);
    }
  }
  return [...byKey.values()];
}
