// The cell model both stores keep in the same transaction as ingest, and the queries that read it.
//
//   agents         one row per agent: its latest report (by arrival), when its results were taken, when it goes stale
//   cells          one row per (agent, row) of that report: worst verdict, counts. A cell's results and report id are
//                  read from its agent's latest report (agents.seq, agents.report_id): cells.json and cells.report_id
//                  are no longer read (both stores write '' into cells.json); agents.cells_digest says what an
//                  agent's rows in the four tables below hold: a report with the same digest leaves them alone
//   control_needs  each (agent, row, control role, address) a passing negative probe needs seen open
//   open_seen      each (role, address, agent) an agent of that role saw open in its latest report
//   confirm_needs  each result of an agent's latest report that a responder's receipt judges (`confirm: ROLE`)
//   receipts       the nonces responder agents reported (the first receipt of a nonce kept), and responders
//                  their heartbeats: both written by POST /api/v1/receipts, pruned by retention
//   baseline_cells the accepted baseline, one row per cell
//
// A negative probe passes only if an agent of its control role saw its address open: the cell's
// verdict is its stored worst verdict, raised to inconclusive when one of its needs is not in
// open_seen. Both are kept up to date per report, so a read never parses a report. A result naming a
// responder role is left out of its cell's stored counts and judged at read time from confirm_needs,
// receipts and responders, with the rules of judgeConfirmation (core/confirmation.ts).
import { hash } from 'node:crypto';
import type { ProbeResult, RunReport, Summary, Verdict } from '../core/result.js';
import type { MatrixAgent, MatrixCell, MatrixResult, MatrixSummary } from '../core/matrix.js';
import { groupByRow } from '../core/rows.js';
import { CLOCK_SKEW_MS, confirmWindowMs, judgeConfirmation, nonceOf } from '../core/confirmation.js';
import type { HeldReceipt, ResponderHeartbeat } from '../core/confirmation.js';
import { judge } from '../core/verdict.js';

/** Verdicts from best to worst, by rank. */
export const VERDICT_BY_RANK: readonly Verdict[] = ['pass', 'inconclusive', 'fail', 'error'];
const RANK: Record<Verdict, number> = { pass: 0, inconclusive: 1, fail: 2, error: 3 };

/** The column types the two SQL dialects spell differently. */
export interface SqlDialect {
  /** An integer key that numbers rows in insertion order. */
  serial: string;
  /** Raw bytes. */
  bytes: string;
}
export const SQLITE_DIALECT: SqlDialect = { serial: 'INTEGER', bytes: 'BLOB' };
export const POSTGRES_DIALECT: SqlDialect = { serial: 'BIGSERIAL', bytes: 'BYTEA' };

/** SQL of the first schema (version 1): reports, tokens and the baseline, in a dialect's types. */
export function firstSchema(dialect: SqlDialect): string {
  return `CREATE TABLE reports (
     seq ${dialect.serial} PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     agent TEXT NOT NULL,
     role TEXT,
     site TEXT,
     received_at TEXT NOT NULL,
     json TEXT NOT NULL
   );
   CREATE INDEX reports_agent_seq ON reports (agent, seq);
   CREATE INDEX reports_received_at ON reports (received_at);
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     kind TEXT NOT NULL CHECK (kind IN ('agent', 'viewer')),
     agent TEXT,
     role TEXT,
     hash ${dialect.bytes} NOT NULL,
     created_at TEXT NOT NULL,
     revoked_at TEXT,
     CHECK ((kind = 'agent') = (agent IS NOT NULL AND role IS NOT NULL))
   );
   CREATE TABLE baseline (
     singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
     json TEXT NOT NULL,
     accepted_at TEXT NOT NULL,
     accepted_by TEXT
   );`;
}

/** SQL of the cell schema, the same text for SQLite and PostgreSQL. */
export const CELL_SCHEMA = `
  CREATE TABLE agents (
    agent TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    report_id TEXT NOT NULL,
    role TEXT,
    site TEXT,
    version TEXT NOT NULL,
    profile TEXT,
    taken_at TEXT NOT NULL,
    interval_s DOUBLE PRECISION,
    stale_at BIGINT
  );
  CREATE TABLE cells (
    agent TEXT NOT NULL,
    row_name TEXT NOT NULL,
    row_pos INTEGER NOT NULL,
    role TEXT,
    site TEXT,
    report_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    needs INTEGER NOT NULL,
    results INTEGER NOT NULL,
    pass INTEGER NOT NULL,
    fail INTEGER NOT NULL,
    inconclusive INTEGER NOT NULL,
    error INTEGER NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (agent, row_name)
  );
  CREATE INDEX cells_row ON cells (row_name, (role IS NULL), role, agent, row_pos);
  CREATE INDEX cells_rank ON cells (rank, needs);
  CREATE INDEX cells_role ON cells (role);
  CREATE INDEX cells_order ON cells ((role IS NULL), role, agent, row_pos);
  CREATE TABLE control_needs (
    agent TEXT NOT NULL,
    row_name TEXT NOT NULL,
    control TEXT NOT NULL,
    address TEXT NOT NULL,
    results INTEGER NOT NULL,
    PRIMARY KEY (agent, row_name, control, address)
  );
  CREATE INDEX control_needs_address ON control_needs (control, address);
  CREATE TABLE open_seen (
    role TEXT NOT NULL,
    address TEXT NOT NULL,
    agent TEXT NOT NULL,
    PRIMARY KEY (role, address, agent)
  );
  CREATE INDEX open_seen_agent ON open_seen (agent);
  CREATE TABLE baseline_cells (
    agent TEXT NOT NULL,
    row_name TEXT NOT NULL,
    verdict TEXT NOT NULL,
    PRIMARY KEY (agent, row_name)
  );`;

/** SQL of the receipt tables (schema version 3), the same text for SQLite and PostgreSQL. */
export const RECEIPT_SCHEMA = `
  CREATE TABLE confirm_needs (
    agent TEXT NOT NULL,
    row_name TEXT NOT NULL,
    pos INTEGER NOT NULL,
    nonce TEXT NOT NULL,
    role TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    open_rank INTEGER NOT NULL,
    shut_rank INTEGER NOT NULL,
    PRIMARY KEY (agent, row_name, pos)
  );
  CREATE TABLE receipts (
    nonce TEXT PRIMARY KEY,
    responder TEXT NOT NULL,
    role TEXT NOT NULL,
    source TEXT NOT NULL,
    source_port INTEGER NOT NULL,
    port INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    received_at TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    copies INTEGER NOT NULL,
    stored_ms BIGINT NOT NULL
  );
  CREATE INDEX receipts_stored ON receipts (stored_ms);
  CREATE TABLE responders (
    agent TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    last_report_at TEXT NOT NULL,
    last_ms BIGINT NOT NULL,
    interval_s INTEGER NOT NULL,
    posts BIGINT NOT NULL
  );
  CREATE INDEX responders_role ON responders (role, last_ms);`;

