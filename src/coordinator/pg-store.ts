import postgres from 'postgres';
import type { RunReport } from '../core/result.js';
import * as cells from './cells.js';
import { UsageError } from '../core/usage-error.js';
import { CONFIRM_WINDOW_MS, confirmWindowMs } from '../core/confirmation.js';
import * as alerts from './alert-store.js';
import * as chain from './baseline-chain.js';
import {
  StoreUnavailableError,
  type AcceptedBaseline,
  type AddReportOutcome,
  type ReceiptPost,
  type Store,
  type StoredReport,
  type TokenRecord,
  type TokenWithHash,
} from './store.js';

/**
 * Report texts compressed with lz4 (a 13 KiB report took 55 µs of server CPU to store against pglz's 90 µs); a
 * server built without lz4 keeps the default, pglz.
 */
const LZ4_REPORTS = `DO $$ BEGIN
  ALTER TABLE reports ALTER COLUMN json SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value OR syntax_error THEN NULL;
END $$;`;

/**
 * Schema migrations of the PostgreSQL store: entry N is version N + 1. Append only; each runs once,
 * in one transaction with its row in reachgate_migrations.
 */
const MIGRATIONS: readonly string[] = [
  cells.firstSchema(cells.POSTGRES_DIALECT),
  cells.CELL_SCHEMA,
  `${cells.RECEIPT_SCHEMA}
   ${cells.RECEIPT_REFILL}`,
  `${chain.CHAIN_SCHEMA}
   ${alerts.alertSchema('BIGSERIAL PRIMARY KEY')}`,
  alerts.RESEND_SCHEMA,
  `${cells.CELLS_DIGEST_SCHEMA}
   ${LZ4_REPORTS}`,
  cells.COUNTS_SCHEMA,
  cells.CELL_COUNT_SCHEMA,
  cells.NEEDS_ADDRESS_SCHEMA,
];
/** Migrating to this version fills the cell tables (with confirm_needs) from each agent's latest report. */
const CELLS_VERSION = 3;

/** The advisory lock key that serializes migrations between coordinators starting at once ("reachgat"). */
const MIGRATION_LOCK = 0x7265616368676174n;
/** The PostgreSQL type of a parameter sent as JSON text (postgres.js serializes it with JSON.stringify). */
const JSON_OID = 114;
/**
 * The planner settings of a whole-matrix count's transaction. The count groups every cell into a few hundred groups
 * (site x role x row x verdict), so hashing is always the right way to group; on tables whose statistics lag (a
 * site's first minutes, before autovacuum analyzes them) the planner expected a group per cell and sorted all of
 * them on disk instead: 450-790 ms for 5,000 agents against 250-300 ms with these (2026-11-30, idle; BENCHMARKS.md
 * 12). The larger work_mem keeps the unmet needs' hash (70,000 groups at 5,000 agents) in memory; one count at a
 * time runs per coordinator.
 */
const COUNT_SETTINGS = "SET LOCAL enable_sort = off; SET LOCAL work_mem = '32MB'";
/** Reports committed in one transaction at most. */
const MAX_BATCH = 256;
/**
 * Transactions of reports in flight at once (each on its own connection). A second one starts only while a whole
 * batch waits (a site's first wave, a backlog after an outage): otherwise the reports that arrive during a commit go
 * together in the next one (group commit). With up to four at once whatever waited, two coordinators at 64 reports in
 * flight committed batches of 8.3 reports on average; one at a time, 15.7, and the CPU per report (coordinators and
 * PostgreSQL together) fell by 10 % (PostgreSQL's by ~20 %), lower in 9 of 10 alternating rounds, the latency
 * unchanged (warm coordinators, idle machine, 2026-12-01; BENCHMARKS.md 12).
 */
const MAX_FLUSHES = 4;
/** Reports deleted per retention statement, so that ingest never waits long behind it. */
const PRUNE_BATCH = 500;
/** Attempts of an accept whose link another coordinator's accept took the place of (a unique violation). */
const ACCEPT_ATTEMPTS = 5;
/** Firing alerts of each kind re-queued at most per look (the rest in the next). */
const RESEND_BATCH = 1000;
/** Agents whose staleness alert turns, at most, per sweep (the rest in the next). */
const SWEEP_BATCH = 1000;
/** The alerts' hysteresis step and the cells that turn, for the agents of an ingest batch. */
const STEP_SQL = numbered(cells.driftStepSql('WHERE c.agent = ANY(?::text[])'));
const VANISHED_SQL = numbered(alerts.vanishedStepSql('agent = ANY(?::text[])'));
const TURNED_SQL = numbered(alerts.turnedCellsSql('agent = ANY(?::text[])'));
/** Connection errors (node and postgres.js codes) and server states that mean: try again later. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '53300', // too_many_connections
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

/**
 * A report waiting for its batch's commit: only what the transaction writes (the text, the agent row, the cells'
 * digest), not the parsed report, so that the requests waiting for a commit keep little alive for the scavenger to
 * copy. The cell rows are built again from the text in the rare batch where an agent's cells change.
 */
interface PendingReport {
  id: string;
  agent: cells.AgentRow;
  site: string | null;
  json: string;
  receivedAt: string;
  digest: string;
  resolve: (outcome: AddReportOutcome) => void;
  reject: (error: unknown) => void;
}

