// Two coordinator processes on one real PostgreSQL server behave as one; a database restart under
// load answers 503 and loses nothing that was acknowledged; with --alerts, both send and each event
// reaches the webhook once.
import t from 'tap';
import { PgStore } from '../../src/coordinator/pg-store.js';
import { createToken } from '../../src/coordinator/tokens.js';
import { startPostgres, whyNoPostgres } from '../helpers/postgres.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  call,
  makeReport,
  postReport,
  startCoordinator,
  tempDir,
  type CoordinatorProcess,
} from './coordinator-process.js';
import { receiver, report, until } from './webhook-receiver.js';

const AGENTS = 6;
/** Reports each agent posts in the burst. */
const BURST = 20;

const why = whyNoPostgres();
if (why !== null) {
  t.plan(0, `two coordinators on PostgreSQL: ${why}`);
} else {
  const root = t;
  const pg = startPostgres(t);
  const url = pg.newDatabase();
  const admin = await PgStore.open(url);
  t.teardown(() => admin.close());
  const viewer = (await createToken(admin, { kind: 'viewer' })).token;
  const names = Array.from({ length: AGENTS }, (_, index) => `ws-${String(index + 1).padStart(2, '0')}`);
  const tokens = new Map<string, string>();
  for (const name of names)
    tokens.set(name, (await createToken(admin, { kind: 'agent', agent: name, role: 'workstation' })).token);

  let a: CoordinatorProcess = await startCoordinator(t, url);
  const b: CoordinatorProcess = await startCoordinator(t, url);
  /** Every acknowledged report id, per agent, in order. */
  const acked = new Map<string, string[]>(names.map((name) => [name, []]));

  const storedCounts = async (): Promise<Map<string, number>> =>
    new Map(
      (
        await admin.query<{ id: string; n: number }>(
          'SELECT id, CAST(COUNT(*) AS INTEGER) AS n FROM reports GROUP BY id',
        )
      ).map((row) => [row.id, row.n]),
    );
  const matrixOf = async (coordinator: CoordinatorProcess) => {
    const answer = await call(`${coordinator.url}/api/v1/matrix`, { token: viewer });
    t.equal(answer.status, 200, `${coordinator.url}: matrix`);
    const { generated_at: _at, ...matrix } = answer.json();
    return { matrix, etag: answer.headers.etag };
  };

  t.test('the same report id posted to both at once is stored once: one 201, one 200', async (t) => {
    const report = makeReport('ws-01', 'workstation');
    const answers = await Promise.all([a, b].map((one) => postReport(one.url, tokens.get('ws-01'), report)));
    t.same(answers.map((answer) => answer.status).sort(), [200, 201]);
    t.equal((await storedCounts()).get(report.id), 1);
    acked.get('ws-01')!.push(report.id);
  });

  t.test('a token created or revoked through one is honoured by the other on its next request', async (t) => {
    const fresh = await createToken(admin, { kind: 'agent', agent: 'ws-99', role: 'workstation' });
    const report = makeReport('ws-99', 'workstation');
    t.equal((await postReport(b.url, fresh.token, report)).status, 201, 'a token made elsewhere works at once');
    await admin.revokeToken(fresh.record.id, new Date());
    for (const one of [a, b]) {
      const answer = await postReport(one.url, fresh.token, makeReport('ws-99', 'workstation'));
      t.equal(answer.status, 401, `${one.url}: revoked`);
    }
    acked.set('ws-99', [report.id]);
  });

  t.test(
    'agents post to both alternately; one is killed mid-burst; every acked report is there exactly once',
    async (t) => {
      let killed = false;
      const retriedOnB: string[] = [];
      const agentLoop = async (name: string): Promise<void> => {
        for (let i = 0; i < BURST; i++) {
          const report = makeReport(name, 'workstation', { intervalS: 600 });
          const first = i % 2 === 0 ? a : b;
          let answer = await postReport(first.url, tokens.get(name), report).catch(() => null);
          if (answer === null || answer.status >= 500) {
            // What a load balancer does with a dead backend: the agent's retry lands on the survivor.
            retriedOnB.push(report.id);
            answer = await postReport(b.url, tokens.get(name), report);
          }
          t.ok([200, 201].includes(answer.status), `${name} #${i}: ${answer.status} ${answer.text}`);
          if (answer.status === 200 || answer.status === 201) acked.get(name)!.push(report.id);
          if (!killed && name === names[0] && i === BURST / 2) {
            killed = true;
            a.child.kill('SIGKILL');
          }
        }
      };
      await Promise.all(names.map(agentLoop));
      t.ok(killed, 'the first coordinator was killed');
      t.equal((await a.exited).signal, 'SIGKILL');
      const counts = await storedCounts();
      const all = [...acked.values()].flat();
      t.same(
        all.filter((id) => counts.get(id) !== 1),
        [],
        `all ${all.length} acknowledged reports stored exactly once (${retriedOnB.length} retried on the survivor)`,
      );
      const { matrix } = await matrixOf(b);
      const agents = (matrix.agents as Array<{ name: string; report_id: string }>).map((agent) => [
        agent.name,
        agent.report_id,
      ]);
      t.same(
        agents.sort(),
        [...acked.entries()].map(([name, ids]) => [name, ids.at(-1)]).sort(),
        "the survivor's matrix has each agent's last acknowledged report",
      );
    },
  );

  t.test('the killed coordinator restarts and agrees with the survivor, ETag included', async (t) => {
    a = await startCoordinator(root, url);
    const [fromA, fromB] = await Promise.all([matrixOf(a), matrixOf(b)]);
    t.same(fromA.matrix, fromB.matrix);
    t.equal(fromA.etag, fromB.etag);
    const again = await call(`${a.url}/api/v1/matrix`, {
      token: viewer,
      headers: { 'if-none-match': String(fromB.etag) },
    });
    t.equal(again.status, 304, "one coordinator's ETag holds at the other");
    const accepted = await call(`${a.url}/api/v1/baseline`, {
      token: viewer,
      body: JSON.stringify({ approver: 'A. Admin', change: 'CHG-1' }),
    });
    t.equal(accepted.status, 200);
    const afterBaseline = await call(`${b.url}/api/v1/matrix`, {
      token: viewer,
      headers: { 'if-none-match': String(fromB.etag) },
    });
    t.equal(afterBaseline.status, 200, 'a baseline accepted through one changes the ETag at the other');
    t.equal(afterBaseline.json().drift_count, 0, 'one baseline: the other measures drift against it');
  });

  t.test(
    'PostgreSQL stopped and started under load: only 503s meanwhile, nothing acked lost, each delivered once',
    async (t) => {
      const statuses = new Map<number, number>();
      const pending = new Map<string, ReturnType<typeof makeReport>[]>(names.map((name) => [name, []]));
      /** One round: every agent makes a report and delivers what it holds, oldest first, keeping what is refused. */
      const round = async (): Promise<void> => {
        await Promise.all(
          names.map(async (name, index) => {
            const spool = pending.get(name)!;
            spool.push(makeReport(name, 'workstation', { intervalS: 600 }));
            while (spool.length > 0) {
              const answer = await postReport((index % 2 === 0 ? a : b).url, tokens.get(name), spool[0]);
              statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
              if (answer.status === 503) {
                t.equal(answer.headers['retry-after'], '5', 'a 503 says when to retry');
                return;
              }
              t.ok([200, 201].includes(answer.status), `${name}: ${answer.status} ${answer.text}`);
              acked.get(name)!.push(spool.shift()!.id);
            }
          }),
        );
      };
      await round();
      pg.stop();
      for (let i = 0; i < 3; i++) await round();
      const read = await call(`${b.url}/api/v1/matrix`, { token: viewer });
      t.equal(read.status, 503, 'a read answers 503 too');
      t.equal(read.json().error, 'store_unavailable');
      const health = await call(`${a.url}/healthz`);
      t.match(
        { status: health.status, body: health.json() },
        { status: 503, body: { status: 'store_unavailable', message: /PostgreSQL is unavailable/ } },
        '/healthz answers 503 while the database is down',
      );
      t.ok((statuses.get(503) ?? 0) >= 3 * AGENTS, 'ingest answered 503 while the database was down');
      pg.start();
      for (let i = 0; i < 10 && [...pending.values()].some((spool) => spool.length > 0); i++) await round();
      t.same(
        [...statuses.keys()].filter((status) => ![200, 201, 503].includes(status)),
        [],
        'no other status',
      );
      t.same([...pending.values()].flat(), [], 'every held report was delivered once the database was back');
      t.match((await call(`${a.url}/healthz`)).json(), { status: 'ok' }, 'and /healthz is ok again');
      t.equal(a.child.exitCode, null, 'both coordinators stayed up');
      t.equal(b.child.exitCode, null);
      const counts = await storedCounts();
      const all = [...acked.values()].flat();
      t.same(
        all.filter((id) => counts.get(id) !== 1),
        [],
        `all ${all.length} acknowledged reports stored exactly once`,
      );
      t.equal(counts.size, all.length, 'and nothing else');
    },
  );

  t.test('two coordinators with --alerts on one database send each drift event once', async (t) => {
    const alertsUrl = pg.newDatabase();
    const store = await PgStore.open(alertsUrl);
    const agent = (await createToken(store, { kind: 'agent', agent: 'ws-01', role: 'workstation' })).token;
    const reader = (await createToken(store, { kind: 'viewer' })).token;
    await store.close();
    const hook = await receiver(t);
    const file = join(tempDir(t), 'alerts.yaml');
    writeFileSync(
      file,
      [
        'drift: {fire-after: 2, resolve-after: 1}',
        'stale: false',
        'check-interval: 100ms',
        `webhooks: [{name: plain, format: json, url: "${hook.url('/plain')}"}]`,
        '',
      ].join('\n'),
    );
    const both = [
      await startCoordinator(t, alertsUrl, ['--alerts', file]),
      await startCoordinator(t, alertsUrl, ['--alerts', file]),
    ];
    const events = () =>
      hook.received.flatMap((one) => (one.body as { events: Array<{ status: string; row: string }> }).events);
    t.equal((await postReport(both[0]!.url, agent, report('ws-01', false))).status, 201);
    const accepted = await call(`${both[1]!.url}/api/v1/baseline`, {
      token: reader,
      body: JSON.stringify({ approver: 'A. Admin', change: 'CHG-1' }),
    });
    t.equal(accepted.status, 200, accepted.text);
    // Drifted reports through one coordinator, then the other (a load balancer's round robin).
    for (const one of [...both, ...both])
      t.equal((await postReport(one.url, agent, report('ws-01', true))).status, 201);
    await until('the drift event', () => events().length >= 1);
    t.equal((await postReport(both[0]!.url, agent, report('ws-01', false))).status, 201);
    await until('the resolved event', () => events().length >= 2);
    // Both senders poll every 100 ms: give a second sender time to send anything twice.
    await new Promise((resolve) => setTimeout(resolve, 800));
    t.same(
      events().map((event) => `${event.status} ${event.row}`),
      ['firing row-0', 'resolved row-0'],
      'each transition reached the webhook once',
    );
    for (const one of both) t.equal((await one.stop()).code, 0);
  });
}