/**
 * agents.cells_digest (schema version 6): the digest of what the agent's rows in cells, control_needs, open_seen and
 * confirm_needs hold (stateDigest). A newer report with the same digest leaves those rows as they are.
 */
export const CELLS_DIGEST_SCHEMA = "ALTER TABLE agents ADD COLUMN cells_digest TEXT NOT NULL DEFAULT '';";

/**
 * What an agent's cell rows hold, as one SHA-256 (base64): every column of its rows in cells, control_needs,
 * open_seen and confirm_needs, so that two reports with the same digest have the same rows (a column added to
 * a row type counts without more ado). The cells' report_id and json are left out: not read (a cell's results
 * and report id come from the agent's latest report), and the report id changes with every report.
 */
export function stateDigest(state: AgentState): string {
  const values: unknown[] = [];
  addDigestValues(values, state.cells, 'report_id');
  addDigestValues(values, state.needs, '');
  addDigestValues(values, state.seen, '');
  addDigestValues(values, state.confirms, '');
  // One call, no Hash object: code that inlines one was deoptimized at every full GC (its map gone with its last instance).
  return hash('sha256', JSON.stringify(values), 'base64');
}

/**
 * The rows' count and every column of each row but `skip` and json, onto `values`. A function of the module, not a
 * closure made per digest: V8 drops the optimized code of such a closure at every full GC and compiles it again.
 */
function addDigestValues(values: unknown[], rows: readonly object[], skip: string): void {
  values.push(rows.length);
  for (const row of rows)
    for (const key in row) if (key !== skip && key !== 'json') values.push((row as Record<string, unknown>)[key]);
}

/**
 * SQL of the kept counts (schema version 7), the same text for SQLite and PostgreSQL: the last whole-matrix
 * count (MatrixWhole as JSON), the state it counted (matrixVersion), when (as_of) and how long it took. Served
 * at once, also on the first view after a start, while a newer count runs (count-keeper.ts).
 */
export const COUNTS_SCHEMA = `
  CREATE TABLE matrix_counts (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    version TEXT NOT NULL,
    as_of TEXT NOT NULL,
    counted_ms INTEGER NOT NULL,
    json TEXT NOT NULL
  );`;

/** Keep a count unless a newer one (by as_of) is already kept: parameters version, as_of, counted_ms, json. */
export const SAVE_COUNTS_SQL = `INSERT INTO matrix_counts (singleton, version, as_of, counted_ms, json) VALUES (1, ?, ?, ?, ?)
  ON CONFLICT (singleton) DO UPDATE SET version = excluded.version, as_of = excluded.as_of,
    counted_ms = excluded.counted_ms, json = excluded.json
  WHERE excluded.as_of > matrix_counts.as_of`;

/** Agents in matrix order: by role (no role last), then name; agents_order (schema version 8) keeps them so. */
const AGENT_ORDER_SQL = 'CASE WHEN role IS NULL THEN 1 ELSE 0 END';

/**
 * agents.cell_count (schema version 8), the same text for SQLite and PostgreSQL: each agent's number of cells rows,
 * written with them, so that the whole matrix's cell total (an unfiltered page's `total`) is a sum over the agents
 * instead of a count of every cell (2 million at 50,000 agents: most of a matrix request's time while reports
 * arrive). Filled from the cells on the way. And agents_order: the stale agents first on the overview, the agents
 * of /api/v1/agents and of per-agent metrics read in index order, not sorted.
 */
export const CELL_COUNT_SCHEMA = `ALTER TABLE agents ADD COLUMN cell_count INTEGER NOT NULL DEFAULT 0;
  UPDATE agents SET cell_count = (SELECT COUNT(*) FROM cells c WHERE c.agent = agents.agent);
  CREATE INDEX agents_order ON agents ((${AGENT_ORDER_SQL}), role, agent);`;

/**
 * control_needs_address with the rest of the key: a site's first reports (every need new) checked each need of a
 * batch through the index on (control, address) alone, which a whole site shares, reading every agent's need of that
 * address: 2-10 s per batch of 256 first reports at 5,000 agents on PostgreSQL while its statistics lagged
 * (BENCHMARKS.md 12). With the whole key in it, a lookup through either index reads one entry; the count's
 * anti-join still reads it in (control, address) order.
 */
export const NEEDS_ADDRESS_SCHEMA = `DROP INDEX control_needs_address;
  CREATE INDEX control_needs_address ON control_needs (control, address, agent, row_name);`;

/** A kept count as stored. */
export interface KeptCounts {
  version: string;
  as_of: string;
  counted_ms: number;
  json: string;
}

/** The cells are filled again from each agent's latest report on the way to this version (confirm_needs). */
export const RECEIPT_REFILL =
  'DELETE FROM agents; DELETE FROM cells; DELETE FROM control_needs; DELETE FROM open_seen;';

/** An agents row. */
export interface AgentRow {
  agent: string;
  seq: number;
  report_id: string;
  role: string | null;
  site: string | null;
  version: string;
  profile: string | null;
  taken_at: string;
  interval_s: number | null;
  stale_at: number | null;
  /** How many cells rows the agent has (schema version 8): their sum is the matrix's cell total, without counting. */
  cell_count: number;
}

/** A cells row. */
export interface CellRow {
  agent: string;
  row_name: string;
  row_pos: number;
  role: string | null;
  site: string | null;
  report_id: string;
  rank: number;
  needs: number;
  results: number;
  pass: number;
  fail: number;
  inconclusive: number;
  error: number;
  json: string;
}

/** A control_needs row. */
export interface NeedRow {
  agent: string;
  row_name: string;
  control: string;
  address: string;
  results: number;
}

/** A confirm_needs row: a result's nonce, its responder role, and its verdict ranks if delivered or not. */
export interface ConfirmNeedRow {
  agent: string;
  row_name: string;
  pos: number;
  nonce: string;
  role: string;
  started_ms: number;
  open_rank: number;
  shut_rank: number;
}

/** An open_seen row. */
export interface SeenRow {
  role: string;
  address: string;
  agent: string;
}

/** Everything the cell tables hold for one agent's latest report. */
export interface AgentState {
  agent: AgentRow;
  cells: CellRow[];
  needs: NeedRow[];
  seen: SeenRow[];
  confirms: ConfirmNeedRow[];
}

