// What both stores keep for alerts, as SQL text they share (schema version 4), and the events they write.
//
//   alert_cells   per (agent, row): consecutive reports that drifted (drift_run) or matched the baseline
//                 (pass_run), whether its drift alert fires and since when; stepped in the ingest transaction
//   alert_agents  per agent: whether its staleness alert fires; flipped by a conditional upsert, so that of
//                 several coordinators sweeping at once only one sees the change
//   alert_outbox  one row per event and webhook: pending until sent, retried with backoff, or given up;
//                 senders claim rows with a lease (and SKIP LOCKED on PostgreSQL)
//
// An event is written once, in the transaction that makes the transition; a restart reads the
// state back and sends nothing again. A firing alert is queued again for Alertmanager-format webhooks
// every `resend` interval (schema version 5: next_resend_ms on alert_cells and alert_agents, claimed by a
// conditional UPDATE, so that of several coordinators only one queues each re-send).

/** When drift and staleness alerts fire and where they go: what the store needs to write events. */
export interface AlertRules {
  /** Consecutive drifted reports of a cell before its alert fires. */
  fireAfter: number;
  /** Consecutive reports matching the baseline before a firing alert resolves. */
  resolveAfter: number;
  /** Whether agents going stale (and fresh again) are events too. */
  stale: boolean;
  /** The webhooks' names: each event is one outbox row per webhook. */
  webhooks: readonly string[];
  /** Firing alerts are queued again for these webhooks every `everyMs` (Alertmanager's resolve_timeout). */
  resend?: { everyMs: number; webhooks: readonly string[] };
}

/** A drift or staleness transition, as queued for the webhooks. */
export interface AlertEvent {
  kind: 'drift' | 'stale';
  status: 'firing' | 'resolved';
  agent: string;
  /** The row, for a drift event. */
  row: string | null;
  role: string | null;
  site: string | null;
  /** The cell's judged verdict now and the baseline's, for a drift event. */
  verdict: string | null;
  baseline: string | null;
  starts_at: string;
  /** When it resolved (resolved events), or until when a re-sent firing alert holds unless sent again. */
  ends_at: string | null;
  /** A firing alert sent again (Alertmanager-format webhooks only); absent on transitions. */
  resend?: true;
}

/** An outbox row a sender claimed. */
export interface Delivery {
  id: number;
  webhook: string;
  event: AlertEvent;
  created_ms: number;
  /** Attempts made before this one. */
  attempts: number;
}

/** What became of a claimed delivery. */
export type DeliveryOutcome =
  | { id: number; result: 'sent' }
  | { id: number; result: 'retry'; next_ms: number; error: string }
  | { id: number; result: 'failed'; error: string };

/** The alert tables, given the column type of an auto-numbered key. */
export function alertSchema(autoId: string): string {
  return `
  CREATE TABLE alert_cells (
    agent TEXT NOT NULL,
    row_name TEXT NOT NULL,
    role TEXT,
    site TEXT,
    drift_run INTEGER NOT NULL,
    pass_run INTEGER NOT NULL,
    firing INTEGER NOT NULL,
    verdict TEXT,
    baseline TEXT,
    since TEXT,
    PRIMARY KEY (agent, row_name)
  );
  CREATE TABLE alert_agents (
    agent TEXT PRIMARY KEY,
    stale INTEGER NOT NULL,
    since TEXT NOT NULL
  );
  CREATE TABLE alert_outbox (
    id ${autoId},
    webhook TEXT NOT NULL,
    event TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    next_ms BIGINT NOT NULL,
    lease_ms BIGINT NOT NULL,
    state TEXT NOT NULL,
    last_error TEXT,
    sent_ms BIGINT
  );
  CREATE INDEX alert_outbox_queue ON alert_outbox (state, webhook, id);`;
}

/** Schema version 5: when a firing alert is next re-sent (NULL: not yet scheduled, or not firing). */
export const RESEND_SCHEMA = `
  ALTER TABLE alert_cells ADD COLUMN next_resend_ms BIGINT;
  ALTER TABLE alert_agents ADD COLUMN next_resend_ms BIGINT;`;

/**
 * A re-sent firing alert holds this many re-send intervals (its endsAt): Alertmanager keeps it firing while
 * re-sends arrive, and resolves it by itself a few missed intervals after the coordinators stop.
 */
export const RESEND_HOLD = 4;

/** Schedule the first re-send of alerts that fire since the last look: parameter next re-send (ms). */
export const ARM_RESEND_SQL = [
  'UPDATE alert_cells SET next_resend_ms = ? WHERE firing = 1 AND next_resend_ms IS NULL',
  'UPDATE alert_agents SET next_resend_ms = ? WHERE stale = 1 AND next_resend_ms IS NULL',
] as const;

