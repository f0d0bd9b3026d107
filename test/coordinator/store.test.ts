import t from 'tap';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import { MAX_QUEUED_READS } from '../../src/coordinator/sqlite-reader.js';
import { isStoreUnavailable } from '../../src/coordinator/store.js';
import { authenticate, createToken } from '../../src/coordinator/tokens.js';
import { isUsageError } from '../../src/core/usage-error.js';
import { makeReport, tempDir } from './coordinator-process.js';
import { newNonce } from '../../src/core/receipt.js';
import { storeContract } from './store-contract.js';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

t.test('a new database is private, in WAL mode, and at the latest schema version', async (t) => {
  const db = join(tempDir(t), 'new.db');
  const store = SqliteStore.open(db);
  await store.close();
  t.equal(statSync(db).mode & 0o777, 0o600);
  const raw = new Database(db, { readonly: true });
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(raw.pragma('user_version', { simple: true }), SqliteStore.schemaVersion);
  t.same(
    raw.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all(),
    Array.from({ length: SqliteStore.schemaVersion }, (_, index) => index + 1),
  );
  t.same(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all(), [
    'agents',
    'alert_agents',
    'alert_cells',
    'alert_outbox',
    'baseline',
    'baseline_cells',
    'baseline_links',
    'cells',
    'confirm_needs',
    'control_needs',
    'matrix_counts',
    'open_seen',
    'receipts',
    'reports',
    'responders',
    'schema_migrations',
    'tokens',
  ]);
  raw.close();
});

t.test('a version 2 database migrates to version 3: the cells are filled again, confirm rows apart', async (t) => {
  const db = join(tempDir(t), 'v2.db');
  const report = makeReport('ws-01', 'workstation', { results: 2 });
  report.results[0] = {
    ...report.results[0]!,
    state: 'filtered',
    verdict: 'inconclusive',
    evidence: { nonce: newNonce() },
    confirm: 'syslog-server',
  };
  const store = SqliteStore.open(db);
  await store.addReport(report, JSON.stringify(report), new Date());
  await store.close();
  // Back to version 2 as it was: no receipt tables, the confirm row counted in its cell as the agent judged it.
  const raw = new Database(db);
  raw.exec(`DROP TABLE confirm_needs; DROP TABLE receipts; DROP TABLE responders;
            DROP TABLE baseline_links; DROP TABLE alert_cells; DROP TABLE alert_agents; DROP TABLE alert_outbox;
            ALTER TABLE agents DROP COLUMN cells_digest;
            DROP INDEX agents_order; ALTER TABLE agents DROP COLUMN cell_count;
            DROP TABLE matrix_counts;
            DELETE FROM schema_migrations WHERE version >= 3;
            UPDATE cells SET rank = 1, inconclusive = inconclusive + 1 WHERE row_name = 'row-0'`);
  raw.pragma('user_version = 2');
  raw.close();
  const migrated = SqliteStore.open(db);
  t.teardown(() => migrated.close());
  t.same(await migrated.read('SELECT row_name, role FROM confirm_needs', []), [
    { row_name: 'row-0', role: 'syslog-server' },
  ]);
  t.same(await migrated.read("SELECT results, inconclusive FROM cells WHERE row_name = 'row-0'", []), [
    { results: 1, inconclusive: 0 },
  ]);
  t.same(await migrated.read('SELECT MAX(version) AS v FROM schema_migrations', []), [
    { v: SqliteStore.schemaVersion },
  ]);
});

t.test(
  'a version 7 database migrates to version 8: each agent counts its cells, and the matrix sums them',
  async (t) => {
    const db = join(tempDir(t), 'v7.db');
    const store = SqliteStore.open(db);
    for (const [agent, results] of [
      ['ws-01', 2],
      ['ws-02', 3],
    ] as const) {
      const report = makeReport(agent, 'workstation', { results });
      await store.addReport(report, JSON.stringify(report), new Date());
    }
    await store.close();
    const raw = new Database(db);
    raw.exec(`DROP INDEX agents_order; ALTER TABLE agents DROP COLUMN cell_count;
            DELETE FROM schema_migrations WHERE version >= 8`);
    raw.pragma('user_version = 7');
    raw.close();
    const migrated = SqliteStore.open(db);
    t.teardown(() => migrated.close());
    t.same(await migrated.read('SELECT agent, cell_count FROM agents ORDER BY agent', []), [
      { agent: 'ws-01', cell_count: 2 },
      { agent: 'ws-02', cell_count: 3 },
    ]);
    const report = makeReport('ws-01', 'workstation', { results: 4 });
    await migrated.addReport(report, JSON.stringify(report), new Date());
    t.same(
      await migrated.read('SELECT SUM(cell_count) AS n FROM agents', []),
      await migrated.read('SELECT COUNT(*) AS n FROM cells', []),
      'a newer report keeps the sum the number of cells',
    );
    t.same(await migrated.read("SELECT cell_count FROM agents WHERE agent = 'ws-01'", []), [{ cell_count: 4 }]);
  },
);