/** Whether a result's verdict depends on its control role having seen the address open. */
function needsControl(result: ProbeResult): boolean {
  return result.expect === 'blocked' && Boolean(result.control) && result.verdict === 'pass';
}

/** Results older than this are stale whatever interval the agent claims (`--stale-after-hours`'s default). */
export const DEFAULT_STALE_AFTER_MS = 24 * 3_600_000;

/**
 * The cell tables' rows for a report stored with `seq`, received at `receivedAt` (ISO). The agent goes stale
 * two of its intervals after its results were taken, and never later than `staleAfterMs` after.
 */
export function agentStateOf(
  report: RunReport,
  seq: number,
  receivedAt: string,
  staleAfterMs = DEFAULT_STALE_AFTER_MS,
  options: { cellJson?: boolean } = {},
): AgentState {
  // The results' own time, but never later than their arrival: an agent clock running ahead cannot make old results look fresh.
  const taken = Math.min(Date.parse(report.finished_at), Date.parse(receivedAt) || Infinity);
  const interval = report.interval_s;
  const staleAfter = Math.min(
    typeof interval === 'number' && interval > 0 ? 2 * interval * 1000 : Infinity,
    staleAfterMs,
  );
  const hasInterval = Number.isFinite(staleAfter) && Number.isFinite(taken);
  const agent: AgentRow = {
    agent: report.agent,
    seq,
    report_id: report.id,
    role: report.role,
    site: report.site,
    version: report.version,
    profile: report.profile ? JSON.stringify(report.profile) : null,
    taken_at: Number.isFinite(taken) ? new Date(taken).toISOString() : report.finished_at,
    interval_s: typeof interval === 'number' ? interval : null,
    stale_at: hasInterval ? Math.round(taken + staleAfter) : null,
    cell_count: 0,
  };
  const cells: CellRow[] = [];
  const needs = new Map<string, NeedRow>();
  const confirms: ConfirmNeedRow[] = [];
  const { agent: name, role, site, id } = report;
  const cellJson = options.cellJson !== false;
  let pos = 0;
  // Plain counters and literals in one order (no spread, no per-row objects to count in): the ingest path builds
  // this for every report, and what it allocates the scavenger has to sweep. No closure either: V8 drops the
  // optimized code of a closure made per call when a full GC finds none alive, and compiles it again.
  for (const [row, results] of groupByRow(report.results)) {
    let pass = 0;
    let fail = 0;
    let inconclusive = 0;
    let error = 0;
    let rank = 0;
    let needing = 0;
    for (const result of results) {
      const confirm = confirmNeedOf(result);
      if (confirm) {
        // Judged at read time: kept out of the stored counts and rank.
        confirms.push({ agent: name, row_name: row, pos: confirms.length, ...confirm });
        continue;
      }
      let verdict = result.verdict;
      if (needsControl(result)) {
        const address = result.target.address;
        if (address === null) {
          // No address to match: nobody can have seen it open.
          verdict = 'inconclusive';
        } else {
          needing++;
          const key = `${row}\n${result.control}\n${address}`;
          const need = needs.get(key);
          if (need) need.results++;
          else needs.set(key, { agent: name, row_name: row, control: result.control!, address, results: 1 });
        }
      }
      if (verdict === 'pass') pass++;
      else if (verdict === 'fail') fail++;
      else if (verdict === 'inconclusive') inconclusive++;
      else error++;
      rank = Math.max(rank, RANK[verdict]);
    }
    cells.push({
      agent: name,
      row_name: row,
      row_pos: pos++,
      role,
      site,
      report_id: id,
      rank,
      needs: needing,
      results: results.length,
      pass,
      fail,
      inconclusive,
      error,
      // Not read any more (a cell's results come from its agent's report); a store that still fills the column asks.
      json: cellJson ? JSON.stringify(results) : '',
    });
  }
  agent.cell_count = cells.length;
  const seen = new Map<string, SeenRow>();
  if (role !== null) {
    for (const seer of role.split('+')) {
      for (const result of report.results) {
        const address = result.target.address;
        if (result.state !== 'open' || address === null) continue;
        const key = `${seer}\n${address}`;
        if (!seen.has(key)) seen.set(key, { role: seer, address, agent: name });
      }
    }
  }
  return { agent, cells, needs: [...needs.values()], seen: [...seen.values()], confirms };
}

/** What a result naming a responder role needs judged, as judgeConfirmation would; undefined when nothing. */
function confirmNeedOf(result: ProbeResult): Omit<ConfirmNeedRow, 'agent' | 'row_name' | 'pos'> | undefined {
  // The cheap tests first: most results name no responder role.
  if (!result.confirm || (result.state !== 'open' && result.state !== 'filtered')) return undefined;
  const nonce = nonceOf(result);
  if (nonce === undefined) return undefined;
  const started = Date.parse(result.started_at);
  if (!Number.isFinite(started)) return undefined;
  return {
    nonce,
    role: result.confirm,
    started_ms: started,
    open_rank: RANK[judge(result.expect, 'open', result.check)],
    shut_rank: RANK[judge(result.expect, 'filtered')],
  };
}

/** Runs a read-only query with `?` placeholders on the store's database. */
export type ReadQuery = <T>(sql: string, parameters: ReadonlyArray<string | number | null>) => Promise<T[]>;

/** Which cells a matrix request wants, and which page of them. */
export interface CellFilter {
  site?: string | undefined;
  role?: string | undefined;
  row?: string | undefined;
  agent?: string | undefined;
  verdict?: Verdict | undefined;
  stale?: boolean | undefined;
  drift?: boolean | undefined;
  offset: number;
  limit: number;
}

/** A cell as the matrix API lists it: no results (they come from their own route), their counts instead. */
export interface CellSummary extends Omit<MatrixCell, 'results'> {
  report_id: string;
  counts: Summary;
  /** The judged results, only when asked for (`?results=true`). */
  results?: MatrixResult[];
}

/** One page of the matrix. */
export interface MatrixPageData {
  site: string | null;
  rows: string[];
  agents: MatrixAgent[];
  cells: CellSummary[];
  drift_count: number;
  vanished?: Array<{ agent: string; row: string; baseline: string }>;
  summary: MatrixSummary;
  page: { offset: number; limit: number; total: number; next_offset: number | null };
}

/** Baseline cells listed as vanished at most; the count is always whole. */
const VANISHED_LISTED = 1000;
/** Agents named per control result. */
const SEEN_BY_NAMES = 3;

/** Where the judged SQL names the confirmation window; the store puts its own (withConfirmWindow) before running it. */
const CONFIRM_WINDOW_SQL = '{confirm_window_ms}';

