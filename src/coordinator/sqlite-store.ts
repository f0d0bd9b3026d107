import { chmodSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { RunReport } from '../core/result.js';
import { UsageError } from '../core/usage-error.js';
import type { LatestReport } from '../core/matrix.js';
import type { AcceptedBaseline, AddReportOutcome, Store, StoredReport, TokenRecord, TokenWithHash } from './store.js';

/** Schema migrations: entry N takes a database from `user_version` N to N + 1. Append only. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE reports (
     seq INTEGER PRIMARY KEY,
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
     hash BLOB NOT NULL,
     created_at TEXT NOT NULL,
     revoked_at TEXT,
     CHECK ((kind = 'agent') = (agent IS NOT NULL AND role IS NOT NULL))
   );
   CREATE TABLE baseline (
     singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
     json TEXT NOT NULL,
     accepted_at TEXT NOT NULL,
     accepted_by TEXT
   );`,
];

/** Reports committed in one transaction at most; more wait for the next one. */
const MAX_BATCH = 256;
/** Reports deleted per retention transaction, so that ingest never waits long behind it. */
const PRUNE_BATCH = 500;

interface PendingReport {
  report: RunReport;
  json: string;
  receivedAt: string;
  resolve: (outcome: AddReportOutcome) => void;
  reject: (error: unknown) => void;
}

interface LatestEntry {
  seq: number;
  latest: LatestReport;
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
}

/**
 * The SQLite store (better-sqlite3, WAL). Reports are written with group commit: the reports that
 * arrive while one transaction runs go into the next, each acknowledged only after its commit,
 * which is fsynced (synchronous=FULL), so an acknowledged report survives a crash or power loss.
 * Every agent's latest report is also kept parsed in memory for the matrix; this process must be
 * the only coordinator on the file (token commands may use it at the same time).
 */
export class SqliteStore implements Store {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly statements;
  private readonly insertBatch: (batch: PendingReport[]) => Array<AddReportOutcome & { seq?: number }>;
  private readonly latest = new Map<string, LatestEntry>();
  private baselineCache: AcceptedBaseline | null | undefined;
  private queue: PendingReport[] = [];
  private flushScheduled = false;
  private closed = false;

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.db = db;
    this.statements = {
      insertReport: db.prepare<[string, string, string | null, string | null, string, string]>(
        'INSERT INTO reports (id, agent, role, site, received_at, json) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      ),
      agentOfReport: db.prepare<[string], { agent: string }>('SELECT agent FROM reports WHERE id = ?'),
      getReport: db.prepare<[string], ReportRow>(
        'SELECT seq, id, agent, role, site, received_at, json FROM reports WHERE id = ?',
      ),
      latestReports: db.prepare<[], ReportRow>(
        'SELECT seq, id, agent, role, site, received_at, json FROM reports WHERE seq IN (SELECT MAX(seq) FROM reports GROUP BY agent)',
      ),
      prune: db.prepare<[string, number]>(
        `DELETE FROM reports WHERE seq IN (
           SELECT seq FROM reports
           WHERE received_at < ? AND seq NOT IN (SELECT MAX(seq) FROM reports GROUP BY agent)
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
        if (info.changes === 1) return { stored: true as const, seq: Number(info.lastInsertRowid) };
        return { stored: false as const, agent: this.statements.agentOfReport.get(report.id)?.agent ?? report.agent };
      }),
    );
    for (const row of this.statements.latestReports.all()) {
      this.latest.set(row.agent, {
        seq: row.seq,
        latest: { report: JSON.parse(row.json) as RunReport, received_at: row.received_at },
      });
    }
  }

  /** Open (or create) the database file, switch it to WAL and bring its schema up to date. */
  static open(file: string, options: SqliteStoreOptions = {}): SqliteStore {
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
      return new SqliteStore(file, db);
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
    let outcomes: Array<AddReportOutcome & { seq?: number }>;
    try {
      outcomes = this.insertBatch(batch);
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, index) => {
      const outcome = outcomes[index]!;
      if (outcome.seq !== undefined) {
        const { agent } = pending.report;
        const previous = this.latest.get(agent);
        if (!previous || previous.seq < outcome.seq) {
          this.latest.set(agent, {
            seq: outcome.seq,
            latest: { report: pending.report, received_at: pending.receivedAt },
          });
        }
        pending.resolve({ stored: true });
      } else {
        pending.resolve(outcome);
      }
    });
  }

  async getReport(id: string): Promise<StoredReport | null> {
    const row = this.statements.getReport.get(id);
    if (!row) return null;
    const { seq: _seq, ...report } = row;
    return report;
  }

  async latestReports(): Promise<LatestReport[]> {
    return [...this.latest.values()].map((entry) => entry.latest);
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

  async setBaseline(accepted: AcceptedBaseline): Promise<void> {
    this.statements.setBaseline.run(JSON.stringify(accepted.baseline), accepted.accepted_at, accepted.accepted_by);
    this.baselineCache = accepted;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    while (this.queue.length > 0) this.flush();
    this.closed = true;
    this.db.close();
  }
}

function migrate(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new UsageError(
      `the database ${file} has schema version ${version}; this reachgate knows up to ${MIGRATIONS.length}`,
      'Run the reachgate version that wrote it, or a newer one.',
    );
  }
  for (let next = version; next < MIGRATIONS.length; next++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[next]!);
      db.pragma(`user_version = ${next + 1}`);
    })();
  }
}
