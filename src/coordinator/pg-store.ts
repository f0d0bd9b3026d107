import postgres from 'postgres';
import type { RunReport } from '../core/result.js';
import type { LatestReport } from '../core/matrix.js';
import { UsageError } from '../core/usage-error.js';
import {
  StoreUnavailableError,
  type AcceptedBaseline,
  type AddReportOutcome,
  type Store,
  type StoredReport,
  type TokenRecord,
  type TokenWithHash,
} from './store.js';

/**
 * Schema migrations of the PostgreSQL store: entry N is version N + 1. Append only; each runs once,
 * in one transaction with its row in reachgate_migrations.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE reports (
     seq BIGSERIAL PRIMARY KEY,
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
     hash BYTEA NOT NULL,
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

/** The advisory lock key that serializes migrations between coordinators starting at once ("reachgat"). */
const MIGRATION_LOCK = 0x7265616368676174n;
/** Reports committed in one transaction at most. */
const MAX_BATCH = 256;
/** Transactions of reports in flight at once (each on its own connection). */
const MAX_FLUSHES = 4;
/** Reports deleted per retention statement, so that ingest never waits long behind it. */
const PRUNE_BATCH = 500;
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

interface PendingReport {
  report: RunReport;
  json: string;
  receivedAt: string;
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
  private readonly sql: Sql;
  private queue: PendingReport[] = [];
  private flushes = 0;
  private flushScheduled = false;
  private closed = false;

  private constructor(url: string, sql: Sql) {
    this.url = url;
    this.sql = sql;
  }

  /** Connect, bring the schema up to date (once, whatever other coordinators do at the same time). */
  static async open(url: string, options: PgStoreOptions = {}): Promise<PgStore> {
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
    return new PgStore(url, sql);
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
    return new Promise((resolve, reject) => {
      this.queue.push({ report, json, receivedAt: receivedAt.toISOString(), resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushes >= MAX_FLUSHES || this.queue.length === 0) return;
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

  private insertBatch(sql: Sql, batch: PendingReport[]): Promise<AddReportOutcome[]> {
    return sql.begin(async (tx) => {
      const column = <K extends keyof RunReport>(key: K) => batch.map((pending) => pending.report[key]);
      const inserted = await tx<Array<{ id: string }>>`
        INSERT INTO reports (id, agent, role, site, received_at, json)
        SELECT * FROM unnest(
          ${column('id') as string[]}::text[], ${column('agent') as string[]}::text[],
          ${column('role') as string[]}::text[], ${column('site') as string[]}::text[],
          ${batch.map((pending) => pending.receivedAt)}::text[], ${batch.map((pending) => pending.json)}::text[])
        ON CONFLICT (id) DO NOTHING
        RETURNING id`;
      const stored = new Set(inserted.map((row) => row.id));
      const others = batch.filter((pending) => !stored.has(pending.report.id)).map((pending) => pending.report.id);
      const owners = new Map<string, string>();
      if (others.length > 0) {
        for (const row of await tx<Array<{ id: string; agent: string }>>`
          SELECT id, agent FROM reports WHERE id = ANY(${others}::text[])`)
          owners.set(row.id, row.agent);
      }
      // The first copy of an id in the batch is the one stored; later copies are duplicates.
      return batch.map((pending) => {
        const { id, agent } = pending.report;
        if (stored.delete(id)) return { stored: true as const };
        return { stored: false as const, agent: owners.get(id) ?? agent };
      });
    }) as Promise<AddReportOutcome[]>;
  }

  getReport(id: string): Promise<StoredReport | null> {
    return this.run('reading a report', async (sql) => {
      const [row] = await sql<StoredReport[]>`
        SELECT id, agent, role, site, received_at, json FROM reports WHERE id = ${id}`;
      return row ?? null;
    });
  }

  latestReports(): Promise<LatestReport[]> {
    return this.run('reading the latest reports', async (sql) => {
      const rows = await sql<Array<{ json: string; received_at: string }>>`
        SELECT DISTINCT ON (agent) json, received_at FROM reports ORDER BY agent, seq DESC`;
      return rows.map((row) => ({ report: JSON.parse(row.json) as RunReport, received_at: row.received_at }));
    });
  }

  async pruneReports(cutoff: Date): Promise<number> {
    const before = cutoff.toISOString();
    let deleted = 0;
    for (;;) {
      const { count } = await this.run('deleting old reports', (sql) => sql`
        DELETE FROM reports WHERE seq IN (
          SELECT r.seq FROM reports r
          WHERE r.received_at < ${before}
            AND r.seq < (SELECT max(l.seq) FROM reports l WHERE l.agent = r.agent)
          ORDER BY r.seq LIMIT ${PRUNE_BATCH})`);
      deleted += count;
      if (count < PRUNE_BATCH || this.closed) return deleted;
    }
  }

  async addToken(token: TokenWithHash): Promise<void> {
    await this.run('storing a token', (sql) => sql`
      INSERT INTO tokens (id, kind, agent, role, hash, created_at, revoked_at)
      VALUES (${token.id}, ${token.kind}, ${token.agent}, ${token.role}, ${token.hash}, ${token.created_at}, ${token.revoked_at})`);
  }

  findToken(id: string): Promise<TokenWithHash | null> {
    return this.run('checking a token', async (sql) => {
      const [row] = await sql<TokenWithHash[]>`
        SELECT id, kind, agent, role, hash, created_at, revoked_at FROM tokens WHERE id = ${id}`;
      return row ? { ...row, hash: Buffer.from(row.hash) } : null;
    });
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

  async setBaseline(accepted: AcceptedBaseline): Promise<void> {
    await this.run('storing the baseline', (sql) => sql`
      INSERT INTO baseline (singleton, json, accepted_at, accepted_by)
      VALUES (1, ${JSON.stringify(accepted.baseline)}, ${accepted.accepted_at}, ${accepted.accepted_by})
      ON CONFLICT (singleton) DO UPDATE
        SET json = excluded.json, accepted_at = excluded.accepted_at, accepted_by = excluded.accepted_by`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Let queued reports commit (or fail) before the pool ends.
    while (this.queue.length > 0 || this.flushes > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    this.closed = true;
    await this.sql.end({ timeout: 5 });
  }
}

/** A pool on the URL; libpq's `?host=/socket/dir` is understood too. */
function connect(url: string, max: number): Sql {
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
    ...(socketDir ? { host: socketDir } : {}),
  });
}

/** Apply every migration not yet applied, under an advisory lock so that coordinators starting at once take turns. */
async function migrate(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK.toString()}::bigint)`;
    await tx`CREATE TABLE IF NOT EXISTS reachgate_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`;
    const applied = new Set((await tx<Array<{ version: number }>>`SELECT version FROM reachgate_migrations`).map((row) => row.version));
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
    }
  });
}