t.test('a database from a newer reachgate is refused with a message that says what to do', async (t) => {
  const db = join(tempDir(t), 'newer.db');
  const raw = new Database(db);
  raw.pragma('user_version = 99');
  raw.close();
  t.throws(() => SqliteStore.open(db), {
    name: 'UsageError',
    message: `the database ${db} has schema version 99; this reachgate knows up to ${SqliteStore.schemaVersion}`,
  });
});

t.test('a file that is not a database is refused as a usage error, not a crash', async (t) => {
  const dir = tempDir(t);
  const notDb = join(dir, 'profile.yaml');
  writeFileSync(notDb, 'role: workstation\n'.repeat(200));
  try {
    SqliteStore.open(notDb);
    t.fail('opened a YAML file as a database');
  } catch (error) {
    t.ok(isUsageError(error));
    t.match((error as Error).message, `cannot open the database ${notDb}: file is not a database`);
  }
  t.throws(() => SqliteStore.open(join(dir, 'missing.db'), { mustExist: true }), {
    message: `no database at ${join(dir, 'missing.db')}`,
  });
});

t.test('tokens: only a hash is stored, the secret is nowhere in the database files', async (t) => {
  const db = join(tempDir(t), 'tokens.db');
  const store = SqliteStore.open(db);
  const { token, record } = await createToken(store, { kind: 'agent', agent: 'ws-01', role: 'workstation' });
  t.match(token, /^rg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  const secret = token.slice(20);
  t.same(await authenticate(store, token), { ok: true, token: record });
  await store.close();
  const raw = new Database(db, { readonly: true });
  const row = raw.prepare('SELECT * FROM tokens').get() as Record<string, unknown>;
  raw.close();
  t.equal((row.hash as Buffer).length, 32, 'a SHA-256 hash');
  const files = [db, `${db}-wal`]
    .filter((path) => existsSync(path))
    .map((path) => readFileSync(path).toString('latin1'))
    .join('');
  t.notMatch(files, secret, 'the secret is nowhere in the database files');
});

t.test(
  'token secrets are compared with crypto.timingSafeEqual, never with == or Buffer.equals (review check)',
  async (t) => {
    const source = readFileSync(join(PACKAGE_ROOT, 'src/coordinator/tokens.ts'), 'utf8');
    t.match(source, /timingSafeEqual\(hashSecret\(/);
    t.notMatch(source, /\.equals\(|hash\s*===|===\s*\w*hash/i);
  },
);

t.test('the Store contract, on SQLite', async (t) => {
  const dir = tempDir(t);
  storeContract(t, {
    open: async (_t, name) => SqliteStore.open(join(dir, `${name}.db`)),
    change: async (name, sql) => {
      const raw = new Database(join(dir, `${name}.db`));
      raw.exec(sql);
      raw.close();
    },
  });
});

t.test(
  'reads run in a reader thread: past its bound they are refused as unavailable (503), then served again',
  async (t) => {
    const store = SqliteStore.open(join(tempDir(t), 'reader.db'));
    t.teardown(() => store.close());
    const outcomes = await Promise.all(
      Array.from({ length: MAX_QUEUED_READS + 5 }, () =>
        store.read<{ one: number }>('SELECT 1 AS one', []).then(
          (rows) => (rows[0]?.one === 1 ? 'read' : 'wrong'),
          (error: unknown) => (isStoreUnavailable(error) ? 'refused' : String(error)),
        ),
      ),
    );
    t.equal(outcomes.filter((outcome) => outcome === 'read').length, MAX_QUEUED_READS, 'as many as the bound are read');
    t.equal(outcomes.filter((outcome) => outcome === 'refused').length, 5, 'the rest are refused, not queued');
    t.same(await store.read('SELECT 2 AS two', []), [{ two: 2 }], 'and the next read is served');
    await t.rejects(store.read('SELECT x FROM nowhere', []), /no such table: nowhere/, 'a bad query is an error');
    t.same(await store.read('SELECT 3 AS three', []), [{ three: 3 }], 'which leaves the reader working');
  },
);
