import type { ProbeResult, RunReport, Summary, Verdict } from './result.js';

// The matrix model: built by the coordinator (and `reachgate matrix` offline), rendered by report/.

/** An agent's latest report and when the coordinator (or the offline reader) got it. */
export interface LatestReport {
  report: RunReport;
  received_at: string;
}

/** An accepted matrix: `${agent}|${row}` -> verdict. */
export type Baseline = Record<string, string>;

/** One column of the matrix. */
export interface MatrixAgent {
  name: string;
  role: string | null;
  version: string;
  profile: { name: string; hash: string } | null;
  /** When the agent's latest results were taken. */
  last_report_at: string;
  /** The latest report is older than twice the agent's interval, or than the coordinator's maximum age. */
  stale: boolean;
  /** The agent's interval in seconds, when it reported one. */
  interval_s?: number;
  /** The id of the report the agent's cells come from. */
  report_id: string;
}

/** A probe result as the matrix judges it: a negative probe's verdict depends on its control. */
export interface MatrixResult extends ProbeResult {
  /** Agents of the control role that saw this target address open in their latest report (the first few). */
  control_seen_by?: string[];
  /** How many agents of the control role saw it open. */
  control_seen_count?: number;
  /** The verdict the agent reported, when the matrix changed it. */
  reported_verdict?: Verdict;
}

/** One agent's latest verdict for one row. */
export interface MatrixCell {
  agent: string;
  role: string | null;
  row: string;
  verdict: Verdict;
  stale: boolean;
  /** The verdict differs from the accepted baseline (or the cell is not in it). */
  drift: boolean;
  /** The baseline's verdict, when a baseline was given and names this cell. */
  baseline?: string;
  results: MatrixResult[];
}

/** Agents x rows: the whole site's state in one document. */
export interface Matrix {
  generated_at: string;
  site: string | null;
  rows: string[];
  agents: MatrixAgent[];
  cells: MatrixCell[];
  drift_count: number;
  /** Baseline cells that no agent reports any more (counted as drift). */
  vanished?: Array<{ agent: string; row: string; baseline: string }>;
  summary: MatrixSummary;
}

/** A matrix's cells counted by verdict, with the sizes and the stale and drifted counts. */
export interface MatrixSummary extends Summary {
  cells: number;
  rows: number;
  agents: number;
  stale_agents: number;
  drift: number;
  /**
   * The coordinator's API only: whether the counts are of the state the answer was read from (false: a large
   * site's last count, served while a newer one runs), and then when the counted state was read.
   */
  current?: boolean;
  as_of?: string;
}

/** The site at a glance for thousands of agents: cells counted per role and row, drifted cells and stale agents first. */
export interface MatrixOverview {
  generated_at: string;
  site: string | null;
  summary: MatrixSummary;
  rows: string[];
  roles: Array<string | null>;
  /** One entry per role and row that has cells. */
  groups: Array<{ role: string | null; row: string; counts: Summary; stale: number; drift: number }>;
  /** The first drifted cells (of summary.drift). */
  drifted: Array<{ agent: string; role: string | null; row: string; verdict: Verdict; baseline?: string }>;
  /** The first stale agents (of summary.stale_agents). */
  stale: MatrixAgent[];
  /**
   * The site was never counted (or has more than doubled since its last count) and its first count runs since
   * this time (ISO): of the summary only agents, stale_agents and rows hold; groups and drifted are empty.
   */
  counting?: { since: string };
}

/** Verdicts from best to worst: a cell is the worst of its results. */
const SEVERITY: Record<Verdict, number> = { pass: 0, inconclusive: 1, fail: 2, error: 3 };

/** The worst of some verdicts: error > fail > inconclusive > pass. */
export function worstVerdict(verdicts: Iterable<Verdict>): Verdict {
  let worst: Verdict = 'pass';
  for (const verdict of verdicts) if (SEVERITY[verdict] > SEVERITY[worst]) worst = verdict;
  return worst;
}

/** "tg-01, tg-02 and 3 more": the agents that saw a control target open. */
export function seenByText(result: MatrixResult): string {
  const names = result.control_seen_by ?? [];
  const more = (result.control_seen_count ?? names.length) - names.length;
  return more > 0 ? `${names.join(', ')} and ${more} more` : names.join(', ');
}