/**
 * The SQL with the store's confirmation window (ms, `--confirm-window`) in place of CONFIRM_WINDOW_SQL: a
 * whole number checked within its bounds, so the text stays one statement per window (cached as such).
 */
export function withConfirmWindow(sql: string, windowMs: number): string {
  return sql.includes(CONFIRM_WINDOW_SQL) ? sql.replaceAll(CONFIRM_WINDOW_SQL, String(confirmWindowMs(windowMs))) : sql;
}

/**
 * Each confirm need's judged rank (`jr`) with `?` = now (ms), of the needs `where` (on `q`) selects: delivered when a receipt of its nonce from its
 * role came within the window; not delivered when a fresh responder of its role reported after the window.
 * The window is CONFIRM_WINDOW_SQL, which the store replaces (withConfirmWindow).
 */
const confirmSql = (where: string): string => `(SELECT n.agent, n.row_name, MAX(n.jr) AS crank,
      SUM(CASE WHEN n.jr = 0 THEN 1 ELSE 0 END) AS cpass, SUM(CASE WHEN n.jr = 1 THEN 1 ELSE 0 END) AS cinc,
      SUM(CASE WHEN n.jr = 2 THEN 1 ELSE 0 END) AS cfail, SUM(CASE WHEN n.jr = 3 THEN 1 ELSE 0 END) AS cerr
    FROM (SELECT q.agent, q.row_name, CASE
            WHEN EXISTS (SELECT 1 FROM receipts r WHERE r.nonce = q.nonce AND r.role = q.role
                           AND r.received_ms >= q.started_ms - ${CLOCK_SKEW_MS}
                           AND r.received_ms <= q.started_ms + ${CONFIRM_WINDOW_SQL}) THEN q.open_rank
            WHEN EXISTS (SELECT 1 FROM responders p WHERE p.role = q.role
                           AND p.last_ms >= q.started_ms + ${CONFIRM_WINDOW_SQL}
                           AND ? - p.last_ms <= 2000 * p.interval_s) THEN q.shut_rank
            ELSE 1 END AS jr
          FROM confirm_needs q ${where}) n
    GROUP BY n.agent, n.row_name)`;

const VERDICT_SQL = `CASE x.vrank WHEN 0 THEN 'pass' WHEN 1 THEN 'inconclusive' WHEN 2 THEN 'fail' ELSE 'error' END`;

/**
 * The judged cells as a subquery `x`: every column of cells, `unmet` (results whose control is not
 * seen), the confirm results' judged counts (`cpass` ...), `vrank` (the judged verdict's rank),
 * `stale_at` and the baseline verdict. Its parameters: those of `where`, then now (ms). `page`: `where` limits the
 * cells to one page (see judged).
 */
function judgedCells(where: string, page = false): string {
  // A page: each cell's unmet needs looked up by its key.
  // The filtered (and limited) cells first, so that only those are looked up (not the rows an offset skips).
  return judged(
    `(SELECT c.*, CASE WHEN c.needs = 0 THEN 0 ELSE CAST(COALESCE((
                    SELECT SUM(n.results) FROM control_needs n
                    WHERE n.agent = c.agent AND n.row_name = c.row_name
                      AND ${UNSEEN}), 0) AS INTEGER)
                  END AS unmet
                FROM (SELECT * FROM cells c ${where}) c) j`,
    '',
    page,
  );
}

/** A control need no agent of its control role saw open. */
const UNSEEN = 'NOT EXISTS (SELECT 1 FROM open_seen o WHERE o.role = n.control AND o.address = n.address)';

/**
 * Every cell judged (same columns and parameters as judgedCells), the unmet needs counted in one grouped pass.
 * With `slice`, only the agents after one name up to another: the parameters of judgedCells with each
 * (after, upTo) pair where the text names it (every table read is limited to the slice's agents).
 */
function allJudgedCells(slice = false): string {
  const of = (alias: string): string => (slice ? `${alias}.agent > ? AND ${alias}.agent <= ?` : '1 = 1');
  return judged(
    `(SELECT c.*, CAST(COALESCE(u.unmet, 0) AS INTEGER) AS unmet FROM cells c
                LEFT JOIN (SELECT n.agent, n.row_name, SUM(n.results) AS unmet FROM control_needs n
                           WHERE ${of('n')} AND ${UNSEEN} GROUP BY n.agent, n.row_name) u
                  ON u.agent = c.agent AND u.row_name = c.row_name
                WHERE ${of('c')}) j`,
    slice ? `WHERE ${of('q')}` : '',
  );
}

/**
 * Judged cells `x` from cells with their unmet needs `j`; `confirmWhere` limits the confirm needs read (on `q`).
 * `page`: a page of cells (at most MATRIX_PAGE.max), whose agents are looked up one cell at a time: joined, the
 * planner hashed every agent (50,000 at a fleet's size: most of a page's time) to match a page's few dozen.
 */
function judged(cellsWithUnmet: string, confirmWhere = '', page = false): string {
  const controlled = 'CASE WHEN j.unmet > 0 AND j.rank < 1 THEN 1 ELSE j.rank END';
  const agent = (column: string): string => `(SELECT a.${column} FROM agents a WHERE a.agent = j.agent)`;
  return `(SELECT j.*, CASE WHEN COALESCE(k.crank, 0) > ${controlled} THEN k.crank ELSE ${controlled} END AS vrank,
            COALESCE(k.cpass, 0) AS cpass, COALESCE(k.cinc, 0) AS cinc, COALESCE(k.cfail, 0) AS cfail,
            COALESCE(k.cerr, 0) AS cerr, ${page ? `${agent('stale_at')} AS stale_at` : 'a.stale_at'},
            ${page ? agent('report_id') : 'a.report_id'} AS current_report, b.verdict AS baseline
          FROM ${cellsWithUnmet}
          ${page ? '' : 'JOIN agents a ON a.agent = j.agent'}
          LEFT JOIN ${confirmSql(confirmWhere)} k ON k.agent = j.agent AND k.row_name = j.row_name
          LEFT JOIN baseline_cells b ON b.agent = j.agent AND b.row_name = j.row_name) x`;
}

/** Stale and drift of a judged cell `x`, given `?` = now (ms) and `?` = 1 when a baseline exists. */
const STALE_SQL = `CASE WHEN x.stale_at IS NOT NULL AND x.stale_at < ? THEN 1 ELSE 0 END`;
const DRIFT_SQL = `CASE WHEN ? = 0 THEN 0 WHEN x.baseline IS NULL OR x.baseline <> ${VERDICT_SQL} THEN 1 ELSE 0 END`;

