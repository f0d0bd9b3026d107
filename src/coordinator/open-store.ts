import type { Store } from './store.js';

/** Options for opening a store by its `--db` name. */
export interface OpenStoreOptions {
  /** SQLite: refuse to create the file (token list/revoke: a typo must not make an empty database). */
  mustExist?: boolean;
  /** Results older than this are stale whatever interval the agent claims. */
  staleAfterMs?: number;
  /** How long after a probe started its nonce's receipt counts (ms, `--confirm-window`). */
  confirmWindowMs?: number;
}

/** Whether `--db` names a PostgreSQL database (postgres:// or postgresql:// URL) rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/**
 * Open the store `--db` names: a postgres:// URL is PostgreSQL (its client loaded only then), anything
 * else a SQLite file. Either way the schema is brought up to date first.
 */
export async function openStore(db: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (isPostgresUrl(db)) {
    const { PgStore } = await import('./pg-store.js');
    const { mustExist: _sqliteOnly, ...pgOptions } = options;
    return PgStore.open(db, pgOptions);
  }
  const { SqliteStore } = await import('./sqlite-store.js');
  return SqliteStore.open(db, options);
}
