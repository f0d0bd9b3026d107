import { createHash } from 'node:crypto';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Verdict } from '../core/result.js';
import type { Matrix } from '../core/matrix.js';

/** A cell's verdict as a number, worse is higher (the matrix's own order). */
const VERDICT_CODE: Record<Verdict, number> = { pass: 0, inconclusive: 1, fail: 2, error: 3 };
/** Statuses the ingest route answers, counted from zero so that rate() works from the first scrape. */
const INGEST_STATUSES = [200, 201, 400, 401, 403, 409, 413, 415, 422, 429, 500, 503];

/** Longest label value exported; longer names are cut and keep a hash of the whole, so series stay apart. */
export const LABEL_VALUE_MAX = 128;

/** A name as a label value of at most LABEL_VALUE_MAX characters. */
export function labelValue(name: string): string {
  if (name.length <= LABEL_VALUE_MAX) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return `${name.slice(0, LABEL_VALUE_MAX - hash.length - 2)}…~${hash}`;
}

/** The coordinator's Prometheus metrics: ingest counters, and matrix gauges set from the matrix at each scrape. */
export class CoordinatorMetrics {
  private readonly registry = new Registry();
  private readonly ingest = new Counter({
    name: 'reachgate_ingest_requests_total',
    help: 'Report deliveries (POST /api/v1/reports) by HTTP status: 201 stored, 200 duplicate, 4xx refused',
    labelNames: ['status'],
    registers: [this.registry],
  });
  private readonly lastReportAge = this.gauge(
    'reachgate_agent_last_report_age_seconds',
    "Seconds since the agent's latest results were taken",
    ['agent', 'role'],
  );
  private readonly stale = this.gauge(
    'reachgate_agent_stale',
    "1 when the agent's latest report is older than twice its interval or than the coordinator's --stale-after-hours",
    ['agent', 'role'],
  );
  private readonly verdict = this.gauge(
    'reachgate_cell_verdict',
    "Each matrix cell's verdict: 0 pass, 1 inconclusive, 2 fail, 3 error",
    ['agent', 'role', 'row'],
  );
  private readonly cells = this.gauge('reachgate_cells', 'Matrix cells by verdict', ['verdict']);
  private readonly drift = this.gauge(
    'reachgate_drift_cells',
    'Matrix cells that differ from the accepted baseline (including accepted cells no agent reports any more)',
  );

  /** The Content-Type of the exposition text. */
  readonly contentType: string = this.registry.contentType;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const status of INGEST_STATUSES) this.ingest.inc({ status: String(status) }, 0);
  }

  /** A gauge in this registry. */
  private gauge(name: string, help: string, labelNames: string[] = []): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  /** Count one answered delivery. */
  countIngest(status: number): void {
    this.ingest.inc({ status: String(status) });
  }

  /** The exposition text, with the matrix gauges set from `matrix` (agents gone since the last scrape drop out). */
  async render(matrix: Matrix, now: Date): Promise<string> {
    for (const gauge of [this.lastReportAge, this.stale, this.verdict, this.cells]) gauge.reset();
    for (const agent of matrix.agents) {
      const labels = { agent: labelValue(agent.name), role: labelValue(agent.role ?? '') };
      this.lastReportAge.set(labels, Math.max(0, (now.getTime() - Date.parse(agent.last_report_at)) / 1000));
      this.stale.set(labels, agent.stale ? 1 : 0);
    }
    const counts: Record<Verdict, number> = { pass: 0, inconclusive: 0, fail: 0, error: 0 };
    for (const cell of matrix.cells) {
      this.verdict.set(
        { agent: labelValue(cell.agent), role: labelValue(cell.role ?? ''), row: labelValue(cell.row) },
        VERDICT_CODE[cell.verdict],
      );
      counts[cell.verdict] += 1;
    }
    for (const [verdict, count] of Object.entries(counts)) this.cells.set({ verdict }, count);
    this.drift.set(matrix.drift_count);
    return this.registry.metrics();
  }
}
