import t from 'tap';
import { PgStore, connect } from '../../src/coordinator/pg-store.js';
import { isStoreUnavailable, type AddReportOutcome } from '../../src/coordinator/store.js';
import { startPostgres, whyNoPostgres } from '../helpers/postgres.js';
import { makeReport } from './coordinator-process.js';
import { storeContract } from './store-contract.js';

const why = whyNoPostgres();
if (why !== null) {
  t.plan(0, `PostgreSQL store tests: ${why}`);
} else {
  const pg = startPostgres(t);
  const databases = new Map<string, string>();
  const urlOf = (name: string): string => {
    let url = databases.get(name);
    if (!url) databases.set(name, (url = pg.newDatabase()));
    return url;
  };

  t.test('the Store contract, on PostgreSQL', async (t) => {
    storeContract(t, {
      open: async (_t, name) => PgStore.open(urlOf(name)),
      change: async (name, sql) => {
        const store = await PgStore.open(urlOf(name));
        await store.query(sql);
        await store.close();
      },
    });
  });

  t.test('coordinators starting at once apply each migration once, under an advisory lock', async (t) => {
    const url = urlOf('migrations');
    const stores = await Promise.all(Array.from({ length: 4 }, () => PgStore.open(url)));
    const store = stores[0]!;
    const versions = await store.query<{ version: number }>(
      'SELECT version FROM reachgate_migrations ORDER BY version',
    );
    t.same(
      versions.map((row) => row.version),
      Array.from({ length: PgStore.schemaVersion }, (_, index) => index + 1),
      'each version once',
    );
    await Promise.all(stores.map((opened) => opened.close()));
  });

  t.test('four senders claiming the outbox at once never lease one delivery twice', async (t) => {
    const stores = await Promise.all(Array.from({ length: 4 }, () => PgStore.open(urlOf('claims'))));
    await stores[0]!.query(`INSERT INTO alert_outbox (webhook, event, created_ms, attempts, next_ms, lease_ms, state)
      SELECT 'hook-' || (g % 4), '{}', 0, 0, 0, 0, 'pending' FROM generate_series(1, 200) g`);
    let twice = 0;
    let leased = 0;
    for (let round = 0; round < 10; round++) {
      await stores[0]!.query('UPDATE alert_outbox SET lease_ms = 0');
      const now = new Date(1_000_000 + round);
      const claims = await Promise.all(stores.map((store) => store.claimDeliveries(now, 50, 60_000)));
      const ids = claims.flat().map((delivery) => delivery.id);
      leased += ids.length;
      twice += ids.length - new Set(ids).size;
    }
    t.ok(leased >= 10 * 50, `${leased} deliveries leased`);
    t.equal(twice, 0, 'none leased by two senders');
    await Promise.all(stores.map((store) => store.close()));
  });

  t.test('a database from a newer reachgate is refused with a message that says what to do', async (t) => {
    const url = urlOf('newer');
    const store = await PgStore.open(url);
    await store.query('INSERT INTO reachgate_migrations (version) VALUES (99)');
    await store.close();
    await t.rejects(PgStore.open(url), {
      name: 'UsageError',
      message: `the PostgreSQL database has schema version 99; this reachgate knows up to ${PgStore.schemaVersion}`,
    });
  });

  t.test('an unreachable server is a usage error naming it, without the password', async (t) => {
    await t.rejects(PgStore.open('postgres://reachgate:s3cret@127.0.0.1:1/reachgate'), {
      name: 'UsageError',
      message:
        /^cannot open the PostgreSQL database postgres:\/\/reachgate:\*\*\*@127\.0\.0\.1:1\/reachgate: connect ECONNREFUSED/,
    });
  });

  t.test(
    'with the server stopped calls fail as unavailable; after it is back the same store works again',
    async (t) => {
      const store = await PgStore.open(urlOf('restart'));
      const before = makeReport('ws-01', 'workstation');
      t.same(await store.addReport(before, JSON.stringify(before), new Date()), { stored: true });
      pg.stop();
      const during = makeReport('ws-01', 'workstation');
      const failure = await store
        .addReport(during, JSON.stringify(during), new Date())
        .catch((error: unknown) => error);
      t.ok(isStoreUnavailable(failure), `ingest: ${String(failure)}`);
      const read = await store.findToken('0123456789abcdef').catch((error: unknown) => error);
      t.ok(isStoreUnavailable(read), `a read: ${String(read)}`);
      pg.start();
      t.same(await store.addReport(during, JSON.stringify(during), new Date()), { stored: true }, 'reconnected');
      t.equal((await store.getReport(before.id))?.id, before.id, 'what was acknowledged before is there');
      await store.close();
    },
  );

  t.test(
    'reports that arrive during a commit wait for it and go in one transaction; a whole batch waiting starts another',
    async (t) => {
      const url = urlOf('group-commit');
      const store = await PgStore.open(url);
      const post = (agent: string): { settled: () => boolean; outcome: Promise<AddReportOutcome> } => {
        const report = makeReport(agent, 'workstation', { results: 1 });
        let done = false;
        const outcome = store.addReport(report, JSON.stringify(report), new Date()).finally(() => (done = true));
        return { settled: () => done, outcome };
      };
      await post('ws-held').outcome;
      // Another session holds the agent's row, so the transaction of its next report waits on the lock.
      const other = connect(url, 2);
      const holder = await other.reserve();
      t.teardown(async () => {
        holder.release();
        await other.end({ timeout: 5 });
        await store.close();
      });
      await holder`BEGIN`;
      await holder`SELECT agent FROM agents WHERE agent = 'ws-held' FOR UPDATE`;
      const held = post('ws-held');
      for (let waited = 0; ; waited += 20) {
        const [row] = await other<Array<{ waiting: number }>>`
          SELECT count(*)::int AS waiting FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT agent, cells_digest FROM agents%'`;
        if (row!.waiting > 0) break;
        if (waited > 10_000) throw new Error('the held report never waited on the lock');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const during: Array<ReturnType<typeof post>> = [];
      for (let i = 0; i < 10; i++) {
        during.push(post(`ws-during-${i}`));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      t.equal(during.filter((one) => one.settled()).length, 0, 'ten reports wait for the running commit');
      // A backlog of a whole batch (256) does not wait: the 10 and the first 246 of 300 go at once.
      const backlog = Array.from({ length: 300 }, (_, i) => post(`ws-backlog-${i}`));
      const whole = [...during, ...backlog.slice(0, 246)];
      t.ok(
        (await Promise.all(whole.map((one) => one.outcome))).every((outcome) => outcome.stored),
        'a whole batch is stored while the first transaction still waits',
      );
      t.notOk(held.settled(), 'the held report is still waiting');
      t.equal(backlog.slice(246).filter((one) => one.settled()).length, 0, 'the other 54 wait for a commit');
      await holder`ROLLBACK`;
      t.same(await held.outcome, { stored: true }, 'the held report is stored once the lock goes');
      t.ok(
        (await Promise.all(backlog.slice(246).map((one) => one.outcome))).every((outcome) => outcome.stored),
        'then the other 54',
      );
      const [count] = await store.query<{ reports: string }>('SELECT count(*) AS reports FROM reports');
      t.equal(Number(count!.reports), 312, 'every report once');
    },
  );
}