/** What changes the matrix: the agents' latest reports, the stale set, the baseline. Cheap to read. */
export async function matrixVersion(read: ReadQuery, now: Date): Promise<string> {
  return (await readMatrixState(read, now)).version;
}

/** The state's matrixVersion, and its number of cells (exact: the agents' cell_count summed), in one read of agents. */
export async function readMatrixState(read: ReadQuery, now: Date): Promise<{ version: string; cells: number }> {
  const [state] = await read<{ agents: number; seqs: string | number | null; stale: number; cells: number }>(
    `SELECT CAST(COUNT(*) AS INTEGER) AS agents, CAST(SUM(seq) AS TEXT) AS seqs,
            CAST(SUM(CASE WHEN stale_at IS NOT NULL AND stale_at < ? THEN 1 ELSE 0 END) AS INTEGER) AS stale,
            CAST(COALESCE(SUM(cell_count), 0) AS INTEGER) AS cells
     FROM agents`,
    [now.getTime()],
  );
  const [baseline] = await read<{ accepted_at: string }>('SELECT accepted_at FROM baseline WHERE singleton = 1', []);
  // Every receipt post counts as one of its responder's posts; a responder's freshness changes with time.
  const [receipts] = await read<{ posts: string | number | null; fresh: number }>(
    `SELECT CAST(SUM(posts) AS TEXT) AS posts,
            CAST(SUM(CASE WHEN ? - last_ms <= 2000 * interval_s THEN 1 ELSE 0 END) AS INTEGER) AS fresh
     FROM responders`,
    [now.getTime()],
  );
  return {
    version:
      `${state?.agents ?? 0}.${state?.seqs ?? 0}.${state?.stale ?? 0}.${baseline?.accepted_at ?? '-'}` +
      `.${receipts?.posts ?? 0}.${receipts?.fresh ?? 0}`,
    cells: Number(state?.cells ?? 0),
  };
}

/** How many agents of the state a matrixVersion names were stale (its third field). */
export function staleOfVersion(version: string): number {
  return Number.parseInt(version.split('.')[2] ?? '', 10) || 0;
}

/** How many agents the state a matrixVersion names has (its first field). */
export function agentsOfVersion(version: string): number {
  return Number.parseInt(version, 10) || 0;
}

/** The parts of a matrix that do not depend on the filter: rows in order, site, summary, vanished cells. */
export interface MatrixWhole {
  site: string | null;
  rows: string[];
  summary: MatrixSummary;
  drift_count: number;
  vanished: Array<{ agent: string; row: string; baseline: string }>;
  vanishedCount: number;
  hasBaseline: boolean;
  /** Judged cells per site, role, row and verdict: what the overview and /metrics count. */
  groups: CellGroup[];
}

/** Judged cells of one site, role, row and verdict, with how many are stale and drifted. */
export interface CellGroup {
  site: string | null;
  role: string | null;
  row: string;
  verdict: Verdict;
  cells: number;
  stale: number;
  drift: number;
}

/**
 * Every cell judged once, counted per site, role, row and verdict. With `slices`, in slices of agents with a
 * pause between them (SQLite: the count runs on the event loop, so that ingest gets its turns between slices).
 */
async function readCellGroups(
  read: ReadQuery,
  now: Date,
  hasBaseline: boolean,
  slices?: CountSlices,
): Promise<CellGroup[]> {
  if (!slices)
    return groupsOf(await read<GroupRow>(groupSql(false), [now.getTime(), hasBaseline ? 1 : 0, now.getTime()]));
  const agents = (await read<{ agent: string }>('SELECT agent FROM agents ORDER BY agent', [])).map((row) => row.agent);
  const sums = new Map<string, CellGroup>();
  let size = slices.firstAgents ?? SLICE_FIRST_AGENTS;
  for (let start = 0, after = ''; start < agents.length;) {
    await slices.pause();
    const upTo = agents[Math.min(start + size, agents.length) - 1]!;
    const began = performance.now();
    const rows = await read<GroupRow>(groupSql(true), [
      now.getTime(),
      hasBaseline ? 1 : 0,
      after,
      upTo,
      after,
      upTo,
      now.getTime(),
      after,
      upTo,
    ]);
    // The next slice sized to take about the target time, as this one did.
    const took = Math.max(performance.now() - began, 0.1);
    start += size;
    after = upTo;
    size = Math.max(1, Math.min(SLICE_MAX_AGENTS, Math.round((size * slices.targetMs) / took)));
    for (const group of groupsOf(rows)) {
      const key = `${group.site}\n${group.role}\n${group.row}\n${group.verdict}`;
      const sum = sums.get(key);
      if (!sum) sums.set(key, group);
      else {
        sum.cells += group.cells;
        sum.stale += group.stale;
        sum.drift += group.drift;
      }
    }
  }
  return [...sums.values()];
}

/** How a count runs in slices: a pause between them, and about how long one slice should take (ms). */
export interface CountSlices {
  pause: () => Promise<void>;
  targetMs: number;
  /** Agents in the first slice (SLICE_FIRST_AGENTS by default). */
  firstAgents?: number;
}
/** Agents in the first slice of a sliced count, and in any slice at most. */
const SLICE_FIRST_AGENTS = 50;
const SLICE_MAX_AGENTS = 5000;

interface GroupRow {
  site: string | null;
  role: string | null;
  row_name: string;
  vrank: number;
  cells: number;
  stale: number;
  drift: number;
}

/** The grouped count's SQL, of every cell or (`slice`) of the agents after one name up to another. */
function groupSql(slice: boolean): string {
  return `SELECT x.site, x.role, x.row_name, x.vrank, CAST(COUNT(*) AS INTEGER) AS cells,
            CAST(SUM(${STALE_SQL}) AS INTEGER) AS stale, CAST(SUM(${DRIFT_SQL}) AS INTEGER) AS drift
     FROM ${allJudgedCells(slice)} GROUP BY x.site, x.role, x.row_name, x.vrank`;
}

function groupsOf(rows: GroupRow[]): CellGroup[] {
  return rows.map((row) => ({
    site: row.site,
    role: row.role,
    row: row.row_name,
    verdict: VERDICT_BY_RANK[row.vrank] ?? 'error',
    cells: Number(row.cells),
    stale: Number(row.stale),
    drift: Number(row.drift),
  }));
}

/** Whether a baseline has been accepted. */
export async function readHasBaseline(read: ReadQuery): Promise<boolean> {
  const [baseline] = await read<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM baseline', []);
  return (baseline?.n ?? 0) > 0;
}

