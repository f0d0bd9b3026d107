import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Pool } from 'undici';
import {
  call,
  makeReport,
  makeTokens,
  NO_INGEST_LIMITS,
  postReport,
  startCoordinator,
  tempDir,
} from './coordinator-process.js';
import type { RunReport } from '../../src/core/result.js';

// kill -9 in the middle of a burst of deliveries: every report that got an ack is in the database
// after the restart, and redelivering the rest (as agents do) stores each report exactly once.
const AGENTS = 8;
const REPORTS = 600;
const KILL_AFTER_ACKS = 150;
const CONCURRENCY = 24;

t.test('every acknowledged report survives kill -9 of the coordinator, and redelivery stores each once', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'reachgate.db');
  const names = Array.from({ length: AGENTS }, (_, i) => `ws-${String(i).padStart(2, '0')}`);
  const tokens = await makeTokens(db, [
    ...names.map((agent) => ({ kind: 'agent' as const, agent, role: 'workstation' })),
    { kind: 'viewer' },
  ]);
  const viewer = tokens.at(-1)!;
  const reports = Array.from({ length: REPORTS }, (_, i) => ({
    token: tokens[i % AGENTS]!,
    report: makeReport(names[i % AGENTS]!, 'workstation', { results: 40 }),
  }));

  // A burst of 75 reports per agent token is the load under test, not a fleet's pace: no ingest limits.
  const first = await startCoordinator(t, db, [...NO_INGEST_LIMITS]);
  const pool = new Pool(first.url, { connections: CONCURRENCY });
  t.teardown(() => pool.destroy());
  const acked = new Set<string>();
  const failed: string[] = [];
  let killed = false;
  let next = 0;
  const deliver = async (): Promise<void> => {
    while (next < reports.length && !killed) {
      const { token, report } = reports[next++]!;
      try {
        const answer = await postReport(first.url, token, report, pool);
        if (answer.status === 201 || answer.status === 200) acked.add(report.id);
        else failed.push(`${answer.status} ${answer.text}`);
      } catch {
        // The connection died with the process: not acknowledged, the agent keeps it spooled.
      }
      if (acked.size >= KILL_AFTER_ACKS && !killed) {
        killed = true;
        first.child.kill('SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, deliver));
  const exit = await first.exited;
  t.equal(exit.signal, 'SIGKILL', 'the coordinator was killed mid-burst');
  t.same(failed, [], 'no delivery was refused before the kill');
  t.ok(
    acked.size >= KILL_AFTER_ACKS && acked.size < REPORTS,
    `${acked.size} reports were acknowledged before the kill`,
  );

  const stored = new Database(db, { readonly: true });
  const ids = new Set(stored.prepare('SELECT id FROM reports').pluck().all() as string[]);
  stored.close();
  const lost = [...acked].filter((id) => !ids.has(id));
  t.same(
    lost,
    [],
    `all ${acked.size} acknowledged reports are in the database (${ids.size} rows: acks cut off by the kill are stored too)`,
  );

  const second = await startCoordinator(t, db, [...NO_INGEST_LIMITS]);
  for (const id of [...acked].slice(0, 20)) {
    t.equal(
      (await call(`${second.url}/api/v1/reports/${id}`, { token: viewer })).status,
      200,
      `report ${id} is served after the restart`,
    );
  }
  const statuses = new Map<number, number>();
  for (const { token, report } of reports) {
    const answer = await postReport(second.url, token, report as RunReport);
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    if (acked.has(report.id))
      t.equal(answer.status, 200, `acknowledged report ${report.id} is a duplicate on redelivery`);
  }
  t.same([...statuses.keys()].sort(), [200, 201], 'redelivery: stored (201) or already there (200), nothing else');
  const check = new Database(db, { readonly: true });
  const rows = check.prepare('SELECT COUNT(*) AS rows, COUNT(DISTINCT id) AS ids FROM reports').get() as {
    rows: number;
    ids: number;
  };
  check.close();
  t.same(rows, { rows: REPORTS, ids: REPORTS }, 'every report stored exactly once');
  t.equal((await second.stop()).code, 0);
});