/**
 * Claim firing cell alerts whose re-send is due by moving it on; the condition is checked again on the
 * updated row, so a cell claimed by another coordinator meanwhile is not returned. Parameters: next
 * re-send (ms), now (ms), limit, now (ms).
 */
export const CLAIM_CELL_RESENDS_SQL = `UPDATE alert_cells SET next_resend_ms = ?
  WHERE (agent, row_name) IN (SELECT agent, row_name FROM alert_cells WHERE firing = 1 AND next_resend_ms <= ?
      ORDER BY next_resend_ms LIMIT ?)
    AND firing = 1 AND next_resend_ms <= ?
  RETURNING agent, row_name, role, site, firing, verdict, baseline, since`;

/** The same for stale agents still known: parameters as CLAIM_CELL_RESENDS_SQL's. */
export const CLAIM_AGENT_RESENDS_SQL = `UPDATE alert_agents SET next_resend_ms = ?
  WHERE agent IN (SELECT s.agent FROM alert_agents s WHERE s.stale = 1 AND s.next_resend_ms <= ?
      AND EXISTS (SELECT 1 FROM agents a WHERE a.agent = s.agent) ORDER BY s.next_resend_ms LIMIT ?)
    AND stale = 1 AND next_resend_ms <= ?
  RETURNING agent, since,
    (SELECT a.role FROM agents a WHERE a.agent = alert_agents.agent) AS role,
    (SELECT a.site FROM agents a WHERE a.agent = alert_agents.agent) AS site`;

/** A stale agent as CLAIM_AGENT_RESENDS_SQL returns it. */
export interface ResentAgent {
  agent: string;
  since: string;
  role: string | null;
  site: string | null;
}

/** One look for due re-sends at `now`: the statements to run, in order, and the JSON of each claimed alert's event. */
export function resendRound(everyMs: number, now: Date, limit: number) {
  const ms = now.getTime();
  const endsAt = new Date(ms + RESEND_HOLD * everyMs).toISOString();
  const claim = [ms + everyMs, ms, limit, ms];
  return {
    ms,
    arm: ARM_RESEND_SQL.map((sql) => ({ sql, parameters: [ms + everyMs] })),
    claims: [
      { sql: CLAIM_CELL_RESENDS_SQL, parameters: claim },
      { sql: CLAIM_AGENT_RESENDS_SQL, parameters: claim },
    ],
    json: (alert: TurnedCell | ResentAgent) => JSON.stringify(resendEvent(alert, endsAt)),
  };
}

/** The re-sent event of a firing cell alert (from its claimed row) or stale agent, holding until `endsAt`. */
export function resendEvent(alert: TurnedCell | ResentAgent, endsAt: string): AlertEvent {
  const cell = 'row_name' in alert ? alert : null;
  return {
    kind: cell ? 'drift' : 'stale',
    status: 'firing',
    agent: alert.agent,
    row: cell?.row_name ?? null,
    role: alert.role,
    site: alert.site,
    verdict: cell?.verdict ?? null,
    baseline: cell?.baseline ?? null,
    starts_at: alert.since ?? endsAt,
    ends_at: endsAt,
    resend: true,
  };
}

/**
 * The hysteresis step for an agent's cells that its new report no longer has: drifted while the baseline
 * still holds the cell (the matrix counts it as vanished), matching once it does not. Parameters: `where`'s.
 */
export function vanishedStepSql(where: string): string {
  const accepted =
    'EXISTS (SELECT 1 FROM baseline_cells b WHERE b.agent = alert_cells.agent AND b.row_name = alert_cells.row_name)';
  return `UPDATE alert_cells SET
      drift_run = CASE WHEN ${accepted} THEN drift_run + 1 ELSE 0 END,
      pass_run = CASE WHEN ${accepted} THEN 0 ELSE pass_run + 1 END,
      verdict = NULL
    WHERE ${where}
      AND NOT EXISTS (SELECT 1 FROM cells c WHERE c.agent = alert_cells.agent AND c.row_name = alert_cells.row_name)`;
}

/** An alert_cells row whose alert turns: parameters `where`'s, then fireAfter, resolveAfter. */
export function turnedCellsSql(where: string): string {
  return `SELECT agent, row_name, role, site, firing, verdict, baseline, since FROM alert_cells
    WHERE ${where} AND ((firing = 0 AND drift_run >= ?) OR (firing = 1 AND pass_run >= ?))`;
}

/** A cell alert_cells row as turnedCellsSql reads it. */
export interface TurnedCell {
  agent: string;
  row_name: string;
  role: string | null;
  site: string | null;
  firing: number;
  verdict: string | null;
  baseline: string | null;
  since: string | null;
}

/** Parameters: firing (0/1), since, agent, row. A flip drops the scheduled re-send. */
export const FLIP_CELL_SQL =
  'UPDATE alert_cells SET firing = ?, since = ?, next_resend_ms = NULL WHERE agent = ? AND row_name = ?';