/** Read the whole-matrix parts (callers keep them per matrixVersion); `slices`: count in slices of agents. */
export async function readMatrixWhole(read: ReadQuery, now: Date, slices?: CountSlices): Promise<MatrixWhole> {
  const hasBaseline = (await readHasBaseline(read)) ? 1 : 0;
  const groups = await readCellGroups(read, now, hasBaseline === 1, slices);
  await slices?.pause();
  const [agents] = await read<{ agents: number; stale: number }>(
    `SELECT CAST(COUNT(*) AS INTEGER) AS agents,
            CAST(COALESCE(SUM(CASE WHEN stale_at IS NOT NULL AND stale_at < ? THEN 1 ELSE 0 END), 0) AS INTEGER) AS stale
     FROM agents`,
    [now.getTime()],
  );
  const rows = await rowsInOrder(read, new Set(groups.map((group) => group.row)));
  const site = await readSite(read);
  const vanishedRows = hasBaseline
    ? await read<{ agent: string; row_name: string; verdict: string; n: number }>(
        `SELECT b.agent, b.row_name, b.verdict, CAST(COUNT(*) OVER () AS INTEGER) AS n FROM baseline_cells b
         WHERE NOT EXISTS (SELECT 1 FROM cells c WHERE c.agent = b.agent AND c.row_name = b.row_name)
         ORDER BY b.agent, b.row_name LIMIT ?`,
        [VANISHED_LISTED],
      )
    : [];
  const counts: Summary = { pass: 0, fail: 0, inconclusive: 0, error: 0 };
  let cells = 0;
  let drifted = 0;
  for (const group of groups) {
    counts[group.verdict] += group.cells;
    cells += group.cells;
    drifted += group.drift;
  }
  const vanishedCount = vanishedRows[0]?.n ?? 0;
  const driftCount = drifted + vanishedCount;
  return {
    site,
    rows: rows.map((row) => row.row_name),
    summary: {
      ...counts,
      cells,
      rows: rows.length,
      agents: agents?.agents ?? 0,
      stale_agents: agents?.stale ?? 0,
      drift: driftCount,
    },
    drift_count: driftCount,
    vanished: vanishedRows.map((row) => ({ agent: row.agent, row: row.row_name, baseline: row.verdict })),
    vanishedCount,
    hasBaseline: hasBaseline === 1,
    groups,
  };
}

/** Row names read at most by readRowsInOrder (a profile has tens). */
const ROWS_LISTED = 10_000;

/**
 * Every row that has cells, in matrix order, without judging any cell: the names by a loose index scan (one seek
 * per name in cells_row), then each row's first cell (rowsInOrder). For a page served while the first count runs.
 */
export async function readRowsInOrder(read: ReadQuery): Promise<string[]> {
  const names = await read<{ n: string }>(
    `WITH RECURSIVE r (n) AS (
       SELECT MIN(row_name) FROM cells
       UNION ALL SELECT (SELECT MIN(c.row_name) FROM cells c WHERE c.row_name > r.n) FROM r WHERE r.n IS NOT NULL)
     SELECT n FROM r WHERE n IS NOT NULL LIMIT ?`,
    [ROWS_LISTED],
  );
  return (await rowsInOrder(read, new Set(names.map((row) => row.n)))).map((row) => row.row_name);
}

/** The sites of the agents, joined as the matrix names them (null: none). */
export async function readSite(read: ReadQuery): Promise<string | null> {
  const sites = await read<{ site: string }>(
    'SELECT DISTINCT site FROM agents WHERE site IS NOT NULL ORDER BY site',
    [],
  );
  return sites.length === 0 ? null : sites.map((row) => row.site).join(', ');
}

/** The roles of the agents, no role (null) last. */
export async function readRoles(read: ReadQuery): Promise<Array<string | null>> {
  const rows = await read<{ role: string | null }>('SELECT DISTINCT role FROM agents', []);
  return rows.map((row) => row.role).sort((a, b) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1));
}

/**
 * The rows (`names`: every row that has cells) in the order they first appear, agents taken by role (no role
 * last), then name: each row's first cell by one seek in an index.
 */
async function rowsInOrder(read: ReadQuery, names: ReadonlySet<string>): Promise<Array<{ row_name: string }>> {
  const firsts: Array<{ row_name: string; role: string | null; agent: string; row_pos: number }> = [];
  for (const row_name of names) {
    const [first] = await read<{ role: string | null; agent: string; row_pos: number }>(
      'SELECT role, agent, row_pos FROM cells WHERE row_name = ? ORDER BY (role IS NULL), role, agent, row_pos LIMIT 1',
      [row_name],
    );
    if (first) firsts.push({ row_name, ...first });
  }
  return firsts.sort(
    (a, b) =>
      (a.role === null ? 1 : 0) - (b.role === null ? 1 : 0) ||
      compare(a.role ?? '', b.role ?? '') ||
      compare(a.agent, b.agent) ||
      a.row_pos - b.row_pos,
  );
}

interface PageRow {
  agent: string;
  row_name: string;
  role: string | null;
  report_id: string;
  vrank: number;
  unmet: number;
  cpass: number;
  cinc: number;
  cfail: number;
  cerr: number;
  results: number;
  pass: number;
  fail: number;
  inconclusive: number;
  error: number;
  stale: number;
  drift: number;
  baseline: string | null;
  total: number;
}

