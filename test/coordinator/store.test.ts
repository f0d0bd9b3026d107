import t from 'tap';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import { authenticate, createToken } from '../../src/coordinator/tokens.js';
import { isUsageError } from '../../src/core/usage-error.js';
import { makeReport, tempDir } from './coordinator-process.js';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

const DAY_MS = 86_400_000;

t.test('a new database is private, in WAL mode, and at the latest schema version', async (t) => {
  const db = join(tempDir(t), 'new.db');
  const store = SqliteStore.open(db);
  await store.close();
  t.equal(statSync(db).mode & 0o777, 0o600);
  const raw = new Database(db, { readonly: true });
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(raw.pragma('user_version', { simple: true }), 1);
  t.same(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all(), [
    'baseline',
    'reports',
    'tokens',
  ]);
  raw.close();
});

t.test('a database from a newer reachgate is refused with a message that says what to do', async (t) => {
  const db = join(tempDir(t), 'newer.db');
  const raw = new Database(db);
  raw.pragma('user_version = 99');
  raw.close();
  t.throws(() => SqliteStore.open(db), {
    name: 'UsageError',
    message: `the database ${db} has schema version 99; this reachgate knows up to 1`,
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

t.test('a report id is stored once, also when the copies arrive in the same transaction', async (t) => {
  const store = SqliteStore.open(join(tempDir(t), 'reports.db'));
  const report = makeReport('ws-01', 'workstation');
  const json = JSON.stringify(report);
  const outcomes = await Promise.all(Array.from({ length: 5 }, () => store.addReport(report, json, new Date())));
  t.same(outcomes, [
    { stored: true },
    { stored: false, agent: 'ws-01' },
    { stored: false, agent: 'ws-01' },
    { stored: false, agent: 'ws-01' },
    { stored: false, agent: 'ws-01' },
  ]);
  t.equal((await store.getReport(report.id))?.json, json, 'the JSON is kept as posted');
  await store.close();
});

t.test('the latest report of each agent is what the matrix gets, also after reopening', async (t) => {
  const db = join(tempDir(t), 'latest.db');
  let store = SqliteStore.open(db);
  const older = makeReport('ws-01', 'workstation');
  const newer = makeReport('ws-01', 'workstation');
  const other = makeReport('tg-01', 'tightgate');
  for (const report of [older, newer, other]) await store.addReport(report, JSON.stringify(report), new Date());
  const ids = async () => (await store.latestReports()).map((entry) => entry.report.id).sort();
  t.same(await ids(), [newer.id, other.id].sort());
  await store.close();
  store = SqliteStore.open(db);
  t.same(await ids(), [newer.id, other.id].sort());
  await store.close();
});

t.test("retention deletes reports older than the cutoff but always keeps every agent's latest", async (t) => {
  const store = SqliteStore.open(join(tempDir(t), 'retention.db'));
  const now = Date.now();
  const at = (days: number) => new Date(now - days * DAY_MS);
  // ws-01 reported long ago and recently; tg-01 only long ago (silent since: its latest stays).
  const plan: Array<[string, string, number]> = [
    ['ws-01', 'workstation', 40],
    ['ws-01', 'workstation', 35],
    ['ws-01', 'workstation', 1],
    ['tg-01', 'tightgate', 50],
    ['tg-01', 'tightgate', 45],
  ];
  const stored: Record<string, string[]> = {};
  for (const [agent, role, days] of plan) {
    const report = makeReport(agent, role);
    await store.addReport(report, JSON.stringify(report), at(days));
    (stored[agent] ??= []).push(report.id);
  }
  for (let i = 0; i < 1200; i++) {
    const report = makeReport('ws-02', 'workstation', { results: 1 });
    await store.addReport(report, JSON.stringify(report), at(60));
    (stored['ws-02'] ??= []).push(report.id);
  }
  const deleted = await store.pruneReports(at(30));
  t.equal(deleted, 2 + 1 + 1199, 'in batches, more than one batch of them');
  const present = async (id: string) => (await store.getReport(id)) !== null;
  t.same(await Promise.all(stored['ws-01']!.map(present)), [false, false, true]);
  t.same(await Promise.all(stored['tg-01']!.map(present)), [false, true], 'a silent agent keeps its latest');
  t.ok(await present(stored['ws-02']!.at(-1)!));
  t.equal(await store.pruneReports(at(30)), 0, 'a second run finds nothing');
  t.equal((await store.latestReports()).length, 3);
  await store.close();
});

t.test('tokens: only a hash is stored; the right token authenticates, a wrong or revoked one does not', async (t) => {
  const db = join(tempDir(t), 'tokens.db');
  const store = SqliteStore.open(db);
  const { token, record } = await createToken(store, { kind: 'agent', agent: 'ws-01', role: 'workstation' });
  t.match(token, /^rg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  const secret = token.slice(20);
  t.same(await authenticate(store, token), { ok: true, token: record });
  t.match(await authenticate(store, `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`), {
    ok: false,
    reason: 'unknown token',
  });
  t.match(await authenticate(store, `rg_ffffffffffffffff_${secret}`), { ok: false, reason: 'unknown token' });
  t.match(await authenticate(store, undefined), { ok: false, reason: /no token/ });
  t.ok(await store.revokeToken(record.id, new Date('2026-11-26T12:00:00Z')));
  t.ok(await store.revokeToken(record.id, new Date('2026-11-27T12:00:00Z')), 'revoking twice is fine');
  t.same(await authenticate(store, token), {
    ok: false,
    reason: `the token ${record.id} was revoked at 2026-11-26T12:00:00.000Z`,
  });
  t.notOk(await store.revokeToken('0000000000000000', new Date()));
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

t.test('an agent token needs a printable agent name and role', async (t) => {
  const store = SqliteStore.open(join(tempDir(t), 'names.db'));
  await t.rejects(createToken(store, { kind: 'agent', agent: '', role: 'workstation' }), {
    message: 'Expected `--agent` to be 1 to 128 printable characters, got ""',
  });
  await t.rejects(createToken(store, { kind: 'agent', agent: 'ws\n01', role: 'workstation' }), { name: 'UsageError' });
  await t.rejects(createToken(store, { kind: 'agent', agent: 'ws-01', role: 'r'.repeat(129) }), {
    message: /`--role` to be 1 to 128/,
  });
  t.same(await store.listTokens(), []);
  await store.close();
});

t.test('the accepted baseline survives a reopen', async (t) => {
  const db = join(tempDir(t), 'baseline.db');
  let store = SqliteStore.open(db);
  t.equal(await store.getBaseline(), null);
  const accepted = {
    baseline: { 'ws-01|viewer': 'pass', 'tg-01|viewer': 'fail' },
    accepted_at: '2026-11-26T12:00:00.000Z',
    accepted_by: 'abcdef0123456789',
  };
  await store.setBaseline(accepted);
  await store.close();
  store = SqliteStore.open(db);
  t.same(await store.getBaseline(), accepted);
  await store.close();
});
