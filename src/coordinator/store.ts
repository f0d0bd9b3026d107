import type { RunReport } from '../core/result.js';
import type { Baseline } from '../core/matrix.js';
import type { Receipt } from '../core/receipt.js';
import type { AlertRules, Delivery, DeliveryOutcome } from './alert-store.js';
import type { BaselineApproval, BaselineLink, LoggedLink } from './baseline-chain.js';
import type { CountSlices, KeptCounts, ReadQuery } from './cells.js';

/** A report as the coordinator stored it: the JSON exactly as the agent posted it. */
export interface StoredReport {
  id: string;
  agent: string;
  role: string | null;
  site: string | null;
  received_at: string;
  json: string;
}

/** The outcome of storing a report: stored now, or already there under that id (stored by `agent`). */
export type AddReportOutcome = { stored: true } | { stored: false; agent: string };

/** What a token grants: posting reports as one agent and role, or reading the matrix. */
export type TokenGrant = { kind: 'agent'; agent: string; role: string } | { kind: 'viewer' };

/** A token's record: what it grants and its life, never its secret. */
export interface TokenRecord {
  id: string;
  kind: 'agent' | 'viewer';
  agent: string | null;
  role: string | null;
  created_at: string;
  revoked_at: string | null;
}

/** A token's record with the SHA-256 of its secret, for verification only. */
export interface TokenWithHash extends TokenRecord {
  hash: Buffer;
}

/** A responder agent's post: who (its token's agent and role), when, its interval and the nonces it saw. */
export interface ReceiptPost {
  agent: string;
  role: string;
  at: Date;
  interval_s: number;
  receipts: readonly Receipt[];
}

/** The accepted matrix state that drift is measured against. */
export interface AcceptedBaseline {
  baseline: Baseline;
  accepted_at: string;
  /** The id of the viewer token that accepted it. */
  accepted_by: string | null;
}

/**
 * The store cannot be reached now (a network database down or restarting): the request may be
 * retried later. The server answers 503 with Retry-After; nothing was acknowledged.
 */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Type guard for StoreUnavailableError. */
export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError;
}

/**
 * Where the coordinator keeps reports, tokens and the baseline. Every method is asynchronous so
 * that a network database (PostgreSQL) can implement it; the SQLite store is the default.
 */
export interface Store {
  /**
   * How long after a probe started its nonce's receipt counts (ms, `--confirm-window`): the SQL that read()
   * runs and readCellResults judge with it. Coordinators sharing one database must use the same.
   */
  readonly confirmWindowMs: number;
  /** Store a report unless its id is already stored; resolves only once the row is committed. */
  addReport(report: RunReport, json: string, receivedAt: Date): Promise<AddReportOutcome>;
  /** One stored report by id, or null. */
  getReport(id: string): Promise<StoredReport | null>;
  /**
   * Run a read-only query with `?` placeholders on the cell tables (cells.ts), which the store keeps
   * in the same transaction as each report: every agent's latest report (latest received) as cells.
   */
  read<T>(sql: string, parameters: ReadonlyArray<string | number | null>): Promise<T[]>;
  /**
   * Run `work`'s reads on one consistent snapshot of the database (a whole-matrix count), never blocking ingest
   * for long: where reads run on the event loop (SQLite) `work` gets slices to count in, with a pause between.
   * Snapshots of one store run one at a time.
   */
  snapshot<T>(work: (read: ReadQuery, slices?: CountSlices) => Promise<T>): Promise<T>;
  /** Keep a whole-matrix count (the matrix_counts row) unless a newer one is already kept. */
  saveCounts(counts: KeptCounts): Promise<void>;
  /** Delete reports received before `cutoff`, always keeping every agent's latest; returns how many went. */
  pruneReports(cutoff: Date): Promise<number>;
  /**
   * Record a responder's heartbeat and the receipts of nonces not held yet (the first receipt of a nonce
   * is kept, a replay ignored), in one transaction; resolves to how many receipts were new.
   */
  addReceipts(post: ReceiptPost): Promise<number>;
  /** Delete receipts stored and responders last heard before `cutoff`; returns how many receipts went. */
  pruneReceipts(cutoff: Date): Promise<number>;
  /** Store a new token's record and the hash of its secret. */
  addToken(token: TokenWithHash): Promise<void>;
  /** One token by id, with its hash, or null. */
  findToken(id: string): Promise<TokenWithHash | null>;
  /** Every token, oldest first, without hashes. */
  listTokens(): Promise<TokenRecord[]>;
  /** Mark a token revoked; false when no token has that id. Revoking twice keeps the first time. */
  revokeToken(id: string, at: Date): Promise<boolean>;
  /** The accepted baseline, or null before the first one. */
  getBaseline(): Promise<AcceptedBaseline | null>;
  /**
   * Append a link to the baseline chain and make it the baseline drift is measured against (also as one
   * row per cell), in one transaction; two accepts at once (several coordinators) make two links in a row.
   */
  acceptBaseline(accepted: AcceptedBaseline & BaselineApproval): Promise<BaselineLink>;
  /** The newest `limit` links of the chain, oldest first, their cells hashed as stored; and how many there are. */
  baselineLog(limit: number): Promise<{ links: LoggedLink[]; total: number }>;
  /** Step the alerts' hysteresis on ingest and queue their events by these rules (null: no alerts). */
  setAlertRules(rules: AlertRules | null): void;
  /** Queue the events of agents that went stale or fresh since the last sweep; resolves to how many turned. */
  sweepStale(now: Date): Promise<number>;
  /**
   * Queue the firing alerts whose re-send is due for the rules' re-send webhooks and schedule the next; of
   * several coordinators at once, one queues each. Returns how many alerts were queued again.
   */
  resendFiring(now: Date): Promise<number>;
  /** Lease up to `limit` due deliveries for `leaseMs` (no other sender takes them meanwhile). */
  claimDeliveries(now: Date, limit: number, leaseMs: number): Promise<Delivery[]>;
  /** Record what became of claimed deliveries. */
  settleDeliveries(outcomes: readonly DeliveryOutcome[], now: Date): Promise<void>;
  /** Delete sent and given-up deliveries created before `cutoff`; returns how many went. */
  pruneDeliveries(cutoff: Date): Promise<number>;
  /** Finish pending writes and close. */
  close(): Promise<void>;
}