/** One filtered page of judged cells, sorted by agent (role, then name) and the row's place in its report. */
export async function readCellPage(
  read: ReadQuery,
  filter: CellFilter,
  now: Date,
  hasBaseline: boolean,
  /** The number of every cell, when known (the whole-matrix summary): no count for an unfiltered page. */
  allCells?: number,
): Promise<{ cells: CellSummary[]; total: number }> {
  const inner: string[] = [];
  const innerParameters: Array<string | number> = [];
  for (const [column, value] of [
    ['site', filter.site],
    ['role', filter.role],
    ['row_name', filter.row],
    ['agent', filter.agent],
  ] as const) {
    if (value === undefined) continue;
    inner.push(`c.${column} = ?`);
    innerParameters.push(value);
  }
  const outer: string[] = [];
  const outerParameters: Array<string | number> = [];
  if (filter.verdict !== undefined) {
    outer.push('x.vrank = ?');
    outerParameters.push(RANK[filter.verdict]);
  }
  if (filter.stale !== undefined) {
    outer.push(`${STALE_SQL} = ?`);
    outerParameters.push(now.getTime(), filter.stale ? 1 : 0);
  }
  if (filter.drift !== undefined) {
    outer.push(`${DRIFT_SQL} = ?`);
    outerParameters.push(hasBaseline ? 1 : 0, filter.drift ? 1 : 0);
  }
  const where = inner.length > 0 ? `WHERE ${inner.join(' AND ')}` : '';
  const columns = `x.agent, x.row_name, x.role, x.current_report AS report_id, x.vrank, x.unmet, x.cpass, x.cinc, x.cfail, x.cerr, x.results,
            x.pass, x.fail, x.inconclusive, x.error, x.baseline, ${STALE_SQL} AS stale, ${DRIFT_SQL} AS drift`;
  const order = '(x.role IS NULL), x.role, x.agent, x.row_pos';
  let rows: PageRow[];
  let total: number;
  if (outer.length === 0) {
    // Filters on stored columns only: page through the cells in index order, judge only that page.
    rows = await read<PageRow>(
      `SELECT ${columns}
       FROM ${judgedCells(`${where} ORDER BY (c.role IS NULL), c.role, c.agent, c.row_pos LIMIT ? OFFSET ?`, true)}
       ORDER BY ${order}`,
      [now.getTime(), hasBaseline ? 1 : 0, ...innerParameters, filter.limit, filter.offset, now.getTime()],
    );
    if (where === '' && allCells !== undefined) total = allCells;
    else {
      const [count] = await read<{ n: number }>(
        `SELECT CAST(COUNT(*) AS INTEGER) AS n FROM cells c ${where}`,
        innerParameters,
      );
      total = count?.n ?? 0;
    }
  } else {
    // A filter on the judged verdict, staleness or drift: judge every cell the stored filters leave.
    rows = await read<PageRow>(
      `SELECT ${columns}, CAST(COUNT(*) OVER () AS INTEGER) AS total
       FROM ${judgedCells(where)} WHERE ${outer.join(' AND ')}
       ORDER BY ${order} LIMIT ? OFFSET ?`,
      [
        now.getTime(),
        hasBaseline ? 1 : 0,
        ...innerParameters,
        now.getTime(),
        ...outerParameters,
        filter.limit,
        filter.offset,
      ],
    );
    total = rows[0]?.total ?? 0;
  }
  const cells = rows.map((row): CellSummary => {
    const unmet = Number(row.unmet);
    return {
      agent: row.agent,
      role: row.role,
      row: row.row_name,
      verdict: VERDICT_BY_RANK[row.vrank] ?? 'error',
      stale: Number(row.stale) === 1,
      drift: Number(row.drift) === 1,
      ...(row.baseline !== null ? { baseline: row.baseline } : {}),
      report_id: row.report_id,
      counts: {
        pass: row.pass - unmet + Number(row.cpass),
        fail: row.fail + Number(row.cfail),
        inconclusive: row.inconclusive + unmet + Number(row.cinc),
        error: row.error + Number(row.cerr),
      },
    };
  });
  return { cells, total };
}

