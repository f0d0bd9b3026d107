// The Store contract: the same tests run against every store (store.test.ts: SQLite;
// pg-store.test.ts: a real PostgreSQL server).
import type { Test } from 'tap';
import type { Store } from '../../src/coordinator/store.js';
import { authenticate, createToken } from '../../src/coordinator/tokens.js';
import { makeReport } from './coordinator-process.js';

const DAY_MS = 86_400_000;

/** How a contract run gets its store: the same `name` opens the same database again. */
export interface StoreFactory {
  open(t: Test, name: string): Promise<Store>;
}

/** Run every contract test against the stores `factory` opens. */
export function storeContract(t: Test, factory: StoreFactory): void {
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

  t.test('the latest report of each agent is what the matrix gets, also after reopening', async (t) => {
    let store = await factory.open(t, 'latest');
    const older = makeReport('ws-01', 'workstation');
    const newer = makeReport('ws-01', 'workstation');
    const other = makeReport('tg-01', 'tightgate');
    for (const report of [older, newer, other]) await store.addReport(report, JSON.stringify(report), new Date());
    const ids = async () => (await store.latestReports()).map((entry) => entry.report.id).sort();
    t.same(await ids(), [newer.id, other.id].sort());
    await store.close();
    store = await factory.open(t, 'latest');
    t.same(await ids(), [newer.id, other.id].sort());
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
    t.equal((await store.latestReports()).length, 3);
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
    await store.setBaseline(accepted);
    await store.close();
    store = await factory.open(t, 'baseline');
    t.same(await store.getBaseline(), accepted);
    await store.close();
  });
}