type Sql = postgres.Sql;

/** Whether a failure means the database is unreachable or restarting (503), not a fault (500). */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  // Class 08: connection exception; 57P0x: the server is shutting down or starting.
  return UNAVAILABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('57P');
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/** Options of the PostgreSQL store. */
export interface PgStoreOptions {
  /** Connections in the pool (default 10). */
  max?: number;
  /** Results older than this are stale whatever interval the agent claims. */
  staleAfterMs?: number;
  /** How long after a probe started its nonce's receipt counts (ms; CONFIRM_WINDOW_MS when not given). */
  confirmWindowMs?: number;
}

/**
 * The PostgreSQL store: any number of coordinators may share one database. Reports are written
 * in group-commit batches (one multi-row INSERT … ON CONFLICT (id) DO NOTHING per transaction)
 * and acknowledged after the commit. Nothing is cached: tokens and the baseline are read on each
 * request, so that a change through one coordinator holds for all at once. A lost connection
 * makes a call fail with StoreUnavailableError (the server answers 503); the pool reconnects on
 * the next call.
 */
export class PgStore implements Store {
  /** The schema version this reachgate brings a database to. */
  static readonly schemaVersion = MIGRATIONS.length;
  readonly url: string;
  readonly confirmWindowMs: number;
  private readonly sql: Sql;
  private queue: PendingReport[] = [];
  private flushes = 0;
  private flushScheduled = false;
  private tokenLookups = new Map<
    string,
    Array<{ resolve: (token: TokenWithHash | null) => void; reject: (error: unknown) => void }>
  >();
  private closed = false;
  private alertRules: alerts.AlertRules | null = null;

  private constructor(
    url: string,
    sql: Sql,
    private readonly staleAfterMs: number,
    windowMs: number,
  ) {
    this.url = url;
    this.confirmWindowMs = windowMs;
    this.sql = sql;
  }

  /** Connect, bring the schema up to date (once, whatever other coordinators do at the same time). */
  static async open(url: string, options: PgStoreOptions = {}): Promise<PgStore> {
    const windowMs = confirmWindowMs(options.confirmWindowMs ?? CONFIRM_WINDOW_MS);
    const sql = connect(url, options.max ?? 10);
    try {
      await migrate(sql);
    } catch (error) {
      await sql.end({ timeout: 1 });
      if (error instanceof UsageError) throw error;
      const code = (error as { code?: string }).code;
      const message = (error as Error).message;
      throw new UsageError(
        `cannot open the PostgreSQL database ${redactUrl(url)}: ${code && !message.includes(code) ? `${code} ` : ''}${message}`,
        'Check that the server runs and that the URL, user and database are right (postgres://USER:PASSWORD@HOST:PORT/DB).',
      );
    }
    return new PgStore(url, sql, options.staleAfterMs ?? cells.DEFAULT_STALE_AFTER_MS, windowMs);
  }

  /** Run a query, turning a lost connection into StoreUnavailableError. */
  private async run<T>(what: string, query: (sql: Sql) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('the store is closed');
    try {
      return await query(this.sql);
    } catch (error) {
      if (isConnectionError(error)) {
        const code = (error as { code: string }).code;
        throw new StoreUnavailableError(`PostgreSQL is unavailable (${code}) while ${what}`, { cause: error });
      }
      throw error;
    }
  }

  /** Run one SQL statement with $1… parameters (operators' checks, tests and benchmarks). */
  query<T>(text: string, parameters: Array<string | number | null> = []): Promise<T[]> {
    return this.run('running a query', async (sql) => [...(await sql.unsafe(text, parameters))] as T[]);
  }

