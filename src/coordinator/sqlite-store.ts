import { chmodSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { SqliteReader } from './sqlite-reader.js';
import type { RunReport } from '../core/result.js';
import { UsageError } from '../core/usage-error.js';
import { CONFIRM_WINDOW_MS, confirmWindowMs } from '../core/confirmation.js';
import * as cells from './cells.js';
import * as alerts from './alert-store.js';
import * as chain from './baseline-chain.js';
import type {
  AcceptedBaseline,
  AddReportOutcome,
  ReceiptPost,
  Store,
  StoredReport,
  TokenRecord,
  TokenWithHash,
} from './store.js';

/**
 * Schema migrations: entry N takes a database to version N + 1. Append only; each runs once, in one
 * transaction with its row in schema_migrations (version 1 predates that table: `user_version` 1).
 */
const MIGRATIONS: readonly string[] = [
  cells.firstSchema(cells.SQLITE_DIALECT),
  `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
   INSERT OR IGNORE INTO schema_migrations (version, applied_at) VALUES (1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
   ${cells.CELL_SCHEMA}`,
  `${cells.RECEIPT_SCHEMA}
   ${cells.RECEIPT_REFILL}`,
  `${chain.CHAIN_SCHEMA}
   ${alerts.alertSchema('INTEGER PRIMARY KEY')}`,
  alerts.RESEND_SCHEMA,
  cells.CELLS_DIGEST_SCHEMA,
  cells.COUNTS_SCHEMA,
  cells.CELL_COUNT_SCHEMA,
  cells.NEEDS_ADDRESS_SCHEMA,
];
/** Migrating to this version fills the cell tables (with confirm_needs) from each agent's latest report. */
const CELLS_VERSION = 3;

/** Reports committed in one transaction at most; more wait for the next one. */
const MAX_BATCH = 256;
/** Agents whose staleness alert turns, at most, per sweep (the rest in the next). */
const SWEEP_BATCH = 1000;
/** Firing alerts of each kind re-queued at most per look (the rest in the next). */
const RESEND_BATCH = 1000;
/** About how long one slice of a whole-matrix count takes in the counting thread (ms). */
const SLICE_TARGET_MS = 25;
/** Reports deleted per retention transaction, so that ingest never waits long behind it. */
const PRUNE_BATCH = 500;

interface PendingReport {
  report: RunReport;
  json: string;
  receivedAt: string;
  resolve: (outcome: AddReportOutcome) => void;
  reject: (error: unknown) => void;
}

interface ReportRow extends StoredReport {
  seq: number;
}

interface TokenRow extends TokenRecord {
  hash: Buffer;
}

/** Options of the SQLite store. */
export interface SqliteStoreOptions {
  /** Refuse to create the file (token list/revoke: a typo must not make an empty database). */
  mustExist?: boolean;
  /** Results older than this are stale whatever interval the agent claims. */
  staleAfterMs?: number;
  /** How long after a probe started its nonce's receipt counts (ms; CONFIRM_WINDOW_MS when not given). */
  confirmWindowMs?: number;
}

/**
 * The SQLite store (better-sqlite3, WAL). Reports are written with group commit: the reports that
 * arrive while one transaction runs go into the next, each acknowledged only after its commit,
 * which is fsynced (synchronous=FULL), so an acknowledged report survives a crash or power loss.
 * Every agent's latest report is also kept parsed in memory for the matrix; this process must be
 * the only coordinator on the file (token commands may use it at the same time).
 */
export class SqliteStore implements Store {
  /** The schema version this reachgate brings a database to. */
  static readonly schemaVersion = MIGRATIONS.length;
  readonly file: string;
  readonly confirmWindowMs: number;
  private readonly db: Database.Database;
  private readonly statements;
  private readonly insertBatch: (batch: PendingReport[]) => AddReportOutcome[];
  private readonly insertReceipts: (post: ReceiptPost) => number;
  private readonly pruneReceiptBatch: Database.Statement<[number, number]>;
  private readonly pruneResponders: Database.Statement<[number]>;
  private baselineCache: AcceptedBaseline | null | undefined;
  private alertRules: alerts.AlertRules | null = null;
  private readonly alerts;
  private queue: PendingReport[] = [];
  private flushScheduled = false;
  private closed = false;
  /**
   * The reader threads (started on first use): one for read(), one for snapshot()'s counts, so that a page's reads
   * never queue behind a count's slices; and the snapshot running (one at a time).
   */
  private readonly reader: SqliteReader;
  private readonly counter: SqliteReader;
  private snapshots: Promise<unknown> = Promise.resolve();

  private constructor(file: string, db: Database.Database, staleAfterMs: number, windowMs: number) {
    this.file = file;
    this.confirmWindowMs = windowMs;
    this.db = db;
    this.reader = new SqliteReader(file);
    this.counter = new SqliteReader(file);
    this.statements = {
      insertReport: db.prepare<[string, string, string | null, string | null, string, string]>(
        'INSERT INTO reports (id, agent, role, site, received_at, json) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      ),
      agentOfReport: db.prepare<[string], { agent: string }>('SELECT agent FROM reports WHERE id = ?'),
      getReport: db.prepare<[string], ReportRow>(
        'SELECT seq, id, agent, role, site, received_at, json FROM reports WHERE id = ?',
      ),
      prune: db.prepare<[string, number]>(
        `DELETE FROM reports WHERE seq IN (
           SELECT seq FROM reports
           WHERE received_at < ? AND seq NOT IN (SELECT seq FROM agents)
           ORDER BY seq LIMIT ?)`,
      ),
      addToken: db.prepare<[string, string, string | null, string | null, Buffer, string, string | null]>(
        'INSERT INTO tokens (id, kind, agent, role, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      findToken: db.prepare<[string], TokenRow>(
        'SELECT id, kind, agent, role, hash, created_at, revoked_at FROM tokens WHERE id = ?',
      ),
      listTokens: db.prepare<[], TokenRecord>(
        'SELECT id, kind, agent, role, created_at, revoked_at FROM tokens ORDER BY created_at, id',
      ),
      revokeToken: db.prepare<[string, string]>('UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?'),
      getBaseline: db.prepare<[], { json: string; accepted_at: string; accepted_by: string | null }>(
        'SELECT json, accepted_at, accepted_by FROM baseline WHERE singleton = 1',
      ),
      setBaseline: db.prepare<[string, string, string | null]>(
        `INSERT INTO baseline (singleton, json, accepted_at, accepted_by) VALUES (1, ?, ?, ?)
         ON CONFLICT (singleton) DO UPDATE SET json = excluded.json, accepted_at = excluded.accepted_at, accepted_by = excluded.accepted_by`,
      ),
    };
    const upsertResponder = db.prepare<[string, string, string, number, number]>(
      `INSERT INTO responders (agent, role, last_report_at, last_ms, interval_s, posts) VALUES (?, ?, ?, ?, ?, 1)
       ON CONFLICT (agent) DO UPDATE SET role = excluded.role, last_report_at = excluded.last_report_at,
         last_ms = excluded.last_ms, interval_s = excluded.interval_s, posts = responders.posts + 1`,
    );
    const insertReceipt = db.prepare(
      `INSERT INTO receipts (nonce, responder, role, source, source_port, port, protocol, received_at, received_ms, copies, stored_ms)
       VALUES (@nonce, @responder, @role, @source, @source_port, @port, @protocol, @received_at, @received_ms, @copies, @stored_ms)
       ON CONFLICT (nonce) DO NOTHING`,
    );
    this.insertReceipts = db.transaction((post: ReceiptPost) => {
      const at = post.at.getTime();
      upsertResponder.run(post.agent, post.role, post.at.toISOString(), at, post.interval_s);
      let added = 0;
      for (const receipt of post.receipts) {
        const row = { ...receipt, responder: post.agent, role: post.role, stored_ms: at };
        added += insertReceipt.run({ ...row, received_ms: Date.parse(receipt.received_at) }).changes;
      }
      return added;
    });
    this.pruneReceiptBatch = db.prepare<[number, number]>(
      'DELETE FROM receipts WHERE nonce IN (SELECT nonce FROM receipts WHERE stored_ms < ? ORDER BY stored_ms LIMIT ?)',
    );
    this.pruneResponders = db.prepare<[number]>('DELETE FROM responders WHERE last_ms < ?');
    this.alerts = {
      step: db.prepare<[string, number]>(cells.withConfirmWindow(cells.driftStepSql('WHERE c.agent = ?'), windowMs)),
      stepVanished: db.prepare<[string]>(alerts.vanishedStepSql('agent = ?')),
      turned: db.prepare<[string, number, number], alerts.TurnedCell>(alerts.turnedCellsSql('agent = ?')),
      flipCell: db.prepare<[number, string | null, string, string]>(alerts.FLIP_CELL_SQL),
      queue: db.prepare<[string, string, number, number]>(alerts.QUEUE_SQL),
      staleTurns: db.prepare<[number, number], alerts.TurnedAgent>(alerts.STALE_TURNS_SQL),
      flipAgent: db.prepare<[string, number, string]>(alerts.FLIP_AGENT_SQL),
      claim: db.prepare(alerts.claimSql('')),
      sent: db.prepare<[number, number]>(alerts.SENT_SQL),
      unsent: db.prepare<[string, number, string, number]>(alerts.UNSENT_SQL),
      prune: db.prepare<[number]>(alerts.PRUNE_OUTBOX_SQL),
      lastLink: db.prepare<[], { seq: number; digest: string }>(
        'SELECT seq, digest FROM baseline_links ORDER BY seq DESC LIMIT 1',
      ),
      addLink: db.prepare<chain.LinkValues>(
        `INSERT INTO baseline_links (${chain.LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      log: db.prepare<[number], chain.LinkRow>(
        `SELECT ${chain.LINK_COLUMNS} FROM baseline_links ORDER BY seq DESC LIMIT ?`,
      ),
      count: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM baseline_links'),
    };
    const replaceState = cellWriter(db);
    this.insertBatch = db.transaction((batch: PendingReport[]) =>
      batch.map((pending) => {
        const { report } = pending;
        const info = this.statements.insertReport.run(
          report.id,
          report.agent,
          report.role,
          report.site,
          pending.receivedAt,
          pending.json,
        );
        if (info.changes === 1) {
          const state = cells.agentStateOf(report, Number(info.lastInsertRowid), pending.receivedAt, staleAfterMs, {
            cellJson: false,
          });
          if (replaceState(state) && this.alertRules)
            this.stepAlerts(this.alertRules, report.agent, pending.receivedAt);
          return { stored: true as const };
        }
        return { stored: false as const, agent: this.statements.agentOfReport.get(report.id)?.agent ?? report.agent };
      }),
    );
  }

  /** The alerts' hysteresis step for an agent's new cells, and the events of the cells that turn (in the ingest transaction). */
  private stepAlerts(rules: alerts.AlertRules, agent: string, at: string): void {
    const ms = Date.parse(at);
    this.alerts.step.run(agent, ms);
    this.alerts.stepVanished.run(agent);
    for (const cell of this.alerts.turned.all(agent, rules.fireAfter, rules.resolveAfter)) {
      const event = alerts.cellEvent(cell, at);
      this.alerts.flipCell.run(
        event.status === 'firing' ? 1 : 0,
        event.status === 'firing' ? at : null,
        agent,
        cell.row_name,
      );
      this.queueEvent(rules, event, ms);
    }
  }

  private queueEvent(rules: alerts.AlertRules, event: alerts.AlertEvent, ms: number): void {
    const json = JSON.stringify(event);
    for (const webhook of rules.webhooks) this.alerts.queue.run(webhook, json, ms, ms);
  }

  setAlertRules(rules: alerts.AlertRules | null): void {
    this.alertRules = rules;
  }

  async sweepStale(now: Date): Promise<number> {
    const rules = this.alertRules;
    if (!rules?.stale || this.closed) return 0;
    const at = now.toISOString();
    return this.db.transaction(() => {
      let turned = 0;
      for (const agent of this.alerts.staleTurns.all(now.getTime(), SWEEP_BATCH)) {
        const event = alerts.agentEvent(agent, at);
        const stale = event.status === 'firing' ? 1 : 0;
        if (this.alerts.flipAgent.run(agent.agent, stale, event.starts_at).changes === 0) continue;
        this.queueEvent(rules, event, now.getTime());
        turned++;
      }
      return turned;
    })();
  }

  async resendFiring(now: Date): Promise<number> {
    const resend = this.alertRules?.resend;
    if (!resend || resend.webhooks.length === 0 || this.closed) return 0;
    const round = alerts.resendRound(resend.everyMs, now, RESEND_BATCH);
    return this.db.transaction(() => {
      for (const { sql, parameters } of round.arm) this.db.prepare(sql).run(...parameters);
      const due = round.claims.flatMap(
        ({ sql, parameters }) =>
          this.db.prepare(sql).all(...parameters) as Array<alerts.TurnedCell | alerts.ResentAgent>,
      );
      for (const alert of due)
        for (const webhook of resend.webhooks) this.alerts.queue.run(webhook, round.json(alert), round.ms, round.ms);
      return due.length;
    })();
  }

  async claimDeliveries(now: Date, limit: number, leaseMs: number): Promise<alerts.Delivery[]> {
    if (this.closed) return [];
    const ms = now.getTime();
    const rows = this.alerts.claim.all(ms + leaseMs, ms, ms, ms, limit) as Array<
      Parameters<typeof alerts.deliveryOf>[0]
    >;
    return rows.map(alerts.deliveryOf).sort((a, b) => a.id - b.id);
  }

  async settleDeliveries(outcomes: readonly alerts.DeliveryOutcome[], now: Date): Promise<void> {
    if (this.closed) return;
    this.db.transaction(() => {
      for (const outcome of outcomes) {
        if (outcome.result === 'sent') this.alerts.sent.run(now.getTime(), outcome.id);
        else if (outcome.result === 'retry')
          this.alerts.unsent.run('pending', outcome.next_ms, outcome.error, outcome.id);
        else this.alerts.unsent.run('failed', now.getTime(), outcome.error, outcome.id);
      }
    })();
  }

  async pruneDeliveries(cutoff: Date): Promise<number> {
    if (this.closed) return 0;
    return this.alerts.prune.run(cutoff.getTime()).changes;
  }

  /**
   * Run a read-only query with `?` placeholders (the cell queries of cells.ts) in the reader thread
   * (sqlite-reader.ts), on the latest commit: the event loop is free for ingest meanwhile.
   */
  async read<T>(sql: string, parameters: ReadonlyArray<string | number | null>): Promise<T[]> {
    if (this.closed) throw new Error('the store is closed');
    return this.reader.all<T>('read', cells.withConfirmWindow(sql, this.confirmWindowMs), parameters);
  }

  async snapshot<T>(work: (read: cells.ReadQuery, slices?: cells.CountSlices) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new Error('the store is closed');
      // The counting thread's snapshot connection: in WAL mode its transaction reads one snapshot while ingest
      // commits on the main connection; the snapshot starts at its first read. Counted in slices of agents.
      await this.counter.begin();
      try {
        return await work(
          <R>(sql: string, parameters: ReadonlyArray<string | number | null>): Promise<R[]> =>
            this.counter.all<R>('snap', cells.withConfirmWindow(sql, this.confirmWindowMs), parameters),
          { pause: () => new Promise((resolve) => setImmediate(resolve)), targetMs: SLICE_TARGET_MS },
        );
      } finally {
        if (!this.closed) await this.counter.commit();
      }
    };
    const result = this.snapshots.then(run, run);
    this.snapshots = result.catch(() => undefined);
    return result;
  }

  async saveCounts(counts: cells.KeptCounts): Promise<void> {
    if (this.closed) return;
    this.db.prepare(cells.SAVE_COUNTS_SQL).run(counts.version, counts.as_of, counts.counted_ms, counts.json);
  }

  /** Open (or create) the database file, switch it to WAL and bring its schema up to date. */
  static open(file: string, options: SqliteStoreOptions = {}): SqliteStore {
    const windowMs = confirmWindowMs(options.confirmWindowMs ?? CONFIRM_WINDOW_MS);
    const created = !existsSync(file);
    if (created && options.mustExist) {
      throw new UsageError(
        `no database at ${file}`,
        'Give the --db file the coordinator uses; `reachgate token create` or `reachgate coordinator` creates it.',
      );
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { timeout: 5000 });
      // Reports can carry operators' network details: keep a new file private to its owner.
      if (created) chmodSync(file, 0o600);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db, file);
      return new SqliteStore(file, db, options.staleAfterMs ?? cells.DEFAULT_STALE_AFTER_MS, windowMs);
    } catch (error) {
      db?.close();
      if (error instanceof UsageError) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new UsageError(
        `cannot open the database ${file}: ${reason}`,
        'Give a writable SQLite file made by reachgate (or a new path to create one).',
      );
    }
  }

  addReport(report: RunReport, json: string, receivedAt: Date): Promise<AddReportOutcome> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ report, json, receivedAt: receivedAt.toISOString(), resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate, not nextTick: requests already read by the event loop join this batch.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue.splice(0, MAX_BATCH);
    if (this.queue.length > 0) this.scheduleFlush();
    if (batch.length === 0) return;
    let outcomes: AddReportOutcome[];
    try {
      outcomes = this.insertBatch(batch);
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, index) => pending.resolve(outcomes[index]!));
  }

  async getReport(id: string): Promise<StoredReport | null> {
    const row = this.statements.getReport.get(id);
    if (!row) return null;
    const { seq: _seq, ...report } = row;
    return report;
  }

  async pruneReports(cutoff: Date): Promise<number> {
    const before = cutoff.toISOString();
    let deleted = 0;
    for (;;) {
      const { changes } = this.statements.prune.run(before, PRUNE_BATCH);
      deleted += changes;
      if (changes < PRUNE_BATCH || this.closed) return deleted;
      // Let queued ingest commit between retention batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async addReceipts(post: ReceiptPost): Promise<number> {
    if (this.closed) throw new Error('the store is closed');
    return this.insertReceipts(post);
  }

  async pruneReceipts(cutoff: Date): Promise<number> {
    let deleted = 0;
    for (;;) {
      const { changes } = this.pruneReceiptBatch.run(cutoff.getTime(), PRUNE_BATCH);
      deleted += changes;
      if (changes < PRUNE_BATCH || this.closed) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (!this.closed) this.pruneResponders.run(cutoff.getTime());
    return deleted;
  }

  async addToken(token: TokenWithHash): Promise<void> {
    this.statements.addToken.run(
      token.id,
      token.kind,
      token.agent,
      token.role,
      token.hash,
      token.created_at,
      token.revoked_at,
    );
  }

  async findToken(id: string): Promise<TokenWithHash | null> {
    return this.statements.findToken.get(id) ?? null;
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.statements.listTokens.all();
  }

  async revokeToken(id: string, at: Date): Promise<boolean> {
    return this.statements.revokeToken.run(at.toISOString(), id).changes === 1;
  }

  async getBaseline(): Promise<AcceptedBaseline | null> {
    if (this.baselineCache === undefined) {
      const row = this.statements.getBaseline.get();
      this.baselineCache = row
        ? {
            baseline: JSON.parse(row.json) as AcceptedBaseline['baseline'],
            accepted_at: row.accepted_at,
            accepted_by: row.accepted_by,
          }
        : null;
    }
    return this.baselineCache;
  }

  async acceptBaseline(accepted: AcceptedBaseline & chain.BaselineApproval): Promise<chain.BaselineLink> {
    const insertCell = this.db.prepare<[string, string, string]>(
      'INSERT INTO baseline_cells (agent, row_name, verdict) VALUES (?, ?, ?)',
    );
    const json = JSON.stringify(accepted.baseline);
    const link = this.db
      .transaction(() => {
        const link = chain.nextLink(this.alerts.lastLink.get(), accepted);
        this.alerts.addLink.run(...chain.linkValues(link, json));
        this.statements.setBaseline.run(json, accepted.accepted_at, accepted.accepted_by);
        this.db.exec('DELETE FROM baseline_cells');
        for (const [key, verdict] of Object.entries(accepted.baseline)) {
          const split = key.lastIndexOf('|');
          insertCell.run(key.slice(0, split), key.slice(split + 1), verdict);
        }
        return link;
      })
      .immediate();
    this.baselineCache = {
      baseline: accepted.baseline,
      accepted_at: accepted.accepted_at,
      accepted_by: accepted.accepted_by,
    };
    return link;
  }

  async baselineLog(limit: number): Promise<{ links: chain.LoggedLink[]; total: number }> {
    const links = this.alerts.log.all(limit).map(chain.loggedLinkOf).reverse();
    return { links, total: this.alerts.count.get()?.n ?? 0 };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    while (this.queue.length > 0) this.flush();
    this.closed = true;
    await Promise.all([this.reader.close(), this.counter.close()]);
    this.db.close();
  }
}

/**
 * Moves an agent to a newer report in the caller's transaction, false when it is not newer; its cell rows are
 * replaced only when their digest changed (`digest` false: a schema from before agents.cells_digest and
 * agents.cell_count, while migrating).
 */
function cellWriter(db: Database.Database, digest = true): (state: cells.AgentState) => boolean {
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
    const cellsDigest = digestOf ? cells.stateDigest(state) : '';
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

/** The applied version: the newest row of schema_migrations, or `user_version` before that table. */
function schemaVersion(db: Database.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!table) return db.pragma('user_version', { simple: true }) as number;
  return (
    (db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number | null }).version ??
    0
  );
}

function migrate(db: Database.Database, file: string): void {
  for (;;) {
    // IMMEDIATE: the write lock before reading the version, so that two processes opening at once take turns.
    const done = db
      .transaction(() => {
        const version = schemaVersion(db);
        if (version > MIGRATIONS.length) {
          throw new UsageError(
            `the database ${file} has schema version ${version}; this reachgate knows up to ${MIGRATIONS.length}`,
            'Run the reachgate version that wrote it, or a newer one.',
          );
        }
        if (version === MIGRATIONS.length) return true;
        db.exec(MIGRATIONS[version]!);
        if (version + 1 >= 2) {
          db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(
            version + 1,
            new Date().toISOString(),
          );
        }
        db.pragma(`user_version = ${version + 1}`);
        if (version + 1 === CELLS_VERSION) fillCells(db);
        return false;
      })
      .immediate();
    if (done) return;
  }
}

/** Fill the cell tables from each agent's latest report (a database from before they existed). */
function fillCells(db: Database.Database): void {
  // Before agents.cells_digest (a later version adds it, empty: each agent's next report writes its cells).
  const replace = cellWriter(db, false);
  const latest = db.prepare<[], { seq: number; json: string; received_at: string }>(
    'SELECT seq, json, received_at FROM reports WHERE seq IN (SELECT MAX(seq) FROM reports GROUP BY agent)',
  );
  for (const row of latest.all())
    replace(cells.agentStateOf(JSON.parse(row.json) as RunReport, row.seq, row.received_at));
}
