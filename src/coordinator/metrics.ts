import { createHash } from 'node:crypto';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Verdict } from '../core/result.js';
import { readAgentCells, readAgentCounts, readAllAgents, type MatrixWhole, type ReadQuery } from './cells.js';

/** A cell's verdict as a number, worse is higher (the matrix's own order). */
const VERDICT_CODE: Record<Verdict, number> = { pass: 0, inconclusive: 1, fail: 2, error: 3 };
/** Statuses the ingest route answers, counted from zero so that rate() works from the first scrape. */
const INGEST_STATUSES = [200, 201, 400, 401, 403, 409, 413, 415, 422, 429, 500, 503];
/** Longest label value exported; longer names are cut and keep a hash of the whole, so series stay apart. */
export const LABEL_VALUE_MAX = 128;
/** The most agents `--metrics-per-agent` may export series for. */
export const PER_AGENT_MAX = 10_000;

/** A name as a label value of at most LABEL_VALUE_MAX characters ("" for none). */
export function labelValue(name: string | null): string {
  if (name === null) return '';
  if (name.length <= LABEL_VALUE_MAX) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return `${name.slice(0, LABEL_VALUE_MAX - hash.length - 2)}…~${hash}`;
}

/**
 * The coordinator's Prometheus metrics, read from the cell tables at each scrape: cells per site,
 * role, row and verdict, drifted cells, agents and stale agents per site and role, and ingest
 * counters. Series per agent (age, stale, each cell's verdict) only with `perAgent` > 0, for that
 * many agents at most: a fleet of 50,000 agents × 40 rows would be 2 million series.
 */
export class CoordinatorMetrics {
  private readonly registry = new Registry();
  private readonly perAgent: number;
  private readonly ingest = new Counter({
    name: 'reachgate_ingest_requests_total',
    help: 'Report deliveries (POST /api/v1/reports) by HTTP status: 201 stored, 200 duplicate, 4xx refused, 503 store unavailable',
    labelNames: ['status'],
    registers: [this.registry],
  });
  private readonly cells = this.gauge('reachgate_cells', 'Matrix cells by site, role, row and verdict', [
    'site',
    'role',
    'row',
    'verdict',
  ]);
  private readonly drifted = this.gauge(
    'reachgate_drifted_cells',
    'Matrix cells whose verdict differs from the accepted baseline, by site, role and row',
    ['site', 'role', 'row'],
  );
  private readonly drift = this.gauge(
    'reachgate_drift_cells',
    'Matrix cells that differ from the accepted baseline (including accepted cells no agent reports any more)',
  );
  private readonly agents = this.gauge('reachgate_agents', 'Agents by site and role', ['site', 'role']);
  private readonly staleAgents = this.gauge(
    'reachgate_stale_agents',
    'Agents whose latest report is older than twice their interval, by site and role',
    ['site', 'role'],
  );
  private readonly lastReportAge: Gauge | undefined;
  private readonly stale: Gauge | undefined;
  private readonly verdict: Gauge | undefined;
  private readonly omitted: Gauge | undefined;

  /** The Content-Type of the exposition text. */
  readonly contentType: string = this.registry.contentType;

  constructor(options: { perAgent?: number } = {}) {
    this.perAgent = Math.min(Math.max(0, options.perAgent ?? 0), PER_AGENT_MAX);
    collectDefaultMetrics({ register: this.registry });
    for (const status of INGEST_STATUSES) this.ingest.inc({ status: String(status) }, 0);
    if (this.perAgent > 0) {
      this.lastReportAge = this.gauge(
        'reachgate_agent_last_report_age_seconds',
        "Seconds since the agent's latest results were taken",
        ['agent', 'role'],
      );
      this.stale = this.gauge(
        'reachgate_agent_stale',
        "1 when the agent's latest report is older than twice its interval or than the coordinator's --stale-after-hours",
        ['agent', 'role'],
      );
      this.verdict = this.gauge(
        'reachgate_cell_verdict',
        "Each matrix cell's verdict: 0 pass, 1 inconclusive, 2 fail, 3 error",
        ['agent', 'role', 'row'],
      );
      this.omitted = this.gauge(
        'reachgate_metrics_agents_omitted',
        'Agents left out of the per-agent series by the --metrics-per-agent bound',
      );
    }
  }

  /** A gauge in this registry. */
  private gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  /** Count one answered delivery. */
  countIngest(status: number): void {
    this.ingest.inc({ status: String(status) });
  }

  /**
   * The exposition text, with the gauges set from the cell tables (cells gone since the last scrape drop out):
   * cell counts from the whole-matrix counts `whole` (one judging pass per state of the database, shared
   * with the matrix and the page), agents counted here.
   */
  async render(read: ReadQuery, now: Date, whole: MatrixWhole): Promise<string> {
    const cellCounts = whole.groups;
    const agentCounts = await readAgentCounts(read, now);
    for (const gauge of [this.cells, this.drifted, this.agents, this.staleAgents]) gauge.reset();
    let drift = 0;
    for (const group of cellCounts) {
      const where = { site: labelValue(group.site), role: labelValue(group.role), row: labelValue(group.row) };
      this.cells.inc({ ...where, verdict: group.verdict }, group.cells);
      if (group.drift > 0) this.drifted.inc(where, group.drift);
      drift += group.drift;
    }
    this.drift.set(drift + whole.vanishedCount);
    let agentTotal = 0;
    for (const group of agentCounts) {
      const where = { site: labelValue(group.site), role: labelValue(group.role) };
      this.agents.set(where, group.agents);
      this.staleAgents.set(where, group.stale);
      agentTotal += group.agents;
    }
    if (this.perAgent > 0) await this.renderPerAgent(read, now, agentTotal);
    return this.registry.metrics();
  }

  private async renderPerAgent(read: ReadQuery, now: Date, agentTotal: number): Promise<void> {
    for (const gauge of [this.lastReportAge!, this.stale!, this.verdict!]) gauge.reset();
    const agents = await readAllAgents(read, now, this.perAgent);
    for (const agent of agents) {
      const labels = { agent: labelValue(agent.name), role: labelValue(agent.role) };
      this.lastReportAge!.set(labels, Math.max(0, (now.getTime() - Date.parse(agent.last_report_at)) / 1000));
      this.stale!.set(labels, agent.stale ? 1 : 0);
    }
    for (const cell of await readAgentCells(read, this.perAgent, now)) {
      this.verdict!.set(
        { agent: labelValue(cell.agent), role: labelValue(cell.role), row: labelValue(cell.row) },
        VERDICT_CODE[cell.verdict],
      );
    }
    this.omitted!.set(Math.max(0, agentTotal - agents.length));
  }
}
