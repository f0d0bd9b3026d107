// The whole-matrix counts (summary, counts per site, role, row and verdict) as the coordinator keeps them
// (count-keeper.ts): counted in slices of agents, on a snapshot, kept in the database and served from there.
// Part of the Store contract: the same tests run against every store (store-contract.ts).
import type { Test } from 'tap';
import type { RunReport } from '../../src/core/result.js';
import { matrixVersion, readMatrixWhole, type MatrixWhole, type ReadQuery } from '../../src/coordinator/cells.js';
import { CountKeeper } from '../../src/coordinator/count-keeper.js';
import { createToken } from '../../src/coordinator/tokens.js';
import type { StoreFactory } from './store-contract.js';
import { makeReport } from './coordinator-process.js';

const MINUTE_MS = 60_000;

/** What a count says, in an order that does not depend on how it was made. */
function shape(whole: MatrixWhole): unknown {
  const groups = whole.groups
    .map(
      (group) =>
        `${group.site}|${group.role}|${group.row}|${group.verdict} ${group.cells} ${group.stale} ${group.drift}`,
    )
    .sort();
  return { summary: whole.summary, rows: whole.rows, site: whole.site, vanished: whole.vanished, groups };
}

/** Run the count tests against the stores `factory` opens. */
export function countContract(t: Test, factory: StoreFactory): void {
  t.test(
    'the kept counts equal a whole count after a control flips other agents, with staleness, drift, revocation and retention',
    async (t) => {
      const store = await factory.open(t, 'counts');
      const read: ReadQuery = (sql, parameters) => store.read(sql, parameters);
      const now = new Date();
      let clock = now;
      const keeper = new CountKeeper(
        store,
        () => clock,
        (error) => t.error(error),
      );
      const post = async (report: RunReport, at = now) => store.addReport(report, JSON.stringify(report), at);
      /** A workstation's report: a reachable row, and a negative probe of 192.0.2.10 controlled by tightgate. */
      const workstation = (agent: string, finishedAt: Date): RunReport => {
        const report = makeReport(agent, 'workstation', { results: 2, finishedAt, intervalS: 60 });
        report.results[1] = {
          ...report.results[1]!,
          id: 'no-direct-internet/tcp',
          row: 'no-direct-internet',
          target: { host: 'canary', address: '192.0.2.10', port: 443, protocol: 'tcp' },
          expect: 'blocked',
          control: 'tightgate',
          state: 'filtered',
          verdict: 'pass',
        };
        return report;
      };
      /** The control's report: the canary open (seen) or not. */
      const control = (sees: boolean): RunReport => {
        const report = makeReport('tg-01', 'tightgate', { results: 1 });
        report.results[0] = {
          ...report.results[0]!,
          row: 'canaries',
          target: { host: 'canary', address: '192.0.2.10', port: 443, protocol: 'tcp' },
          state: sees ? 'open' : 'filtered',
          verdict: sees ? 'pass' : 'fail',
        };
        return report;
      };
      /** Every way of counting agrees (one count, slices of one agent, a snapshot, the keeper); returns the summary. */
      const counted = async (what: string) => {
        const whole = await readMatrixWhole(read, clock);
        const sliced = await readMatrixWhole(read, clock, { pause: async () => {}, targetMs: 0, firstAgents: 1 });
        const snapshot = await store.snapshot((snapshotRead, slices) =>
          readMatrixWhole(snapshotRead, clock, slices && { ...slices, targetMs: 0, firstAgents: 1 }),
        );
        const kept = await keeper.counts(await matrixVersion(read, clock), clock);
        t.same(shape(sliced), shape(whole), `${what}: counted in slices of one agent`);
        t.same(shape(snapshot), shape(whole), `${what}: counted on a snapshot`);
        t.same(shape(kept.whole), shape(whole), `${what}: the keeper's counts`);
        t.equal(kept.current, true, `${what}: a small site's counts are the current state's`);
        return whole;
      };

      await post(workstation('ws-01', now));
      await post(workstation('ws-02', new Date(now.getTime() - 60 * MINUTE_MS)));
      t.match((await counted('no control yet')).summary, {
        pass: 2,
        inconclusive: 2,
        cells: 4,
        agents: 2,
        stale_agents: 1,
        drift: 0,
      });
      await post(control(true));
      const seen = await counted("the control's report");
      t.match(seen.summary, { pass: 5, inconclusive: 0, cells: 5, rows: 3, agents: 3, stale_agents: 1 });
      t.same(
        seen.groups
          .filter((group) => group.row === 'no-direct-internet')
          .map((group) => `${group.verdict} ${group.cells} ${group.stale}`),
        ['pass 2 1'],
        "both workstations' negative probes pass, one of them stale",
      );

      clock = new Date(now.getTime() + 10 * MINUTE_MS);
      t.match((await counted('ten minutes later')).summary, { stale_agents: 2 }, 'ws-01 went stale with time');

      const link = await store.acceptBaseline({
        baseline: { 'ws-01|row-0': 'pass', 'ws-01|no-direct-internet': 'pass', 'tg-01|row-0': 'pass' },
        accepted_at: clock.toISOString(),
        accepted_by: null,
        approver: 'A. Admin',
        change: 'CHG-7',
      });
      t.ok(link);
      t.match(
        (await counted('a baseline without ws-02 and the canaries')).summary,
        { drift: 4 },
        "ws-02's two cells and the canaries are not in it; tg-01|row-0 vanished",
      );
      await post(control(false), clock);
      const unseen = await counted("the control's newer report");
      t.match(unseen.summary, { pass: 2, inconclusive: 2, fail: 1, drift: 5 });

      const { record } = await createToken(store, { kind: 'agent', agent: 'ws-02', role: 'workstation' });
      await store.revokeToken(record.id, clock);
      t.same(shape(await counted('a revoked agent')), shape(unseen), "revoking a token keeps its agent's cells");
      await post(workstation('ws-01', clock), new Date(clock.getTime() - 40 * 24 * 60 * MINUTE_MS));
      await post(workstation('ws-01', clock), clock);
      const before = shape(await counted('an older report of ws-01 stored'));
      t.ok((await store.pruneReports(new Date(clock.getTime() - 24 * 60 * MINUTE_MS))) >= 1, 'retention deleted');
      t.same(shape(await counted('after retention')), before, "retention keeps every agent's latest, so the counts");
      await keeper.idle();
      await store.close();
    },
  );

  t.test(
    'a quick count of a site above the exact size is waited for only once its gap has passed since it ended',
    async (t) => {
      const store = await factory.open(t, 'quick-counts');
      const read: ReadQuery = (sql, parameters) => store.read(sql, parameters);
      const post = async (report: RunReport) => store.addReport(report, JSON.stringify(report), new Date());
      const shown = async (which: CountKeeper) => which.counts(await matrixVersion(read, new Date()), new Date());
      // Every count is quick; no background count; the gap after a count: a billion times its duration.
      const keeper = new CountKeeper(
        store,
        () => new Date(),
        (error) => t.error(error),
        { exactAgents: 0, exactMs: 3_600_000, minGapMs: 3_600_000, gapFactor: 1e9 },
      );
      await post(makeReport('ws-01', 'workstation', { results: 2 }));
      t.match(
        await shown(keeper),
        { current: true, whole: { summary: { cells: 2 } } },
        'the first count is waited for',
      );
      await post(makeReport('ws-02', 'workstation', { results: 3 }));
      t.match(
        await shown(keeper),
        { current: false, whole: { summary: { cells: 2 } } },
        'within the gap: the last count, at once, though it was quick',
      );
      // No gap: a quick count is waited for whenever the state changed.
      const eager = new CountKeeper(
        store,
        () => new Date(),
        (error) => t.error(error),
        { exactAgents: 0, exactMs: 3_600_000, minGapMs: 3_600_000, gapFactor: 0 },
      );
      await post(makeReport('ws-03', 'workstation', { results: 1 }));
      t.match(
        await shown(eager),
        { current: true, whole: { summary: { cells: 6, agents: 3 } } },
        'past the gap: counted before the answer',
      );
      await keeper.idle();
      await eager.idle();
      await store.close();
    },
  );

  t.test(
    "a large site's counts are served at once with their time, counted again in the background and kept for a restart",
    async (t) => {
      const store = await factory.open(t, 'kept-counts');
      const read: ReadQuery = (sql, parameters) => store.read(sql, parameters);
      const post = async (report: RunReport) => store.addReport(report, JSON.stringify(report), new Date());
      // Every site counts as large: no answer waits for a count once there is one.
      const large = { exactAgents: 0, exactMs: -1, minGapMs: 0, gapFactor: 0 };
      const keeper = new CountKeeper(
        store,
        () => new Date(),
        (error) => t.error(error),
        large,
      );
      const shown = async (which: CountKeeper) => which.counts(await matrixVersion(read, new Date()), new Date());
      await post(makeReport('ws-01', 'workstation', { results: 2 }));
      const first = await shown(keeper);
      t.match(
        first,
        { current: true, whole: { summary: { cells: 2 } } },
        'nothing counted yet: the first is waited for',
      );

      await post(makeReport('ws-02', 'workstation', { results: 3 }));
      const behind = await shown(keeper);
      t.match(behind, { current: false, whole: { summary: { cells: 2 } } }, 'the last count, at once');
      t.ok(Date.parse(behind.as_of) <= Date.now(), 'with its time');
      await keeper.idle();
      t.match(
        await shown(keeper),
        { current: true, whole: { summary: { cells: 5, agents: 2 } } },
        'then the new count',
      );

      // A restart (or another coordinator on the database): the kept count is served without counting.
      const restarted = new CountKeeper(
        store,
        () => new Date(),
        (error) => t.error(error),
        large,
      );
      t.match(await shown(restarted), { current: true, whole: { summary: { cells: 5 } } }, 'the same state: current');
      await post(makeReport('ws-03', 'workstation', { results: 1 }));
      const kept = await shown(restarted);
      t.match(kept, { current: false, whole: { summary: { cells: 5 } } });
      await restarted.idle();
      t.match(await shown(restarted), { current: true, whole: { summary: { cells: 6, agents: 3 } } });
      const [row] = await read<{ as_of: string; json: string }>('SELECT as_of, json FROM matrix_counts', []);
      t.match(JSON.parse(row!.json), { summary: { cells: 6 } }, 'the newest count is the one kept');
      await keeper.idle();
      await store.close();
    },
  );
}