  addReport(report: RunReport, json: string, receivedAt: Date): Promise<AddReportOutcome> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    const at = receivedAt.toISOString();
    // The agent row (its seq set once stored) and the digest of the cell rows, which are dropped again at once.
    const state = this.stateOf(report, 0, at);
    const digest = cells.stateDigest(state);
    const { id, site } = report;
    return new Promise((resolve, reject) => {
      this.queue.push({ id, agent: state.agent, site, json, receivedAt: at, digest, resolve, reject });
      this.scheduleFlush();
    });
  }

  private stateOf(report: RunReport, seq: number, receivedAt: string): cells.AgentState {
    return cells.agentStateOf(report, seq, receivedAt, this.staleAfterMs, { cellJson: false });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.queue.length === 0) return;
    if (this.flushes > 0 && (this.flushes >= MAX_FLUSHES || this.queue.length < MAX_BATCH)) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    this.flushes++;
    this.scheduleFlush();
    try {
      const outcomes = await this.run('storing reports', (sql) => this.insertBatch(sql, batch));
      batch.forEach((pending, index) => pending.resolve(outcomes[index]!));
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    } finally {
      this.flushes--;
      this.scheduleFlush();
    }
  }

  /**
   * One transaction for a batch: the reports (multi-row: their short columns from one JSON parameter, each text
   * its own parameter); then one pipeline that locks the batch's agents, reads their cell digests and moves each
   * agent whose newest stored report of the batch is newer than its current one; then, only for the moved agents
   * whose cell digest changed, one pipeline that updates their cell tables. In a steady fleet a report writes its
   * report row and its agent row, and nothing else.
   */
  private insertBatch(sql: Sql, batch: PendingReport[]): Promise<AddReportOutcome[]> {
    // The transaction's body is a method, not a closure made per batch: V8 drops the optimized code of such a
    // closure at every full GC (none of them alive) and compiles it again, some 250 ms of compile each time.
    return sql.begin((tx) => this.writeBatch(tx, batch)) as Promise<AddReportOutcome[]>;
  }

  /**
   * The batch's transaction, in steps that are functions of their own with plain loops: one large body (closures,
   * arrays of varying shapes) took TurboFan 250-600 ms per compile and was deoptimized again and again (wrong map).
   */
  private async writeBatch(tx: postgres.TransactionSql, batch: PendingReport[]): Promise<AddReportOutcome[]> {
    const seqOf = await insertReports(tx, batch);
    const moves = newestOfAgents(batch, seqOf);
    const found = await moveAgents(tx, moves);
    // Only agents whose cells changed get their rows, built again from the stored text (validated before it was queued).
    const changed: cells.AgentState[] = [];
    for (const agent of found.fresh) {
      if (found.before.get(agent) === moves.digests.get(agent)) continue;
      const pending = moves.newest.get(agent)!;
      changed.push(this.stateOf(JSON.parse(pending.json) as RunReport, seqOf.get(pending.id)!, pending.receivedAt));
    }
    if (changed.length > 0) await Promise.all(syncCells(tx, changed));
    const rules = this.alertRules;
    if (rules && found.fresh.length > 0) {
      let at = '';
      for (const pending of batch) if (pending.receivedAt > at) at = pending.receivedAt;
      await stepAlerts(tx, rules, found.fresh, at, this.confirmWindowMs);
    }
    // The first copy of an id in the batch is the one stored; later copies are duplicates.
    const stored = new Set(seqOf.keys());
    const outcomes: AddReportOutcome[] = [];
    for (const { id, agent } of batch)
      outcomes.push(
        stored.delete(id) ? { stored: true } : { stored: false, agent: found.ownerOf.get(id) ?? agent.agent },
      );
    return outcomes;
  }

  getReport(id: string): Promise<StoredReport | null> {
    return this.run('reading a report', async (sql) => {
      const [row] = await sql<StoredReport[]>`
        SELECT id, agent, role, site, received_at, json FROM reports WHERE id = ${id}`;
      return row ?? null;
    });
  }

  /**
   * A cell query (cells.ts), prepared once per connection: the judged-cell queries take PostgreSQL longer to plan
   * (tens of ms) than a page of them takes to run.
   */
  read<T>(text: string, parameters: ReadonlyArray<string | number | null>): Promise<T[]> {
    const query = numbered(cells.withConfirmWindow(text, this.confirmWindowMs));
    return this.run(
      'reading the matrix',
      async (sql) => [...(await sql.unsafe(query, [...parameters], { prepare: true }))] as T[],
    );
  }

  snapshot<T>(work: (read: cells.ReadQuery) => Promise<T>): Promise<T> {
    // One read-only transaction at REPEATABLE READ: every statement sees the snapshot of its first.
    return this.run('counting the matrix', (sql) =>
      sql.begin('isolation level repeatable read read only', async (tx) => {
        await tx.unsafe(COUNT_SETTINGS);
        return work(
          async <R>(text: string, parameters: ReadonlyArray<string | number | null>): Promise<R[]> =>
            [
              ...(await tx.unsafe(numbered(cells.withConfirmWindow(text, this.confirmWindowMs)), [...parameters])),
            ] as R[],
        );
      }),
    ) as Promise<T>;
  }

  async saveCounts(counts: cells.KeptCounts): Promise<void> {
    await this.query(numbered(cells.SAVE_COUNTS_SQL), [counts.version, counts.as_of, counts.counted_ms, counts.json]);
  }

  setAlertRules(rules: alerts.AlertRules | null): void {
    this.alertRules = rules;
  }

  async sweepStale(now: Date): Promise<number> {
    const rules = this.alertRules;
    if (!rules?.stale) return 0;
    const at = now.toISOString();
    return this.run('sweeping stale agents', (sql) =>
      sql.begin(async (tx) => {
        let turned = 0;
        const agents = await tx.unsafe<alerts.TurnedAgent[]>(numbered(alerts.STALE_TURNS_SQL), [
          now.getTime(),
          SWEEP_BATCH,
        ]);
        for (const agent of agents) {
          const event = alerts.agentEvent(agent, at);
          const { count } = await tx.unsafe(numbered(alerts.FLIP_AGENT_SQL), [
            agent.agent,
            event.status === 'firing' ? 1 : 0,
            event.starts_at,
          ]);
          // Another coordinator's sweep flipped it first: its event is queued once, by that sweep.
          if (count === 0) continue;
          await queueEvent(tx, rules, event, now.getTime());
          turned++;
        }
        return turned;
      }),
    ) as Promise<number>;
  }

  async resendFiring(now: Date): Promise<number> {
    const resend = this.alertRules?.resend;
    if (!resend || resend.webhooks.length === 0) return 0;
    const round = alerts.resendRound(resend.everyMs, now, RESEND_BATCH);
    return this.run('re-sending firing alerts', (sql) =>
      sql.begin(async (tx) => {
        for (const { sql: text, parameters } of round.arm) await tx.unsafe(numbered(text), parameters);
        // A row another coordinator claimed meanwhile fails the claim's condition on the locked row: not returned.
        const due: Array<alerts.TurnedCell | alerts.ResentAgent> = [];
        for (const { sql: text, parameters } of round.claims)
          due.push(...(await tx.unsafe<Array<alerts.TurnedCell | alerts.ResentAgent>>(numbered(text), parameters)));
        for (const alert of due)
          for (const webhook of resend.webhooks)
            await tx.unsafe(numbered(alerts.QUEUE_SQL), [webhook, round.json(alert), round.ms, round.ms]);
        return due.length;
      }),
    ) as Promise<number>;
  }

  claimDeliveries(now: Date, limit: number, leaseMs: number): Promise<alerts.Delivery[]> {
    const ms = now.getTime();
    return this.run('claiming alert deliveries', async (sql) => {
      const rows = await sql.unsafe<Array<Parameters<typeof alerts.deliveryOf>[0]>>(
        numbered(alerts.claimSql('FOR UPDATE SKIP LOCKED')),
        [ms + leaseMs, ms, ms, ms, limit],
      );
      return rows.map(alerts.deliveryOf).sort((a, b) => a.id - b.id);
    });
  }

  async settleDeliveries(outcomes: readonly alerts.DeliveryOutcome[], now: Date): Promise<void> {
    await this.run('recording alert deliveries', (sql) =>
      sql.begin(async (tx) => {
        for (const outcome of outcomes) {
          if (outcome.result === 'sent') await tx.unsafe(numbered(alerts.SENT_SQL), [now.getTime(), outcome.id]);
          else
            await tx.unsafe(numbered(alerts.UNSENT_SQL), [
              outcome.result === 'retry' ? 'pending' : 'failed',
              outcome.result === 'retry' ? outcome.next_ms : now.getTime(),
              outcome.error,
              outcome.id,
            ]);
        }
      }),
    );
  }

  async pruneDeliveries(cutoff: Date): Promise<number> {
    const { count } = await this.run('deleting old alert deliveries', (sql) =>
      sql.unsafe(numbered(alerts.PRUNE_OUTBOX_SQL), [cutoff.getTime()]),
    );
    return count;
  }

  pruneReports(cutoff: Date): Promise<number> {
    const before = cutoff.toISOString();
    return this.deleteInBatches(
      'deleting old reports',
      (sql) => sql`
        DELETE FROM reports WHERE seq IN (
          SELECT r.seq FROM reports r
          WHERE r.received_at < ${before} AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.seq = r.seq)
          ORDER BY r.seq LIMIT ${PRUNE_BATCH})`,
    );
  }

  /**
   * Run `remove` (a DELETE of at most PRUNE_BATCH rows) until it deletes fewer, each in a transaction of its own so
   * that ingest never waits long behind it, or the store closes; the rows deleted in all.
   */
  private async deleteInBatches(what: string, remove: (sql: Sql) => Promise<{ count: number }>): Promise<number> {
    let deleted = 0;
    for (;;) {
      const { count } = await this.run(what, remove);
      deleted += count;
      if (count < PRUNE_BATCH || this.closed) return deleted;
    }
  }

  addReceipts(post: ReceiptPost): Promise<number> {
    const at = post.at.getTime();
    const receipts = post.receipts;
    const col = <K extends keyof ReceiptPost['receipts'][number]>(key: K) => receipts.map((receipt) => receipt[key]);
    return this.run('storing receipts', (sql) =>
      sql.begin(async (tx) => {
        await tx`
          INSERT INTO responders (agent, role, last_report_at, last_ms, interval_s, posts)
          VALUES (${post.agent}, ${post.role}, ${post.at.toISOString()}, ${at}, ${post.interval_s}, 1)
          ON CONFLICT (agent) DO UPDATE SET role = excluded.role, last_report_at = excluded.last_report_at,
            last_ms = excluded.last_ms, interval_s = excluded.interval_s, posts = responders.posts + 1`;
        if (receipts.length === 0) return 0;
        const { count } = await tx`
          INSERT INTO receipts (nonce, responder, role, source, source_port, port, protocol, received_at, received_ms, copies, stored_ms)
          SELECT u.nonce, ${post.agent}, ${post.role}, u.source, u.source_port, u.port, u.protocol, u.received_at,
                 u.received_ms, u.copies, ${at}
          FROM unnest(${col('nonce')}::text[], ${col('source')}::text[], ${col('source_port')}::int[],
            ${col('port')}::int[], ${col('protocol') as string[]}::text[], ${col('received_at')}::text[],
            ${receipts.map((receipt) => Date.parse(receipt.received_at))}::bigint[], ${col('copies')}::int[])
            AS u (nonce, source, source_port, port, protocol, received_at, received_ms, copies)
          ORDER BY u.nonce
          ON CONFLICT (nonce) DO NOTHING`;
        return count;
      }),
    ) as Promise<number>;
  }

  async pruneReceipts(cutoff: Date): Promise<number> {
    const deleted = await this.deleteInBatches(
      'deleting old receipts',
      (sql) => sql`
        DELETE FROM receipts WHERE nonce IN (
          SELECT nonce FROM receipts WHERE stored_ms < ${cutoff.getTime()} ORDER BY stored_ms LIMIT ${PRUNE_BATCH})`,
    );
    if (!this.closed)
      await this.run(
        'deleting old responders',
        (sql) => sql`DELETE FROM responders WHERE last_ms < ${cutoff.getTime()}`,
      );
    return deleted;
  }

  async addToken(token: TokenWithHash): Promise<void> {
    await this.run(
      'storing a token',
      (sql) => sql`
      INSERT INTO tokens (id, kind, agent, role, hash, created_at, revoked_at)
      VALUES (${token.id}, ${token.kind}, ${token.agent}, ${token.role}, ${token.hash}, ${token.created_at}, ${token.revoked_at})`,
    );
  }

  /**
   * A token's record as stored now. The lookups of requests that arrive together are answered by one
   * query (no cache: a token revoked through another coordinator is refused from the next request).
   */
  findToken(id: string): Promise<TokenWithHash | null> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return new Promise((resolve, reject) => {
      const waiting = this.tokenLookups.get(id);
      if (waiting) waiting.push({ resolve, reject });
      else this.tokenLookups.set(id, [{ resolve, reject }]);
      if (this.tokenLookups.size === 1 && waiting === undefined) setImmediate(() => void this.lookUpTokens());
    });
  }

  private async lookUpTokens(): Promise<void> {
    const lookups = this.tokenLookups;
    this.tokenLookups = new Map();
    try {
      const rows = await this.run(
        'checking a token',
        (sql) => sql<TokenWithHash[]>`
          SELECT id, kind, agent, role, hash, created_at, revoked_at FROM tokens WHERE id = ANY(${[...lookups.keys()]}::text[])`,
      );
      const found = new Map(rows.map((row) => [row.id, { ...row, hash: Buffer.from(row.hash) }]));
      for (const [id, waiting] of lookups) for (const one of waiting) one.resolve(found.get(id) ?? null);
    } catch (error) {
      for (const waiting of lookups.values()) for (const one of waiting) one.reject(error);
    }
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.run('listing tokens', async (sql) => [
      ...(await sql<TokenRecord[]>`
        SELECT id, kind, agent, role, created_at, revoked_at FROM tokens ORDER BY created_at, id`),
    ]);
  }

  revokeToken(id: string, at: Date): Promise<boolean> {
    return this.run('revoking a token', async (sql) => {
      const { count } = await sql`
        UPDATE tokens SET revoked_at = COALESCE(revoked_at, ${at.toISOString()}) WHERE id = ${id}`;
      return count === 1;
    });
  }

  getBaseline(): Promise<AcceptedBaseline | null> {
    return this.run('reading the baseline', async (sql) => {
      const [row] = await sql<Array<{ json: string; accepted_at: string; accepted_by: string | null }>>`
        SELECT json, accepted_at, accepted_by FROM baseline WHERE singleton = 1`;
      return row
        ? {
            baseline: JSON.parse(row.json) as AcceptedBaseline['baseline'],
            accepted_at: row.accepted_at,
            accepted_by: row.accepted_by,
          }
        : null;
    });
  }

  async acceptBaseline(accepted: AcceptedBaseline & chain.BaselineApproval): Promise<chain.BaselineLink> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.appendLink(accepted);
      } catch (error) {
        // 23505: another coordinator's accept took this place in the chain; follow its link instead.
        if ((error as { code?: string }).code !== '23505' || attempt >= ACCEPT_ATTEMPTS) throw error;
      }
    }
  }

  private appendLink(accepted: AcceptedBaseline & chain.BaselineApproval): Promise<chain.BaselineLink> {
    const keys = Object.keys(accepted.baseline);
    const split = keys.map((key) => key.lastIndexOf('|'));
    const json = JSON.stringify(accepted.baseline);
    return this.run('storing the baseline', (sql) =>
      sql.begin(async (tx) => {
        const [last] = await tx<Array<{ seq: number; digest: string }>>`
          SELECT seq, digest FROM baseline_links ORDER BY seq DESC LIMIT 1`;
        const link = chain.nextLink(last, accepted);
        await tx.unsafe(
          `INSERT INTO baseline_links (${chain.LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          chain.linkValues(link, json),
        );
        await tx`
          INSERT INTO baseline (singleton, json, accepted_at, accepted_by)
          VALUES (1, ${json}, ${accepted.accepted_at}, ${accepted.accepted_by})
          ON CONFLICT (singleton) DO UPDATE
            SET json = excluded.json, accepted_at = excluded.accepted_at, accepted_by = excluded.accepted_by`;
        await tx`DELETE FROM baseline_cells`;
        await tx`
          INSERT INTO baseline_cells (agent, row_name, verdict)
          SELECT * FROM unnest(${keys.map((key, i) => key.slice(0, split[i]))}::text[],
            ${keys.map((key, i) => key.slice(split[i]! + 1))}::text[], ${Object.values(accepted.baseline)}::text[])`;
        return link;
      }),
    ) as Promise<chain.BaselineLink>;
  }

  baselineLog(limit: number): Promise<{ links: chain.LoggedLink[]; total: number }> {
    return this.run('reading the baseline log', async (sql) => {
      const rows = await sql.unsafe<chain.LinkRow[]>(
        `SELECT ${chain.LINK_COLUMNS} FROM baseline_links ORDER BY seq DESC LIMIT $1`,
        [limit],
      );
      const [count] = await sql<Array<{ n: string }>>`SELECT COUNT(*) AS n FROM baseline_links`;
      return { links: rows.map(chain.loggedLinkOf).reverse(), total: Number(count?.n ?? 0) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let queued reports commit (or fail) before the pool ends.
    while (this.queue.length > 0 || this.flushes > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    this.closed = true;
    await this.sql.end({ timeout: 5 });
  }
}

/** A pool on the URL; libpq's `?host=/socket/dir` is understood too (the store's, and a test's second session). */
export function connect(url: string, max: number): Sql {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      `Expected \`--db\` to be a SQLite file or a URL like postgres://USER:PASSWORD@HOST:5432/DB, got \`${redactUrl(url)}\``,
    );
  }
  const socketDir = parsed.searchParams.get('host');
  parsed.searchParams.delete('host');
  return postgres(parsed.href, {
    max,
    connect_timeout: 5,
    idle_timeout: 60,
    onnotice: () => {},
    // The judged-cell queries look costly to the planner (a subquery per cell): just-in-time compiling them took
    // seconds per page on a 50,000-agent site, far more than running them.
    connection: { jit: 'off' },
    ...(socketDir ? { host: socketDir } : {}),
  });
}

/** Apply every migration not yet applied, under an advisory lock so that coordinators starting at once take turns. */
async function migrate(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK.toString()}::bigint)`;
    await tx`CREATE TABLE IF NOT EXISTS reachgate_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`;
    const applied = new Set(
      (await tx<Array<{ version: number }>>`SELECT version FROM reachgate_migrations`).map((row) => row.version),
    );
    const newest = Math.max(0, ...applied);
    if (newest > MIGRATIONS.length) {
      throw new UsageError(
        `the PostgreSQL database has schema version ${newest}; this reachgate knows up to ${MIGRATIONS.length}`,
        'Run the reachgate version that wrote it, or a newer one.',
      );
    }
    for (const [index, migration] of MIGRATIONS.entries()) {
      if (applied.has(index + 1)) continue;
      await tx.unsafe(migration).simple();
      await tx`INSERT INTO reachgate_migrations (version) VALUES (${index + 1})`;
      if (index + 1 === CELLS_VERSION) {
        const latest = await tx<Array<{ seq: string; json: string; received_at: string }>>`
          SELECT DISTINCT ON (agent) seq, json, received_at FROM reports ORDER BY agent, seq DESC`;
        const states = latest.map((row) =>
          cells.agentStateOf(
            JSON.parse(row.json) as RunReport,
            Number(row.seq),
            row.received_at,
            cells.DEFAULT_STALE_AFTER_MS,
            {
              cellJson: false,
            },
          ),
        );
        // Written without cells_digest (a later version adds it, empty: each agent's next report writes its cells).
        for (let start = 0; start < states.length; start += MAX_BATCH) {
          const slice = states.slice(start, start + MAX_BATCH);
          await Promise.all([
            upsertAgents(
              tx,
              slice.map((state) => state.agent),
              null,
            ),
            ...syncCells(tx, slice),
          ]);
        }
      }
    }
  });
}

/** The statements that insert a batch of up to `slots` reports, by `slots` (a power of two). */
const INSERT_REPORTS_SQL = new Map<number, string>();

/** The insert of a batch: short columns from $1 (JSON rows), texts from $2 … $(slots + 1), in batch order. */
function insertReportsSql(slots: number): string {
  let text = INSERT_REPORTS_SQL.get(slots);
  if (text === undefined) {
    const parameters = Array.from({ length: slots }, (_, index) => `$${index + 2}::text`).join(', ');
    text = `INSERT INTO reports (id, agent, role, site, received_at, json)
      SELECT r.id, r.agent, r.role, r.site, r.received_at, t.json
      FROM json_populate_recordset(NULL::reports, $1) WITH ORDINALITY r
      JOIN unnest(ARRAY[${parameters}]) WITH ORDINALITY t(json, n) ON t.n = r.ordinality
      ORDER BY r.ordinality
      ON CONFLICT (id) DO NOTHING
      RETURNING id, seq`;
    INSERT_REPORTS_SQL.set(slots, text);
  }
  return text;
}

/**
 * Insert a batch's reports (multi-row: their short columns from one JSON parameter, each text its own parameter);
 * the seq of each report stored (an id already stored is not returned).
 */
async function insertReports(tx: postgres.TransactionSql, batch: PendingReport[]): Promise<Map<string, number>> {
  // Each text its own parameter (written straight into the connection's buffer: no joined copy, no escaping),
  // the list padded with NULLs to a power of two so that a few prepared statements serve every batch size.
  const slots = 2 ** Math.ceil(Math.log2(batch.length));
  const rows: object[] = [];
  const texts: Array<string | null> = [];
  for (let i = 0; i < slots; i++) {
    const pending = batch[i];
    if (pending === undefined) {
      texts.push(null);
      continue;
    }
    rows.push({
      id: pending.id,
      agent: pending.agent.agent,
      role: pending.agent.role,
      site: pending.site,
      received_at: pending.receivedAt,
    });
    texts.push(pending.json);
  }
  const inserted = await tx.unsafe<Array<{ id: string; seq: string }>>(
    insertReportsSql(slots),
    [tx.typed(rows as never, JSON_OID) as never, ...texts],
    { prepare: true },
  );
  const seqOf = new Map<string, number>();
  for (const row of inserted) seqOf.set(row.id, Number(row.seq));
  return seqOf;
}

/** What a batch moves: each agent's newest report stored by it, their agent rows and digests, the ids not stored. */
interface AgentMoves {
  newest: Map<string, PendingReport>;
  agents: cells.AgentRow[];
  digests: Map<string, string>;
  others: string[];
}

function newestOfAgents(batch: PendingReport[], seqOf: Map<string, number>): AgentMoves {
  const newest = new Map<string, PendingReport>();
  const others: string[] = [];
  for (const pending of batch) {
    const seq = seqOf.get(pending.id);
    if (seq === undefined) {
      others.push(pending.id);
      continue;
    }
    const known = newest.get(pending.agent.agent);
    if (!known || seqOf.get(known.id)! < seq) newest.set(pending.agent.agent, pending);
  }
  const agents: cells.AgentRow[] = [];
  const digests = new Map<string, string>();
  for (const pending of newest.values()) {
    agents.push({ ...pending.agent, seq: seqOf.get(pending.id)! });
    digests.set(pending.agent.agent, pending.digest);
  }
  return { newest, agents, digests, others };
}

/** An answer of no rows, for a statement a batch does not need. */
const NO_ROWS: Promise<never[]> = Promise.resolve([]);

/**
 * One pipeline: who owns the ids the batch did not store; the batch's agents locked in name order with their cell
 * digests before the batch (read under the lock); those agents moved to a newer report (the upsert's RETURNING).
 */
async function moveAgents(
  tx: postgres.TransactionSql,
  moves: AgentMoves,
): Promise<{ ownerOf: Map<string, string>; before: Map<string, string>; fresh: string[] }> {
  const { agents, others } = moves;
  const [owners, held, moved] = await Promise.all([
    others.length > 0
      ? tx<Array<{ id: string; agent: string }>>`SELECT id, agent FROM reports WHERE id = ANY(${others}::text[])`
      : NO_ROWS,
    agents.length > 0 ? lockAgents(tx, agents) : NO_ROWS,
    agents.length > 0 ? upsertAgents(tx, agents, moves.digests) : NO_ROWS,
  ]);
  const ownerOf = new Map<string, string>();
  for (const row of owners) ownerOf.set(row.id, row.agent);
  const before = new Map<string, string>();
  for (const row of held) before.set(row.agent, row.cells_digest);
  const fresh: string[] = [];
  for (const row of moved) fresh.push(row.agent);
  return { ownerOf, before, fresh };
}

/** Lock the agents' rows in name order and read their cell digests (before this batch moves them). */
function lockAgents(
  tx: postgres.TransactionSql,
  agents: cells.AgentRow[],
): Promise<ReadonlyArray<{ agent: string; cells_digest: string }>> {
  const names = agents.map((row) => row.agent).sort();
  return tx<
    Array<{ agent: string; cells_digest: string }>
  >`SELECT agent, cells_digest FROM agents WHERE agent = ANY(${names}::text[]) ORDER BY agent FOR UPDATE`;
}

/**
 * Move agents to their new report where it is newer than the stored one, in name order (so that two
 * coordinators' batches cannot deadlock); RETURNING the agents moved. With `digests`, each moved agent's
 * cells_digest and cell_count too (null: a schema from before those columns, while migrating).
 */
function upsertAgents(
  tx: postgres.TransactionSql,
  agents: cells.AgentRow[],
  digests: Map<string, string> | null,
): Promise<ReadonlyArray<{ agent: string }>> {
  const rows = agents
    .map((row) => (digests ? { ...row, cells_digest: digests.get(row.agent) } : row))
    .sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0));
  const digest = digests ? ', cells_digest, cell_count' : '';
  const newer = digests ? ', s.cells_digest, s.cell_count' : '';
  return tx.unsafe<Array<{ agent: string }>>(
    `INSERT INTO agents (agent, seq, report_id, role, site, version, profile, taken_at, interval_s, stale_at${digest})
     SELECT s.agent, s.seq, s.report_id, s.role, s.site, s.version, s.profile, s.taken_at, s.interval_s, s.stale_at${newer}
     FROM json_populate_recordset(NULL::agents, $1) s
     ON CONFLICT (agent) DO UPDATE SET seq = excluded.seq, report_id = excluded.report_id, role = excluded.role,
       site = excluded.site, version = excluded.version, profile = excluded.profile, taken_at = excluded.taken_at,
       interval_s = excluded.interval_s, stale_at = excluded.stale_at${digest ? ', cells_digest = excluded.cells_digest, cell_count = excluded.cell_count' : ''}
     WHERE agents.seq < excluded.seq
     RETURNING agent`,
    [tx.typed(rows as never, JSON_OID) as never],
    { prepare: true },
  );
}

/**
 * Bring the cell tables of agents just moved to a report of this batch up to date, in the caller's transaction:
 * the statements are sent at once (one pipeline, run in order), each writing only rows that change (a
 * cell's results and report id are read from the agent's report).
 */
function syncCells(tx: postgres.TransactionSql, states: cells.AgentState[]): Array<Promise<unknown>> {
  const json = <T>(rows: T[]) => tx.typed(rows as never, JSON_OID);
  const ids = states.map((state) => state.agent.report_id);
  const statements: Array<Promise<unknown>> = [];
  const sync = (table: TableSync, rows: object[]): void => {
    const on = table.key.map((column) => `n.${column} = o.${column}`).join(' AND ');
    const columns = [...table.key, ...table.values];
    // One statement: the new rows of the moved agents (parsed once); rows of the old report the new one does not
    // have; rows whose values changed; rows new to the agent. The three touch different rows.
    const changed =
      table.values.length === 0
        ? ''
        : `, changed AS (
             UPDATE ${table.name} o SET ${table.values.map((column) => `${column} = n.${column}`).join(', ')}
             FROM n WHERE ${on} AND (${table.compared.map((column) => `o.${column}`).join(', ')}) IS DISTINCT FROM
               (${table.compared.map((column) => `n.${column}`).join(', ')}))`;
    statements.push(
      tx.unsafe(
        `WITH n AS MATERIALIZED (
           SELECT r.* FROM json_populate_recordset(NULL::${table.name}, $1) r
           JOIN agents a ON a.agent = r.agent AND a.report_id = ANY($2::text[])),
         gone AS (
           DELETE FROM ${table.name} o USING agents a
           WHERE a.report_id = ANY($2::text[]) AND o.agent = a.agent AND NOT EXISTS (SELECT 1 FROM n WHERE ${on}))
         ${changed}
         INSERT INTO ${table.name} (${columns.join(', ')})
         SELECT ${columns.map((column) => `n.${column}`).join(', ')} FROM n
         WHERE NOT EXISTS (SELECT 1 FROM ${table.name} o WHERE ${on})`,
        [json(rows) as never, ids],
        { prepare: true },
      ),
    );
  };
  for (const [table, rowsOf] of SYNCED_TABLES) sync(table, states.flatMap(rowsOf));
  return statements;
}

/** `?` placeholders as PostgreSQL's $1, $2 … */
function numbered(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

/** The alerts' hysteresis step for agents' new cells, and the events of the cells that turn (in the ingest transaction). */
async function stepAlerts(
  tx: postgres.TransactionSql,
  rules: alerts.AlertRules,
  agents: string[],
  at: string,
  windowMs: number,
): Promise<void> {
  const ms = Date.parse(at);
  await tx.unsafe(cells.withConfirmWindow(STEP_SQL, windowMs), [agents, ms]);
  await tx.unsafe(VANISHED_SQL, [agents]);
  const turned = await tx.unsafe<alerts.TurnedCell[]>(TURNED_SQL, [agents, rules.fireAfter, rules.resolveAfter]);
  for (const cell of turned) {
    const event = alerts.cellEvent(cell, at);
    const firing = event.status === 'firing';
    await tx.unsafe(numbered(alerts.FLIP_CELL_SQL), [firing ? 1 : 0, firing ? at : null, cell.agent, cell.row_name]);
    await queueEvent(tx, rules, event, ms);
  }
}

/** One outbox row per webhook for an event. */
async function queueEvent(
  tx: postgres.TransactionSql,
  rules: alerts.AlertRules,
  event: alerts.AlertEvent,
  ms: number,
): Promise<void> {
  const json = JSON.stringify(event);
  for (const webhook of rules.webhooks) await tx.unsafe(numbered(alerts.QUEUE_SQL), [webhook, json, ms, ms]);
}

/** A cell table as syncCells keeps it: its key columns, the other columns, and those whose change is written. */
interface TableSync {
  name: string;
  key: readonly string[];
  values: readonly string[];
  compared: readonly string[];
}

const CELL_COUNTS = ['row_pos', 'role', 'site', 'rank', 'needs', 'results', 'pass', 'fail', 'inconclusive', 'error'];
/** cells.json and cells.report_id are not read any more: a cell is rewritten only when what it counts changes. */
const CELLS: TableSync = {
  name: 'cells',
  key: ['agent', 'row_name'],
  values: [...CELL_COUNTS, 'report_id', 'json'],
  compared: CELL_COUNTS,
};
const CONTROL_NEEDS: TableSync = {
  name: 'control_needs',
  key: ['agent', 'row_name', 'control', 'address'],
  values: ['results'],
  compared: ['results'],
};
const OPEN_SEEN: TableSync = { name: 'open_seen', key: ['role', 'address', 'agent'], values: [], compared: [] };
const CONFIRM_NEEDS_VALUES = ['nonce', 'role', 'started_ms', 'open_rank', 'shut_rank'];
const CONFIRM_NEEDS: TableSync = {
  name: 'confirm_needs',
  key: ['agent', 'row_name', 'pos'],
  values: CONFIRM_NEEDS_VALUES,
  compared: CONFIRM_NEEDS_VALUES,
};

/** The cell tables syncCells keeps, each with the rows an agent's state holds for it. */
const SYNCED_TABLES: ReadonlyArray<readonly [TableSync, (state: cells.AgentState) => object[]]> = [
  [CELLS, (state) => state.cells],
  [CONTROL_NEEDS, (state) => state.needs],
  [OPEN_SEEN, (state) => state.seen],
  [CONFIRM_NEEDS, (state) => state.confirms],
];