/** The agents of some cells, as matrix columns. */
export async function readAgents(read: ReadQuery, names: readonly string[], now: Date): Promise<MatrixAgent[]> {
  const agents: MatrixAgent[] = [];
  // A bounded IN list per query (SQLite allows 32,766 parameters; PostgreSQL 65,535).
  for (let start = 0; start < names.length; start += 1000) {
    const chunk = names.slice(start, start + 1000);
    const rows = await read<AgentRow>(
      `SELECT agent, seq, report_id, role, site, version, profile, taken_at, interval_s, stale_at
       FROM agents WHERE agent IN (${chunk.map(() => '?').join(', ')})`,
      chunk,
    );
    for (const row of rows) agents.push(agentOf(row, now));
  }
  return agents.sort(
    (a, b) =>
      (a.role === null ? 1 : 0) - (b.role === null ? 1 : 0) ||
      compare(a.role ?? '', b.role ?? '') ||
      compare(a.name, b.name),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function agentOf(row: AgentRow, now: Date): MatrixAgent {
  const staleAt = row.stale_at === null ? null : Number(row.stale_at);
  return {
    name: row.agent,
    role: row.role,
    version: row.version,
    profile: row.profile === null ? null : (JSON.parse(row.profile) as MatrixAgent['profile']),
    last_report_at: row.taken_at,
    stale: staleAt !== null && staleAt < now.getTime(),
    ...(row.interval_s === null ? {} : { interval_s: Number(row.interval_s) }),
    report_id: row.report_id,
  };
}

/** Every agent, for /api/v1/agents (a few hundred bytes each). */
export async function readAllAgents(read: ReadQuery, now: Date, limit = 1_000_000_000): Promise<MatrixAgent[]> {
  const rows = await read<AgentRow>(
    `SELECT agent, seq, report_id, role, site, version, profile, taken_at, interval_s, stale_at FROM agents
     ORDER BY ${AGENT_ORDER_SQL}, role, agent LIMIT ?`,
    [limit],
  );
  return rows.map((row) => agentOf(row, now));
}

/**
 * The judged results of some cells: negative probes get who saw their address open (the first few
 * and the count) and turn inconclusive when nobody of the control role did. Null for an unknown cell.
 */
export async function readCellResults(
  read: ReadQuery,
  cells: ReadonlyArray<{ agent: string; row: string }>,
  now: Date,
  /** The store's confirmation window (Store.confirmWindowMs), as the SQL judges with it. */
  windowMs: number,
): Promise<Array<MatrixResult[] | null>> {
  const respondersCache = new Map<string, ResponderHeartbeat[]>();
  const respondersOf = async (role: string): Promise<ResponderHeartbeat[]> => {
    let responders = respondersCache.get(role);
    if (!responders) {
      // The freshest few are enough to judge and to name (judgeConfirmation looks for one covering the window).
      const rows = await read<{ agent: string; role: string; last_report_at: string; interval_s: number }>(
        `SELECT agent, role, last_report_at, interval_s FROM responders WHERE role = ?
         ORDER BY CASE WHEN ? - last_ms <= 2000 * interval_s THEN 0 ELSE 1 END, last_ms DESC LIMIT ?`,
        [role, now.getTime(), SEEN_BY_NAMES],
      );
      responders = rows.map((row) => ({ ...row, interval_s: Number(row.interval_s) }));
      respondersCache.set(role, responders);
    }
    return responders;
  };
  const confirmed = async (result: ProbeResult): Promise<MatrixResult> => {
    const nonce = nonceOf(result);
    const [receipt] = nonce
      ? await read<HeldReceipt>(
          `SELECT nonce, protocol, source, source_port, port, received_at, copies, responder, role
           FROM receipts WHERE nonce = ?`,
          [nonce],
        )
      : [];
    const held = receipt && {
      ...receipt,
      source_port: Number(receipt.source_port),
      port: Number(receipt.port),
      copies: Number(receipt.copies),
    };
    const responders = result.confirm ? await respondersOf(result.confirm) : [];
    const joined = judgeConfirmation(result, held, responders, now, windowMs);
    return joined.verdict === result.verdict ? joined : { ...joined, reported_verdict: result.verdict };
  };
  const seenCache = new Map<string, { names: string[]; count: number }>();
  const seenBy = async (role: string, address: string): Promise<{ names: string[]; count: number }> => {
    const key = `${role}\n${address}`;
    let seen = seenCache.get(key);
    if (!seen) {
      const rows = await read<{ agent: string; n: number }>(
        `SELECT agent, CAST(COUNT(*) OVER () AS INTEGER) AS n FROM open_seen WHERE role = ? AND address = ?
         ORDER BY agent LIMIT ?`,
        [role, address, SEEN_BY_NAMES],
      );
      seen = { names: rows.map((row) => row.agent), count: rows[0]?.n ?? 0 };
      seenCache.set(key, seen);
    }
    return seen;
  };
  // A cell's results are its row's in its agent's latest report (cells come in agent order: one report parsed at a time).
  let latest: { agent: string; rows: Map<string, ProbeResult[]> | null } | undefined;
  const resultsOf = async (agent: string, row: string): Promise<ProbeResult[] | undefined> => {
    if (latest?.agent !== agent) {
      const [report] = await read<{ json: string }>(
        'SELECT r.json FROM agents a JOIN reports r ON r.seq = a.seq WHERE a.agent = ?',
        [agent],
      );
      latest = { agent, rows: report ? groupByRow((JSON.parse(report.json) as RunReport).results) : null };
    }
    return latest.rows?.get(row);
  };
  const out: Array<MatrixResult[] | null> = [];
  for (const { agent, row } of cells) {
    const results = await resultsOf(agent, row);
    if (!results) {
      out.push(null);
      continue;
    }
    const judged: MatrixResult[] = [];
    for (const result of results) {
      if (result.confirm) {
        judged.push(await confirmed(result));
        continue;
      }
      if (result.expect !== 'blocked' || !result.control) {
        judged.push(result);
        continue;
      }
      const seen =
        result.target.address === null ? { names: [], count: 0 } : await seenBy(result.control, result.target.address);
      const one: MatrixResult = { ...result, control_seen_by: seen.names, control_seen_count: seen.count };
      if (result.verdict === 'pass' && seen.names.length === 0) {
        one.verdict = 'inconclusive';
        one.reported_verdict = result.verdict;
      }
      judged.push(one);
    }
    out.push(judged);
  }
  return out;
}

/** Agents and stale agents per site and role (for /metrics). */
export async function readAgentCounts(
  read: ReadQuery,
  now: Date,
): Promise<Array<{ site: string | null; role: string | null; agents: number; stale: number }>> {
  return read(
    `SELECT site, role, CAST(COUNT(*) AS INTEGER) AS agents,
            CAST(SUM(CASE WHEN stale_at IS NOT NULL AND stale_at < ? THEN 1 ELSE 0 END) AS INTEGER) AS stale
     FROM agents GROUP BY site, role`,
    [now.getTime()],
  );
}

/** The first `limit` agents (by role, then name) and their judged cells, for per-agent metrics. */
export async function readAgentCells(
  read: ReadQuery,
  limit: number,
  now: Date,
): Promise<Array<{ agent: string; role: string | null; row: string; verdict: Verdict }>> {
  const rows = await read<{ agent: string; role: string | null; row_name: string; vrank: number }>(
    `SELECT x.agent, x.role, x.row_name, x.vrank FROM ${judgedCells(
      `WHERE c.agent IN (SELECT agent FROM agents ORDER BY ${AGENT_ORDER_SQL}, role, agent LIMIT ?)`,
    )}`,
    [limit, now.getTime()],
  );
  return rows.map((row) => ({
    agent: row.agent,
    role: row.role,
    row: row.row_name,
    verdict: VERDICT_BY_RANK[row.vrank] ?? 'error',
  }));
}

/** Stale agents first (up to `limit`), by role and name. */
export async function readStaleAgents(read: ReadQuery, now: Date, limit: number): Promise<MatrixAgent[]> {
  const rows = await read<AgentRow>(
    `SELECT agent, seq, report_id, role, site, version, profile, taken_at, interval_s, stale_at FROM agents
     WHERE stale_at IS NOT NULL AND stale_at < ?
     ORDER BY ${AGENT_ORDER_SQL}, role, agent LIMIT ?`,
    [now.getTime(), limit],
  );
  return rows.map((row) => agentOf(row, now));
}

/** Every cell's judged verdict, to accept as the baseline. */
export async function readCellVerdicts(
  read: ReadQuery,
  now: Date,
): Promise<Array<{ agent: string; row: string; verdict: Verdict }>> {
  const rows = await read<{ agent: string; row_name: string; vrank: number }>(
    `SELECT x.agent, x.row_name, x.vrank FROM ${judgedCells('')}`,
    [now.getTime()],
  );
  return rows.map((row) => ({ agent: row.agent, row: row.row_name, verdict: VERDICT_BY_RANK[row.vrank] ?? 'error' }));
}

/** 1 when a judged cell `x` differs from the accepted baseline (or is not in it), 0 when not or without a baseline. */
const DRIFTED_SQL = `CASE WHEN NOT EXISTS (SELECT 1 FROM baseline) THEN 0 WHEN x.baseline IS NULL OR x.baseline <> ${VERDICT_SQL} THEN 1 ELSE 0 END`;

/**
 * One step of the alerts' hysteresis (alert-store.ts) for the cells `where` selects, in the ingest
 * transaction: a judged cell that drifts adds one to its drift run and zeroes its pass run, one that
 * matches the baseline the other way round. Parameters: those of `where`, then now (ms).
 */
export function driftStepSql(where: string): string {
  return `INSERT INTO alert_cells (agent, row_name, role, site, drift_run, pass_run, firing, verdict, baseline, since)
    SELECT x.agent, x.row_name, x.role, x.site, ${DRIFTED_SQL}, 1 - ${DRIFTED_SQL}, 0, ${VERDICT_SQL}, x.baseline, NULL
    FROM ${judgedCells(where)} WHERE 1 = 1
    ON CONFLICT (agent, row_name) DO UPDATE SET
      drift_run = CASE WHEN excluded.drift_run = 1 THEN alert_cells.drift_run + 1 ELSE 0 END,
      pass_run = CASE WHEN excluded.drift_run = 1 THEN 0 ELSE alert_cells.pass_run + 1 END,
      role = excluded.role, site = excluded.site, verdict = excluded.verdict, baseline = excluded.baseline`;
}