/** Parameters: webhook, event JSON, created (ms), next attempt (ms). */
export const QUEUE_SQL = `INSERT INTO alert_outbox (webhook, event, created_ms, attempts, next_ms, lease_ms, state)
  VALUES (?, ?, ?, 0, ?, 0, 'pending')`;

/** Agents whose staleness differs from their alert's: parameters now (ms), limit. */
export const STALE_TURNS_SQL = `SELECT a.agent, a.role, a.site, a.stale_at, COALESCE(s.stale, 0) AS was, s.since
  FROM agents a LEFT JOIN alert_agents s ON s.agent = a.agent
  WHERE CASE WHEN a.stale_at IS NOT NULL AND a.stale_at < ? THEN 1 ELSE 0 END <> COALESCE(s.stale, 0)
  ORDER BY a.agent LIMIT ?`;

/** An agent whose staleness alert turns. */
export interface TurnedAgent {
  agent: string;
  role: string | null;
  site: string | null;
  stale_at: number | string | null;
  was: number;
  since: string | null;
}

/** Flip an agent's staleness alert unless another sweep did: parameters agent, stale (0/1), since. */
export const FLIP_AGENT_SQL = `INSERT INTO alert_agents (agent, stale, since) VALUES (?, ?, ?)
  ON CONFLICT (agent) DO UPDATE SET stale = excluded.stale, since = excluded.since, next_resend_ms = NULL
  WHERE alert_agents.stale <> excluded.stale`;

/**
 * Lease the pending deliveries of webhooks whose oldest pending delivery is due and not leased (so that a
 * webhook's events go out in order): parameters lease end (ms), now (ms), now (ms), now (ms), limit. The
 * lease is checked on each row too: PostgreSQL's FOR UPDATE checks a row that another sender leased and
 * committed meanwhile again against these conditions, so it is skipped rather than leased twice.
 */
export function claimSql(lock: string): string {
  return `UPDATE alert_outbox SET lease_ms = ? WHERE id IN (
    SELECT o.id FROM alert_outbox o WHERE o.state = 'pending' AND o.lease_ms <= ? AND o.webhook IN (
      SELECT h.webhook FROM alert_outbox h WHERE h.state = 'pending' AND h.next_ms <= ? AND h.lease_ms <= ?
        AND h.id = (SELECT MIN(m.id) FROM alert_outbox m WHERE m.webhook = h.webhook AND m.state = 'pending'))
    ORDER BY o.id LIMIT ? ${lock})
  RETURNING id, webhook, event, created_ms, attempts`;
}

/** Parameters: sent (ms), id. */
export const SENT_SQL = `UPDATE alert_outbox SET state = 'sent', attempts = attempts + 1, sent_ms = ?, lease_ms = 0,
  last_error = NULL WHERE id = ?`;
/** Parameters: state (pending or failed), next attempt (ms), error, id. */
export const UNSENT_SQL = `UPDATE alert_outbox SET state = ?, attempts = attempts + 1, next_ms = ?, lease_ms = 0,
  last_error = ? WHERE id = ?`;
/** Parameters: created before (ms). */
export const PRUNE_OUTBOX_SQL = `DELETE FROM alert_outbox WHERE state <> 'pending' AND created_ms < ?`;

/** The event of a cell whose alert turns at `at` (ISO). */
export function cellEvent(cell: TurnedCell, at: string): AlertEvent {
  const firing = Number(cell.firing) === 0;
  return {
    kind: 'drift',
    status: firing ? 'firing' : 'resolved',
    agent: cell.agent,
    row: cell.row_name,
    role: cell.role,
    site: cell.site,
    verdict: cell.verdict,
    baseline: cell.baseline,
    starts_at: firing ? at : (cell.since ?? at),
    ends_at: firing ? null : at,
  };
}

/** The event of an agent whose staleness alert turns at `at` (ISO). */
export function agentEvent(agent: TurnedAgent, at: string): AlertEvent {
  const firing = Number(agent.was) === 0;
  const staleAt = agent.stale_at === null ? at : new Date(Number(agent.stale_at)).toISOString();
  return {
    kind: 'stale',
    status: firing ? 'firing' : 'resolved',
    agent: agent.agent,
    row: null,
    role: agent.role,
    site: agent.site,
    verdict: null,
    baseline: null,
    starts_at: firing ? staleAt : (agent.since ?? at),
    ends_at: firing ? null : at,
  };
}

/** A claimed outbox row as read back from either store. */
export function deliveryOf(row: {
  id: number | string;
  webhook: string;
  event: string;
  created_ms: number | string;
  attempts: number;
}): Delivery {
  return {
    id: Number(row.id),
    webhook: row.webhook,
    event: JSON.parse(row.event) as AlertEvent,
    created_ms: Number(row.created_ms),
    attempts: Number(row.attempts),
  };
}
