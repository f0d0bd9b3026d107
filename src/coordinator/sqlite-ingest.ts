// The SQLite store's ingest transaction: reports in, each agent's cell tables moved to its newest report, and the
// alerts' hysteresis step for the cells that moved. Runs on the connection of the writer thread
// (sqlite-writer-thread.ts), so that its commit, fsync and WAL checkpoints never hold the event loop.
import type Database from 'better-sqlite3';
import type { RunReport } from '../core/result.js';
import { agentStateOf, driftStepSql, stateDigest, withConfirmWindow, type AgentState } from './cells.js';
import {
  cellEvent,
  FLIP_CELL_SQL,
  QUEUE_SQL,
  turnedCellsSql,
  vanishedStepSql,
  type AlertEvent,
  type AlertRules,
  type TurnedCell,
} from './alert-store.js';
import type { AddReportOutcome } from './store.js';

/** A report to store: the posted text (already checked), parsed, and when it arrived (ISO). */
export interface IngestItem {
  report: RunReport;
  json: string;
  receivedAt: string;
}

/** What the ingest transaction needs to know about the store. */
export interface IngestSettings {
  /** Results older than this are stale whatever interval the agent claims. */
  staleAfterMs: number;
  /** The store's confirmation window (ms), as its SQL judges with it. */
  confirmWindowMs: number;
}

/** Queue an alert event once per webhook (in the caller's transaction). */
export function queueAlert(queue: Database.Statement, rules: AlertRules, event: AlertEvent, ms: number): void {
  const json = JSON.stringify(event);
  for (const webhook of rules.webhooks) queue.run(webhook, json, ms, ms);
}

/**
 * The ingest transaction of `db`: stores a batch of reports in one transaction (ids already stored are not stored
 * again: their outcome names the agent that has them), and the alert rules it steps (null: no alerts).
 */
export function reportIngest(
  db: Database.Database,
  settings: IngestSettings,
): {
  insertBatch: (batch: readonly IngestItem[]) => AddReportOutcome[];
  setAlertRules: (rules: AlertRules | null) => void;
} {
  const insertReport = db.prepare<[string, string, string | null, string | null, string, string]>(
    'INSERT INTO reports (id, agent, role, site, received_at, json) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
  );
  const agentOfReport = db.prepare<[string], { agent: string }>('SELECT agent FROM reports WHERE id = ?');
  const alerts = {
    step: db.prepare<[string, number]>(withConfirmWindow(driftStepSql('WHERE c.agent = ?'), settings.confirmWindowMs)),
    stepVanished: db.prepare<[string]>(vanishedStepSql('agent = ?')),
    turned: db.prepare<[string, number, number], TurnedCell>(turnedCellsSql('agent = ?')),
    flipCell: db.prepare<[number, string | null, string, string]>(FLIP_CELL_SQL),
    queue: db.prepare<[string, string, number, number]>(QUEUE_SQL),
  };
  let rules: AlertRules | null = null;
  /** The alerts' hysteresis step for an agent's new cells, and the events of the cells that turn. */
  const stepAlerts = (current: AlertRules, agent: string, at: string): void => {
    const ms = Date.parse(at);
    alerts.step.run(agent, ms);
    alerts.stepVanished.run(agent);
    for (const cell of alerts.turned.all(agent, current.fireAfter, current.resolveAfter)) {
      const event = cellEvent(cell, at);
      alerts.flipCell.run(
        event.status === 'firing' ? 1 : 0,
        event.status === 'firing' ? at : null,
        agent,
        cell.row_name,
      );
      queueAlert(alerts.queue, current, event, ms);
    }
  };
  const replaceState = cellWriter(db);
  const insertBatch = db.transaction((batch: readonly IngestItem[]) =>
    batch.map((item): AddReportOutcome => {
      const { report } = item;
      const info = insertReport.run(report.id, report.agent, report.role, report.site, item.receivedAt, item.json);
      if (info.changes !== 1) return { stored: false, agent: agentOfReport.get(report.id)?.agent ?? report.agent };
      const state = agentStateOf(report, Number(info.lastInsertRowid), item.receivedAt, settings.staleAfterMs, {
        cellJson: false,
      });
      if (replaceState(state) && rules) stepAlerts(rules, report.agent, item.receivedAt);
      return { stored: true };
    }),
  );
  return {
    insertBatch: (batch) => insertBatch(batch),
    setAlertRules: (next) => {
      rules = next;
    },
  };
}

/**
 * Moves an agent to a newer report in the caller's transaction, false when it is not newer; its cell rows are
 * replaced only when their digest changed (`digest` false: a schema from before agents.cells_digest and
 * agents.cell_count, while migrating).
 */
export function cellWriter(db: Database.Database, digest = true): (state: AgentState) => boolean {
  const upsertAgent = db.prepare(
    `INSERT INTO agents (agent, seq, report_id, role, site, version, profile, taken_at, interval_s, stale_at${digest ? ', cells_digest, cell_count' : ''})
     VALUES (@agent, @seq, @report_id, @role, @site, @version, @profile, @taken_at, @interval_s, @stale_at${digest ? ', @cells_digest, @cell_count' : ''})
     ON CONFLICT (agent) DO UPDATE SET seq = excluded.seq, report_id = excluded.report_id, role = excluded.role,
       site = excluded.site, version = excluded.version, profile = excluded.profile, taken_at = excluded.taken_at,
       interval_s = excluded.interval_s, stale_at = excluded.stale_at${digest ? ', cells_digest = excluded.cells_digest, cell_count = excluded.cell_count' : ''}
     WHERE agents.seq < excluded.seq`,
  );
  const digestOf = digest
    ? db.prepare<[string], { cells_digest: string }>('SELECT cells_digest FROM agents WHERE agent = ?')
    : null;
  const clear = ['cells', 'control_needs', 'open_seen', 'confirm_needs'].map((table) =>
    db.prepare<[string]>(`DELETE FROM ${table} WHERE agent = ?`),
  );
  const insertCell = db.prepare(
    `INSERT INTO cells (agent, row_name, row_pos, role, site, report_id, rank, needs, results, pass, fail, inconclusive, error, json)
     VALUES (@agent, @row_name, @row_pos, @role, @site, @report_id, @rank, @needs, @results, @pass, @fail, @inconclusive, @error, @json)`,
  );
  const insertNeed = db.prepare(
    'INSERT INTO control_needs (agent, row_name, control, address, results) VALUES (@agent, @row_name, @control, @address, @results)',
  );
  const insertSeen = db.prepare('INSERT INTO open_seen (role, address, agent) VALUES (@role, @address, @agent)');
  const insertConfirm = db.prepare(
    `INSERT INTO confirm_needs (agent, row_name, pos, nonce, role, started_ms, open_rank, shut_rank)
     VALUES (@agent, @row_name, @pos, @nonce, @role, @started_ms, @open_rank, @shut_rank)`,
  );
  return (state) => {
    const cellsDigest = digestOf ? stateDigest(state) : '';
    const before = digestOf?.get(state.agent.agent)?.cells_digest;
    const { cell_count: _cellCount, ...older } = state.agent;
    if (upsertAgent.run(digestOf ? { ...state.agent, cells_digest: cellsDigest } : older).changes === 0) return false;
    if (before === cellsDigest) return true;
    for (const statement of clear) statement.run(state.agent.agent);
    for (const cell of state.cells) insertCell.run(cell);
    for (const need of state.needs) insertNeed.run(need);
    for (const seen of state.seen) insertSeen.run(seen);
    for (const confirm of state.confirms) insertConfirm.run(confirm);
    return true;
  };
}
