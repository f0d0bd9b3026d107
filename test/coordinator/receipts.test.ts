import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import type { MatrixCell } from '../../src/core/matrix.js';
import type { ProbeResult, RunReport } from '../../src/core/result.js';
import { newNonce, type Receipt } from '../../src/core/receipt.js';
import { createCoordinatorServer } from '../../src/coordinator/server.js';
import { PgStore } from '../../src/coordinator/pg-store.js';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import type { Store } from '../../src/coordinator/store.js';
import { startPostgres, whyNoPostgres } from '../helpers/postgres.js';
import { createToken } from '../../src/coordinator/tokens.js';
import { matrixAsset, matrixHtmlParts, renderOverviewHtml } from '../../src/report/html-matrix.js';
import { tempDir } from './coordinator-process.js';

// The coordinator judges a one-way probe (confirm: syslog-server) by the receipts responder agents report
// with their own tokens. Two coordinators share one store: one takes the posts, the other serves the matrix,
// so the receipts, heartbeats and judgement live in the store. In-process (inject), on a clock the test moves.
const START = Date.parse('2026-11-30T03:00:00.000Z');
let clock = START;

function coordinator(t: Test, store: Store): FastifyInstance {
  const app = createCoordinatorServer({
    store,
    logger: pino({ level: 'silent' }),
    page: { render: matrixHtmlParts, overview: renderOverviewHtml, asset: matrixAsset },
    now: () => new Date(clock),
  });
  t.teardown(async () => {
    await app.close();
    await store.close();
  });
  return app;
}

let reports = 0;
/** A workstation report of one syslog-over-UDP row per nonce, each filtered and inconclusive at the agent. */
function oneWayReport(rows: Record<string, string>): RunReport {
  const results: ProbeResult[] = Object.entries(rows).map(([row, nonce]) => ({
    id: `workstation/${row}/syslog/198.51.100.10:514`,
    row,
    kind: 'syslog',
    target: { host: 'syslog', address: '198.51.100.10', port: 514, protocol: 'udp' },
    expect: 'reachable',
    state: 'filtered',
    verdict: 'inconclusive',
    reason: 'sent 1 message and no ICMP error came back within 1 s; syslog over UDP never answers',
    attempts: 1,
    started_at: new Date(START).toISOString(),
    evidence: { transport: 'udp', nonce },
    confirm: 'syslog-server',
  }));
  return {
    id: `report-${++reports}`,
    agent: 'ws-01',
    role: 'workstation',
    site: 'lab',
    profile: null,
    version: '0.1.0',
    started_at: new Date(START).toISOString(),
    finished_at: new Date(START + 1000).toISOString(),
    results,
    summary: { pass: 0, fail: 0, inconclusive: results.length, error: 0 },
    interval_s: 60,
  };
}

function receipt(nonce: string, at = START + 200, source = '192.0.2.2'): Receipt {
  return {
    nonce,
    protocol: 'udp',
    source,
    source_port: 40514,
    port: 514,
    received_at: new Date(at).toISOString(),
    copies: 1,
  };
}

