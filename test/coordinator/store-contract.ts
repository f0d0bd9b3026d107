// The Store contract: the same tests run against every store (store.test.ts: SQLite;
// pg-store.test.ts: a real PostgreSQL server).
import type { Test } from 'tap';
import type { RunReport } from '../../src/core/result.js';
import {
  readAllAgents,
  readCellPage,
  readCellResults,
  readMatrixWhole,
  type CellFilter,
  type ReadQuery,
} from '../../src/coordinator/cells.js';
import type { Store } from '../../src/coordinator/store.js';
import { verifyChain } from '../../src/coordinator/baseline-chain.js';
import { authenticate, createToken } from '../../src/coordinator/tokens.js';
import { makeReport } from './coordinator-process.js';
import { countContract } from './count-contract.js';

const DAY_MS = 86_400_000;

/** How a contract run gets its store: the same `name` opens the same database again. */
export interface StoreFactory {
  open(t: Test, name: string): Promise<Store>;
  /** Run one SQL statement on the named database behind the store's back (tampering tests). */
  change(name: string, sql: string): Promise<void>;
}

/** Run every contract test against the stores `factory` opens. */
export function storeContract(t: Test, factory: StoreFactory): void {
  countContract(t, factory);
  t.test('a report id is stored once, also when the copies arrive in the same transaction', async (t) => {
    const store = await factory.open(t, 'reports');
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
    t.same(await store.addReport(report, json, new Date()), { stored: false, agent: 'ws-01' }, 'and later');
    const stolen = { ...makeReport('ws-02', 'workstation'), id: report.id };
    t.same(await store.addReport(stolen, JSON.stringify(stolen), new Date()), { stored: false, agent: 'ws-01' });
    t.equal(await store.getReport('no-such-id'), null);
    await store.close();
  });

  t.test('a batch of large reports is stored whole and in arrival order, a repeated id once', async (t) => {
    const store = await factory.open(t, 'large-batch');
    // Twelve texts of about 20 KB arriving together: more than one insert statement's share on PostgreSQL.
    const reports = Array.from({ length: 12 }, (_, index) => makeReport(`ws-${index % 3}`, 'workstation'));
    const texts = reports.map((report) => JSON.stringify({ ...report, note: 'x'.repeat(20_000) }));
    const outcomes = await Promise.all([
      ...reports.map((report, index) => store.addReport(report, texts[index]!, new Date())),
      store.addReport(reports[0]!, texts[0]!, new Date()),
    ]);
    t.same(outcomes, [...reports.map(() => ({ stored: true })), { stored: false, agent: 'ws-0' }]);
    for (const [index, report] of reports.entries())
      t.equal((await store.getReport(report.id))?.json, texts[index], `report ${index} is kept as posted`);
    const read: ReadQuery = (sql, parameters) => store.read(sql, parameters);
    const latest = (await readAllAgents(read, new Date())).map((agent) => `${agent.name} ${agent.report_id}`);
    t.same(
      latest,
      [9, 10, 11].map((index) => `ws-${index % 3} ${reports[index]!.id}`),
      "each agent's last report",
    );
    await store.close();
  });

  t.test("each agent's latest report is its cells, also after reopening", async (t) => {
    let store = await factory.open(t, 'latest');
    const older = makeReport('ws-01', 'workstation');
    const newer = makeReport('ws-01', 'workstation', { results: 2 });
    const other = makeReport('tg-01', 'tightgate');
    for (const report of [older, newer, other]) await store.addReport(report, JSON.stringify(report), new Date());
    const read: ReadQuery = (sql, parameters) => store.read(sql, parameters);
    const state = async () => ({
      agents: (await readAllAgents(read, new Date())).map((agent) => `${agent.name} ${agent.report_id}`),
      cells: (await readCellPage(read, { offset: 0, limit: 100 }, new Date(), false)).cells.map(
        (cell) => `${cell.agent}|${cell.row} ${cell.report_id}`,
      ),
    });
    const expected = {
      agents: [`tg-01 ${other.id}`, `ws-01 ${newer.id}`],
      cells: [
        ...['row-0', 'row-1', 'row-2', 'row-3'].map((row) => `tg-01|${row} ${other.id}`),
        `ws-01|row-0 ${newer.id}`,
        `ws-01|row-1 ${newer.id}`,
      ],
    };
    t.same(await state(), expected, "the older report's rows are gone with it");
    await store.close();
    store = await factory.open(t, 'latest');
    t.same(await state(), expected);
    await store.close();
  });

  t.test("a newer report's changed row is rewritten; every cell shows the newer report's id and results", async (t) => {
    const store = await factory.open(t, 'changed');
    const read: ReadQuery = (sql, parameters) => store.read(sql, parameters);
    const older = makeReport('ws-01', 'workstation', { results: 2, finishedAt: new Date(Date.now() - 60_000) });
    const newer = makeReport('ws-01', 'workstation', { results: 2 });
    newer.results[1] = { ...newer.results[1]!, state: 'closed', verdict: 'fail', reason: 'refused' };
    for (const report of [older, newer]) await store.addReport(report, JSON.stringify(report), new Date());
    const { cells } = await readCellPage(read, { offset: 0, limit: 10 }, new Date(), false);
    t.same(
      cells.map((cell) => [cell.row, cell.verdict, cell.report_id, cell.counts.fail]),
      [
        ['row-0', 'pass', newer.id, 0],
        ['row-1', 'fail', newer.id, 1],
      ],
    );
    const results = await readCellResults(
      read,
      [
        { agent: 'ws-01', row: 'row-0' },
        { agent: 'ws-01', row: 'row-1' },
        { agent: 'ws-01', row: 'no-such-row' },
        { agent: 'nobody', row: 'row-0' },
      ],
      new Date(),
      store.confirmWindowMs,
    );
    t.same(
      results.map((one) => one?.map((result) => `${result.started_at} ${result.reason}`) ?? null),
      [
        [`${newer.results[0]!.started_at} ${newer.results[0]!.reason}`],
        [`${newer.results[1]!.started_at} refused`],
        null,
        null,
      ],
      "results come from the agent's newest report; an unknown cell has none",
    );
    const whole = await readMatrixWhole(read, new Date());
    t.match(whole.summary, { pass: 1, fail: 1, cells: 2, agents: 1 });
    t.match(
      [...whole.groups].sort((a, b) => (a.row < b.row ? -1 : 1)),
      [
        { role: 'workstation', row: 'row-0', verdict: 'pass', cells: 1 },
        { role: 'workstation', row: 'row-1', verdict: 'fail', cells: 1 },
      ],
    );
    await store.close();
  });

  t.test(
    "a report whose cells are the last one's leaves the cell rows alone; a change, also back, is written",
    async (t) => {
      const store = await factory.open(t, 'digest');
      const read: ReadQuery = (sql, parameters) => store.read(sql, parameters);
      const at = (minutesAgo: number) =>
        makeReport('ws-01', 'workstation', { results: 3, finishedAt: new Date(Date.now() - minutesAgo * 60_000) });
      const [first, same, failing, back] = [at(4), at(3), at(2), at(1)];
      failing.results[1] = { ...failing.results[1]!, state: 'closed', verdict: 'fail', reason: 'refused' };
      const add = (report: RunReport) => store.addReport(report, JSON.stringify(report), new Date());
      const cells = async () =>
        (await readCellPage(read, { offset: 0, limit: 10 }, new Date(), false)).cells.map(
          (cell) => `${cell.row} ${cell.verdict} ${cell.report_id}`,
        );
      await add(first);
      await add(same);
      t.same(await cells(), [`row-0 pass ${same.id}`, `row-1 pass ${same.id}`, `row-2 pass ${same.id}`]);
      t.same(
        await store.read("SELECT row_name, report_id FROM cells WHERE agent = 'ws-01' ORDER BY row_name", []),
        ['row-0', 'row-1', 'row-2'].map((row_name) => ({ row_name, report_id: first.id })),
        'the same cells are not written again',
      );
      await add(failing);
      t.same(await cells(), [`row-0 pass ${failing.id}`, `row-1 fail ${failing.id}`, `row-2 pass ${failing.id}`]);
      // Two reports of one agent in one batch, then the older one again: the newest arrival's cells stay.
      await Promise.all([add(back), add(at(0.5))]);
      const latest = at(0);
      latest.results[0] = { ...latest.results[0]!, target: { ...latest.results[0]!.target, address: '127.0.0.2' } };
      latest.results[1] = { ...latest.results[1]!, state: 'closed', verdict: 'fail', reason: 'refused' };
      await add(latest);
      t.same(await cells(), [`row-0 pass ${latest.id}`, `row-1 fail ${latest.id}`, `row-2 pass ${latest.id}`]);
      t.same(
        await store.read("SELECT address FROM open_seen WHERE agent = 'ws-01'", []),
        [{ address: '127.0.0.2' }],
        "the addresses seen open are the latest report's",
      );
      await add(back);
      t.same(
        await cells(),
        [`row-0 pass ${latest.id}`, `row-1 fail ${latest.id}`, `row-2 pass ${latest.id}`],
        'a retry changes nothing',
      );
      await store.close();
    },
  );

  t.test('a negative probe is inconclusive until an agent of its control role saw the address open', async (t) => {
    const store = await factory.open(t, 'controls');
    const read: ReadQuery = (sql, parameters) => store.read(sql, parameters);
    const post = async (report: RunReport) => store.addReport(report, JSON.stringify(report), new Date());
    const negative = (agent: string, address: string): RunReport => {
      const report = makeReport(agent, 'workstation', { results: 1 });
      report.results = [
        {
          ...report.results[0]!,
          id: 'no-direct-internet/tcp',
          row: 'no-direct-internet',
          target: { host: 'canary', address, port: 443, protocol: 'tcp' },
          expect: 'blocked',
          control: 'tightgate',
          state: 'filtered',
          verdict: 'pass',
        },
      ];
      return report;
    };
    const seeing = (address: string | null): RunReport => {
      const report = makeReport('tg-01', 'tightgate+dns', { results: 1 });
      report.results = [
        {
          ...report.results[0]!,
          row: 'canaries',
          target: { host: 'canary', address: address ?? '192.0.2.99', port: 443, protocol: 'tcp' },
          state: address === null ? 'filtered' : 'open',
          verdict: address === null ? 'fail' : 'pass',
        },
      ];
      return report;
    };
    const cell = async (agent: string) => {
      const page = await readCellPage(
        read,
        { agent, row: 'no-direct-internet', offset: 0, limit: 1 },
        new Date(),
        false,
      );
      const [results] = await readCellResults(
        read,
        [{ agent, row: 'no-direct-internet' }],
        new Date(),
        store.confirmWindowMs,
      );
      return { verdict: page.cells[0]?.verdict, counts: page.cells[0]?.counts, results };
    };
    await post(negative('ws-01', '192.0.2.10'));
    t.match(await cell('ws-01'), {
      verdict: 'inconclusive',
      counts: { pass: 0, inconclusive: 1 },
      results: [{ verdict: 'inconclusive', reported_verdict: 'pass', control_seen_by: [], control_seen_count: 0 }],
    });
    await post(seeing('192.0.2.10'));
    t.match(
      await cell('ws-01'),
      {
        verdict: 'pass',
        counts: { pass: 1, inconclusive: 0 },
        results: [{ verdict: 'pass', control_seen_by: ['tg-01'], control_seen_count: 1 }],
      },
      "the control's report proves the block: one of its roles is tightgate",
    );
    await post(negative('ws-02', '192.0.2.10'));
    t.match(await cell('ws-02'), { verdict: 'pass' }, 'a later negative probe finds the address already seen');
    await post(seeing(null));
    t.match(await cell('ws-01'), { verdict: 'inconclusive' }, "the control's newer report no longer sees it");
    t.match(await cell('ws-02'), { verdict: 'inconclusive' });
    const inconclusive = await readCellPage(read, { verdict: 'inconclusive', offset: 0, limit: 10 }, new Date(), false);
    t.same(
      inconclusive.cells.map((one) => one.agent),
      ['ws-01', 'ws-02'],
      'the verdict filter sees the judged verdict',
    );
    await store.close();
  });

  t.test('filters, pages, staleness and drift come from the cell tables', async (t) => {
    const store = await factory.open(t, 'filters');
    const read: ReadQuery = (sql, parameters) => store.read(sql, parameters);
    const now = new Date();
    const long = new Date(now.getTime() - 3600_000);
    const reports = [
      makeReport('ws-01', 'workstation', { results: 3, finishedAt: long, intervalS: 60 }),
      makeReport('ws-02', 'workstation', { results: 3, intervalS: 60 }),
      makeReport('tg-01', 'tightgate', { results: 3 }),
    ];
    for (const report of reports) await store.addReport(report, JSON.stringify(report), now);
    const page = (filter: Omit<CellFilter, 'offset' | 'limit'>, offset = 0, limit = 100) =>
      readCellPage(read, { ...filter, offset, limit }, now, false);
    const names = async (filter: Omit<CellFilter, 'offset' | 'limit'>) =>
      (await page(filter)).cells.map((cell) => `${cell.agent}|${cell.row}`);
    t.same(await names({ role: 'tightgate' }), ['tg-01|row-0', 'tg-01|row-1', 'tg-01|row-2']);
    t.same(await names({ row: 'row-1' }), ['tg-01|row-1', 'ws-01|row-1', 'ws-02|row-1']);
    t.same(await names({ stale: true }), ['ws-01|row-0', 'ws-01|row-1', 'ws-01|row-2'], 'ws-01 is an hour old');
    t.same(await names({ site: 'elsewhere' }), []);
    const first = await page({}, 0, 4);
    const rest = await page({}, 4, 10);
    t.equal(first.total, 9);
    t.same(
      [...first.cells, ...rest.cells].map((cell) => `${cell.agent}|${cell.row}`),
      await names({}),
    );
    t.equal(rest.cells.length, 5);
    const whole = await readMatrixWhole(read, now);
    t.match(whole.summary, { pass: 9, cells: 9, rows: 3, agents: 3, stale_agents: 1, drift: 0 });
    t.same(whole.rows, ['row-0', 'row-1', 'row-2']);
    t.equal(whole.site, 'lab');

    await store.acceptBaseline({
      baseline: Object.fromEntries([...(await names({})).map((key) => [key, 'pass']), ['gone-01|row-0', 'pass']]),
      accepted_at: now.toISOString(),
      accepted_by: null,
      approver: 'A. Admin',
      change: 'CHG-1',
    });
    const failing = makeReport('ws-02', 'workstation', { results: 3, intervalS: 60 });
    failing.results[1] = { ...failing.results[1]!, verdict: 'fail', state: 'filtered' };
    await store.addReport(failing, JSON.stringify(failing), now);
    const drifted = await readCellPage(read, { drift: true, offset: 0, limit: 10 }, now, true);
    t.match(drifted.cells, [{ agent: 'ws-02', row: 'row-1', verdict: 'fail', drift: true, baseline: 'pass' }]);
    t.equal(drifted.total, 1);
    const after = await readMatrixWhole(read, now);
    t.match(after, { drift_count: 2, vanished: [{ agent: 'gone-01', row: 'row-0', baseline: 'pass' }] });
    t.same(await names({ verdict: 'fail' }), ['ws-02|row-1']);
    await store.close();
  });

  t.test("retention deletes reports older than the cutoff but always keeps every agent's latest", async (t) => {
    const store = await factory.open(t, 'retention');
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
    const many = Array.from({ length: 1200 }, () => makeReport('ws-02', 'workstation', { results: 1 }));
    // At once (in a few transactions), then the last one alone: it is the latest.
    await Promise.all(many.slice(0, -1).map((report) => store.addReport(report, JSON.stringify(report), at(60))));
    await store.addReport(many.at(-1)!, JSON.stringify(many.at(-1)), at(60));
    stored['ws-02'] = many.map((report) => report.id);
    const deleted = await store.pruneReports(at(30));
    t.equal(deleted, 2 + 1 + 1199, 'in batches, more than one batch of them');
    const present = async (id: string) => (await store.getReport(id)) !== null;
    t.same(await Promise.all(stored['ws-01']!.map(present)), [false, false, true]);
    t.same(await Promise.all(stored['tg-01']!.map(present)), [false, true], 'a silent agent keeps its latest');
    t.ok(await present(stored['ws-02']!.at(-1)!));
    t.equal(await store.pruneReports(at(30)), 0, 'a second run finds nothing');
    t.equal((await readAllAgents((sql, parameters) => store.read(sql, parameters), new Date())).length, 3);
    await store.close();
  });

  t.test('tokens: the right token authenticates, a wrong or revoked one does not', async (t) => {
    const store = await factory.open(t, 'tokens');
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
    const viewer = await createToken(store, { kind: 'viewer' });
    t.same(
      (await store.listTokens()).map((listed) => listed.id).sort(),
      [record.id, viewer.record.id].sort(),
      'listed, without hashes',
    );
    t.notOk('hash' in (await store.listTokens())[0]!);
    t.equal((await store.findToken(record.id))?.hash.length, 32, 'a SHA-256 hash');
    t.ok(await store.revokeToken(record.id, new Date('2026-11-26T12:00:00Z')));
    t.ok(await store.revokeToken(record.id, new Date('2026-11-27T12:00:00Z')), 'revoking twice is fine');
    t.same(await authenticate(store, token), {
      ok: false,
      reason: `the token ${record.id} was revoked at 2026-11-26T12:00:00.000Z`,
    });
    t.notOk(await store.revokeToken('0000000000000000', new Date()));
    await store.close();
  });

  t.test('an agent token needs a printable agent name and role', async (t) => {
    const store = await factory.open(t, 'names');
    await t.rejects(createToken(store, { kind: 'agent', agent: '', role: 'workstation' }), {
      message: 'Expected `--agent` to be 1 to 128 printable characters, got ""',
    });
    await t.rejects(createToken(store, { kind: 'agent', agent: 'ws\n01', role: 'workstation' }), {
      name: 'UsageError',
    });
    await t.rejects(createToken(store, { kind: 'agent', agent: 'ws-01', role: 'r'.repeat(129) }), {
      message: /`--role` to be 1 to 128/,
    });
    t.same(await store.listTokens(), []);
    await store.close();
  });

  t.test('the accepted baseline survives a reopen', async (t) => {
    let store = await factory.open(t, 'baseline');
    t.equal(await store.getBaseline(), null);
    const accepted = {
      baseline: { 'ws-01|viewer': 'pass', 'tg-01|viewer': 'fail' },
      accepted_at: '2026-11-26T12:00:00.000Z',
      accepted_by: 'abcdef0123456789',
    };
    await store.acceptBaseline({ ...accepted, approver: 'A. Admin', change: 'CHG-1' });
    await store.close();
    store = await factory.open(t, 'baseline');
    t.same(await store.getBaseline(), accepted);
    await store.close();
  });

  t.test('accepted baselines form a chain of digests; a changed link breaks it where it was changed', async (t) => {
    const store = await factory.open(t, 'chain');
    t.same(await store.baselineLog(10), { links: [], total: 0 });
    const accepts = [
      { cells: { 'ws-01|dns': 'pass', 'ws-01|vnc': 'pass' }, approver: 'A. Admin', change: 'CHG-1' },
      { cells: { 'ws-01|dns': 'pass', 'ws-01|vnc': 'fail' }, approver: 'B. Admin', change: 'CHG-2' },
      { cells: { 'ws-01|dns': 'fail', 'ws-01|vnc': 'fail' }, approver: 'C. Admin', change: 'CHG-3' },
    ];
    const links = [];
    for (const [index, accept] of accepts.entries())
      links.push(
        await store.acceptBaseline({
          baseline: accept.cells,
          accepted_at: `2026-11-2${index}T12:00:00.000Z`,
          accepted_by: 'viewer-token-id',
          approver: accept.approver,
          change: accept.change,
        }),
      );
    t.same(
      links.map((link) => [link.seq, link.previous]),
      [
        [1, null],
        [2, links[0]!.digest],
        [3, links[1]!.digest],
      ],
    );
    t.same((await store.getBaseline())?.baseline, accepts[2]!.cells, 'drift is measured against the latest link');
    const log = await store.baselineLog(10);
    t.equal(log.total, 3);
    t.same(
      log.links.map((link) => [link.approver, link.change, link.cells]),
      accepts.map((accept) => [accept.approver, accept.change, 2]),
    );
    t.same(verifyChain(log.links, true), [], 'the untouched chain verifies');
    t.same(
      (await store.baselineLog(2)).links.map((link) => link.seq),
      [2, 3],
      'a shorter log lists the newest links',
    );

    // Two accepts at once make two links in a row, never two links after the same one.
    const [a, b] = await Promise.all(
      ['D', 'E'].map((who) =>
        store.acceptBaseline({
          baseline: accepts[0]!.cells,
          accepted_at: '2026-11-25T12:00:00.000Z',
          accepted_by: null,
          approver: `${who}. Admin`,
          change: 'CHG-4',
        }),
      ),
    );
    t.same([a!.seq, b!.seq].sort(), [4, 5]);
    t.same(verifyChain((await store.baselineLog(10)).links, true), []);
    await store.close();

    await factory.change('chain', "UPDATE baseline_links SET approver = 'Mallory' WHERE seq = 2");
    await factory.change('chain', `UPDATE baseline_links SET json = '{"ws-01|dns":"pass"}' WHERE seq = 3`);
    const reopened = await factory.open(t, 'chain');
    const breaks = verifyChain((await reopened.baselineLog(10)).links, true);
    t.same(
      breaks.map((broken) => broken.seq),
      [2, 3],
      'the changed approver and the changed cells are both found',
    );
    await factory.change('chain', 'DELETE FROM baseline_links WHERE seq = 1');
    t.ok(
      verifyChain((await reopened.baselineLog(10)).links, true).some(
        (broken) => broken.seq === 2 && /first link kept/.test(broken.problem),
      ),
      'a removed first link is found',
    );
    await reopened.close();
  });

  t.test(
    'a cell alert fires after N drifted reports and resolves after M, each event queued once per webhook',
    async (t) => {
      const store = await factory.open(t, 'alerts');
      store.setAlertRules({ fireAfter: 2, resolveAfter: 2, stale: true, webhooks: ['am', 'plain'] });
      const now = new Date();
      const report = (drift: boolean) => {
        const made = makeReport('ws-01', 'workstation', { results: 3, intervalS: 60 });
        if (drift) made.results[1] = { ...made.results[1]!, state: 'closed', verdict: 'fail' };
        return made;
      };
      const post = async (made: RunReport) => store.addReport(made, JSON.stringify(made), now);
      const claim = (at = now) => store.claimDeliveries(at, 10, 60_000);
      await post(report(false));
      await store.acceptBaseline({
        baseline: { 'ws-01|row-0': 'pass', 'ws-01|row-1': 'pass', 'ws-01|row-2': 'pass' },
        accepted_at: now.toISOString(),
        accepted_by: null,
        approver: 'A. Admin',
        change: 'CHG-1',
      });
      await post(report(true));
      t.same(await claim(), [], 'one drifted report is below fire-after');
      await post(report(true));
      const fired = await claim();
      t.match(fired, [
        { webhook: 'am', attempts: 0, event: { kind: 'drift', status: 'firing', agent: 'ws-01', row: 'row-1' } },
        { webhook: 'plain', event: { kind: 'drift', status: 'firing', verdict: 'fail', baseline: 'pass' } },
      ]);
      t.equal(fired.length, 2);
      t.same(await claim(), [], 'leased deliveries are not claimed twice');
      await store.settleDeliveries(
        fired.map((delivery) => ({ id: delivery.id, result: 'sent' as const })),
        now,
      );
      await post(report(true));
      await post(report(false));
      t.same(await claim(), [], 'still firing, and one matching report is below resolve-after');
      await post(report(false));
      const resolved = await claim();
      t.match(resolved, [
        { webhook: 'am', event: { status: 'resolved', row: 'row-1', starts_at: fired[0]!.event.starts_at } },
        { webhook: 'plain', event: { status: 'resolved', ends_at: now.toISOString() } },
      ]);
      await store.settleDeliveries(
        [
          { id: resolved[0]!.id, result: 'sent' },
          { id: resolved[1]!.id, result: 'retry', next_ms: now.getTime() + 60_000, error: 'ECONNREFUSED' },
        ],
        now,
      );
      t.same(await claim(), [], 'a retry waits for its time');
      t.match(await claim(new Date(now.getTime() + 61_000)), [{ id: resolved[1]!.id, webhook: 'plain', attempts: 1 }]);
      await store.settleDeliveries([{ id: resolved[1]!.id, result: 'sent' }], now);

      // A row the agent no longer reports is drift while the baseline holds it.
      const withoutRow2 = () => {
        const made = report(false);
        made.results = made.results.filter((result) => result.row !== 'row-2');
        return made;
      };
      await post(withoutRow2());
      await post(withoutRow2());
      const vanished = await claim();
      t.match(vanished, [
        { webhook: 'am', event: { status: 'firing', row: 'row-2', verdict: null, baseline: 'pass' } },
        { webhook: 'plain', event: { status: 'firing', row: 'row-2' } },
      ]);
      await store.settleDeliveries(
        vanished.map((delivery) => ({ id: delivery.id, result: 'sent' as const })),
        now,
      );

      // An agent silent for two hours is stale: of two coordinators sweeping at once, one queues its event.
      const old = makeReport('ws-09', 'workstation', {
        results: 1,
        intervalS: 60,
        finishedAt: new Date(now.getTime() - 7_200_000),
      });
      await post(old);
      const other = await factory.open(t, 'alerts');
      other.setAlertRules({ fireAfter: 2, resolveAfter: 2, stale: true, webhooks: ['am', 'plain'] });
      const turned = await Promise.all([store.sweepStale(now), other.sweepStale(now)]);
      t.equal(turned[0]! + turned[1]!, 1, 'one sweep saw the agent turn stale');
      t.equal(await store.sweepStale(now), 0, 'and no later sweep');
      // Two senders claiming at once share the deliveries out: none is sent by both.
      const later = new Date(now.getTime() + 120_000);
      const claims = await Promise.all([store, other].map((one) => one.claimDeliveries(later, 10, 60_000)));
      const stale = claims.flat().sort((a, b) => a.id - b.id);
      t.equal(new Set(stale.map((delivery) => delivery.id)).size, stale.length, 'no delivery claimed twice');
      t.match(stale, [
        { webhook: 'am', event: { status: 'firing', agent: 'ws-09' } },
        { webhook: 'plain', event: { status: 'firing', agent: 'ws-09' } },
      ]);
      t.equal(await store.pruneDeliveries(new Date(now.getTime() + 1000)), 6, 'the settled deliveries are pruned');
      await other.close();
      await store.close();
    },
  );

  t.test(
    'a firing alert is queued again each resend interval for the Alertmanager webhooks only, by one of two stores',
    async (t) => {
      const rules = {
        fireAfter: 1,
        resolveAfter: 1,
        stale: true,
        webhooks: ['am', 'plain'],
        resend: { everyMs: 60_000, webhooks: ['am'] },
      };
      const store = await factory.open(t, 'resend');
      store.setAlertRules(rules);
      const now = new Date();
      const at = (ms: number) => new Date(now.getTime() + ms);
      const report = (drift: boolean) => {
        const made = makeReport('ws-01', 'workstation', { results: 2, intervalS: 60 });
        if (drift) made.results[1] = { ...made.results[1]!, state: 'closed', verdict: 'fail' };
        return made;
      };
      const post = async (made: RunReport) => store.addReport(made, JSON.stringify(made), now);
      const sendAll = async (when: Date) => {
        const due = await store.claimDeliveries(when, 10, 60_000);
        await store.settleDeliveries(
          due.map((delivery) => ({ id: delivery.id, result: 'sent' as const })),
          when,
        );
        return due;
      };
      await post(report(false));
      await store.acceptBaseline({
        baseline: { 'ws-01|row-0': 'pass', 'ws-01|row-1': 'pass' },
        accepted_at: now.toISOString(),
        accepted_by: null,
        approver: 'A. Admin',
        change: 'CHG-1',
      });
      await post(report(true));
      const fired = await sendAll(now);
      t.equal(fired.length, 2, 'the firing event once per webhook');
      t.equal(await store.resendFiring(now), 0, 'the first look schedules the re-send');
      t.equal(await store.resendFiring(at(30_000)), 0, 'nothing before the interval');

      const other = await factory.open(t, 'resend');
      other.setAlertRules(rules);
      const resent = await Promise.all([store.resendFiring(at(61_000)), other.resendFiring(at(61_000))]);
      t.equal(resent[0]! + resent[1]!, 1, 'of two stores at once, one queues the re-send');
      t.equal(await other.resendFiring(at(62_000)), 0, 'and not again within the interval');
      t.match(await sendAll(at(61_000)), [
        {
          webhook: 'am',
          event: {
            kind: 'drift',
            status: 'firing',
            row: 'row-1',
            resend: true,
            starts_at: fired[0]!.event.starts_at,
            ends_at: at(61_000 + 240_000).toISOString(),
          },
        },
      ]);
      t.equal(await store.resendFiring(at(122_000)), 1, 'the next interval queues it again');
      t.equal((await sendAll(at(122_000))).length, 1, 'to the Alertmanager webhook only');

      await post(report(false));
      t.match(await sendAll(at(123_000)), [
        { webhook: 'am', event: { status: 'resolved' } },
        { webhook: 'plain', event: { status: 'resolved' } },
      ]);
      t.equal(await store.resendFiring(at(600_000)), 0, 'a resolved alert is not re-sent');

      // A stale agent's alert is re-sent too, with its role and site.
      const old = makeReport('ws-09', 'workstation', {
        results: 1,
        intervalS: 60,
        finishedAt: new Date(now.getTime() - 7_200_000),
      });
      await post(old);
      t.equal(await store.sweepStale(now), 1);
      const staleFired = await sendAll(now);
      t.equal(await store.resendFiring(now), 0);
      // Its one cell, not in the baseline, fires as drift at once too (fire-after 1): both are re-sent.
      t.equal(await other.resendFiring(at(61_000)), 2);
      const staleAgain = (await sendAll(at(61_000))).filter((delivery) => delivery.event.kind === 'stale');
      t.match(staleAgain, [
        {
          webhook: 'am',
          event: {
            status: 'firing',
            agent: 'ws-09',
            role: 'workstation',
            starts_at: staleFired.find((delivery) => delivery.event.kind === 'stale')!.event.starts_at,
          },
        },
      ]);
      t.equal(staleAgain.length, 1);
      await other.close();
      await store.close();
    },
  );
}