/** The scenario on two coordinators (`writer` takes the posts, `reader` serves the matrix) sharing one store. */
async function scenario(t: Test, writer: FastifyInstance, reader: FastifyInstance, store: Store): Promise<void> {
  clock = START;
  const token = async (agent: string, role: string) => (await createToken(store, { kind: 'agent', agent, role })).token;
  const [wsToken, responderToken, otherRoleToken, viewerToken] = [
    await token('ws-01', 'workstation'),
    await token('log-01', 'syslog-server'),
    await token('dns-01', 'dns-server'),
    (await createToken(store, { kind: 'viewer' })).token,
  ];
  const post = (url: string, bearer: string, payload: unknown) =>
    writer.inject({ method: 'POST', url, headers: { authorization: `Bearer ${bearer}` }, payload: payload as object });
  const cells = async (): Promise<
    Record<string, { verdict: string; reason: string; reported?: string; counts: Record<string, number> }>
  > => {
    const answer = await reader.inject({
      url: '/api/v1/matrix?results=true',
      headers: { authorization: `Bearer ${viewerToken}` },
    });
    const matrix = answer.json<{ cells: Array<MatrixCell & { counts: Record<string, number> }> }>();
    return Object.fromEntries(
      matrix.cells.map((cell) => {
        const result = cell.results[0]!;
        const judged = { verdict: cell.verdict, reason: result.reason, counts: cell.counts };
        return [cell.row, { ...judged, reported: result.reported_verdict }];
      }),
    );
  };

  const nonces = {
    delivered: newNonce(),
    dropped: newNonce(),
    otherRole: newNonce(),
    replayed: newNonce(),
  };
  t.equal((await post('/api/v1/reports', wsToken, oneWayReport(nonces))).statusCode, 201);

  const before = await cells();
  for (const row of Object.keys(nonces)) {
    t.equal(before[row]!.verdict, 'inconclusive', row);
    t.match(before[row]!.reason, /not confirmed: no responder of role syslog-server has reported/);
  }

  // A responder of another role reports a nonce: held, but it proves nothing for a syslog-server row.
  clock = START + 500;
  const forged = await post('/api/v1/receipts', otherRoleToken, {
    receipts: [receipt(nonces.otherRole)],
    interval_s: 30,
  });
  t.equal(forged.statusCode, 200);
  // The syslog responder: the delivered nonce in time, a replay of another nonce long after the window, a nonce
  // no probe sent, and a viewer token that may not post receipts at all.
  const replayedLate = receipt(nonces.replayed, START + 10 * 60_000, '203.0.113.9');
  const answer = await post('/api/v1/receipts', responderToken, {
    receipts: [receipt(nonces.delivered), replayedLate, receipt(newNonce())],
    interval_s: 30,
  });
  t.same(answer.json(), { accepted: 3, ignored: 0 });
  const again = await post('/api/v1/receipts', responderToken, { receipts: [receipt(nonces.delivered, START + 900)] });
  t.same(again.json(), { accepted: 0, ignored: 1 }, 'a nonce reported again keeps its first receipt');
  t.equal((await post('/api/v1/receipts', viewerToken, { receipts: [] })).statusCode, 403);
  t.equal((await post('/api/v1/receipts', 'rg_0000000000000000_x', { receipts: [] })).statusCode, 401);
  const bad = await post('/api/v1/receipts', responderToken, {
    receipts: [{ ...receipt(newNonce()), nonce: 'rgn-guess' }],
  });
  t.equal(bad.statusCode, 422);
  t.match(bad.json(), { message: /receipts\[0\]: `nonce` must be rgn- and 32 hex digits/ });

  let now = await cells();
  t.equal(now.delivered!.verdict, 'pass');
  t.equal(now.delivered!.reported, 'inconclusive');
  t.match(
    now.delivered!.reason,
    /delivered: responder log-01 \(syslog-server\) saw its nonce on udp\/514 from 192\.0\.2\.2:40514/,
  );
  t.equal(now.dropped!.verdict, 'inconclusive', 'the responder has not reported past the window yet');
  t.match(now.dropped!.reason, /waiting for responder log-01/);

  // The responder reports again after the window: fresh, and still without the dropped nonce.
  clock = START + 70_000;
  await post('/api/v1/receipts', responderToken, { receipts: [], interval_s: 30 });
  now = await cells();
  t.equal(now.delivered!.verdict, 'pass');
  t.equal(now.dropped!.verdict, 'fail');
  t.match(now.dropped!.reason, /not delivered: responder log-01 \(syslog-server\) reported at .* without its nonce/);
  t.equal(now.otherRole!.verdict, 'fail', "another role's receipt is ignored: the fresh syslog-server saw nothing");
  t.equal(now.replayed!.verdict, 'fail', 'a receipt outside the window does not count');

  // The responder falls silent for longer than twice its interval: what it did not see proves nothing any more.
  clock = START + 70_000 + 61_000;
  now = await cells();
  t.equal(now.dropped!.verdict, 'inconclusive');
  t.match(now.dropped!.reason, /responder log-01 \(syslog-server\) is stale/);
  t.equal(now.delivered!.verdict, 'pass', 'a receipt that came stays proof');
  t.same(now.delivered!.counts, { pass: 1, fail: 0, inconclusive: 0, error: 0 });
  t.same(now.dropped!.counts, { pass: 0, fail: 0, inconclusive: 1, error: 0 });

  // A post with an id is acknowledged by it (the agent's courier needs that), and bounded in size.
  const acked = await post('/api/v1/receipts', responderToken, { id: 'receipts-1', receipts: [] });
  t.same(acked.json(), { id: 'receipts-1', stored: true, accepted: 0, ignored: 0 });
  const many = Array.from({ length: 1001 }, () => receipt(newNonce()));
  t.equal((await post('/api/v1/receipts', responderToken, { receipts: many })).statusCode, 400);

  // Retention deletes receipts stored before the cutoff and responders not heard since.
  t.equal(await store.pruneReceipts(new Date(START + 60_000)), 4);
  now = await cells();
  t.equal(now.delivered!.verdict, 'fail', 'its receipt is gone, and the fresh responder reported without it');
  t.equal(await store.pruneReceipts(new Date(clock + 1)), 0);
  now = await cells();
  t.match(now.dropped!.reason, /no responder of role syslog-server has reported/);
}

/**
 * The coordinator's --confirm-window: `short` (a store opened with a 10 s window) judges a receipt 15 s after the
 * probe started as too late and a responder fresh 20 s after it as covering the window; `usual` (the default
 * 60 s, on the same database) judges the same rows as delivered and still waiting.
 */
async function windowScenario(t: Test, short: FastifyInstance, usual: FastifyInstance, store: Store): Promise<void> {
  clock = START;
  t.equal(store.confirmWindowMs, 10_000);
  const wsToken = (await createToken(store, { kind: 'agent', agent: 'ws-01', role: 'workstation' })).token;
  const responderToken = (await createToken(store, { kind: 'agent', agent: 'log-01', role: 'syslog-server' })).token;
  const viewerToken = (await createToken(store, { kind: 'viewer' })).token;
  const nonces = { inTime: newNonce(), late: newNonce(), dropped: newNonce() };
  const post = (url: string, bearer: string, payload: object) =>
    short.inject({ method: 'POST', url, headers: { authorization: `Bearer ${bearer}` }, payload });
  t.equal((await post('/api/v1/reports', wsToken, oneWayReport(nonces))).statusCode, 201);
  clock = START + 20_000;
  const answer = await post('/api/v1/receipts', responderToken, {
    receipts: [receipt(nonces.inTime, START + 5_000), receipt(nonces.late, START + 15_000)],
    interval_s: 30,
  });
  t.same(answer.json(), { accepted: 2, ignored: 0 });
  const judged = async (app: FastifyInstance) => {
    const matrix = (
      await app.inject({ url: '/api/v1/matrix?results=true', headers: { authorization: `Bearer ${viewerToken}` } })
    ).json<{ cells: Array<MatrixCell & { counts: Record<string, number> }> }>();
    return Object.fromEntries(
      matrix.cells.map((cell) => [
        cell.row,
        { verdict: cell.verdict, fail: cell.counts.fail, why: cell.results[0]!.reason },
      ]),
    );
  };
  const windowed = await judged(short);
  t.match(windowed.inTime, { verdict: 'pass', fail: 0, why: /delivered: responder log-01/ });
  t.match(
    windowed.late,
    { verdict: 'fail', fail: 1, why: /not delivered: responder log-01 \(syslog-server\) reported at/ },
    'a receipt after the configured window does not count',
  );
  t.match(
    windowed.dropped,
    { verdict: 'fail', fail: 1, why: /not delivered: responder log-01/ },
    'a responder fresh after the configured window turns the row to fail',
  );
  const defaults = await judged(usual);
  t.match(defaults.late, { verdict: 'pass', why: /delivered: responder log-01/ }, 'within the default window');
  t.match(defaults.dropped, { verdict: 'inconclusive', why: /waiting for responder log-01/ });
}

t.test('on SQLite: the configured confirmation window judges receipts and responders', async (t) => {
  const file = join(tempDir(t), 'window.db');
  t.throws(() => SqliteStore.open(file, { confirmWindowMs: 0 }), RangeError, 'a window out of bounds opens nothing');
  const store = SqliteStore.open(file, { confirmWindowMs: 10_000 });
  await windowScenario(t, coordinator(t, store), coordinator(t, SqliteStore.open(file)), store);
});

t.test('on SQLite: receipts judge the sending probe, delivered, dropped, forged, replayed and stale', async (t) => {
  const file = join(tempDir(t), 'reachgate.db');
  const writer = coordinator(t, SqliteStore.open(file));
  const store = SqliteStore.open(file);
  await scenario(t, writer, coordinator(t, store), store);
});

t.test('on PostgreSQL: two coordinators agree on the receipts, and a configured window holds', async (t) => {
  const why = whyNoPostgres();
  if (why !== null) {
    t.plan(0, `PostgreSQL: ${why}`);
    return;
  }
  const pg = startPostgres(t);
  const url = pg.newDatabase();
  const writer = coordinator(t, await PgStore.open(url));
  const store = await PgStore.open(url);
  await scenario(t, writer, coordinator(t, store), store);
  await t.rejects(
    PgStore.open(url, { confirmWindowMs: 3_600_001 }),
    RangeError,
    'a window out of bounds opens nothing',
  );
  const windowUrl = pg.newDatabase();
  const short = await PgStore.open(windowUrl, { confirmWindowMs: 10_000 });
  await windowScenario(t, coordinator(t, short), coordinator(t, await PgStore.open(windowUrl)), short);
});
