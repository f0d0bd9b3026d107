// A large site's counts through the API and the page, in process (fastify inject) on SQLite: answered at once
// with the last count and its time while a newer one runs, kept for a restarted coordinator. Every site counts
// as large here (the thresholds are options); the cells themselves are always the current state's.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { fetchMatrix } from '../../src/coordinator/client.js';
import { CONTENT_SECURITY_POLICY, createCoordinatorServer } from '../../src/coordinator/server.js';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import { createToken } from '../../src/coordinator/tokens.js';
import { matrixAsset, matrixHtmlParts, renderOverviewHtml } from '../../src/report/html-matrix.js';
import { makeReport, tempDir } from './coordinator-process.js';

const store = SqliteStore.open(join(tempDir(t), 'counts.db'));
t.teardown(() => store.close());
const viewer = (await createToken(store, { kind: 'viewer' })).token;
const post = async (agent: string) => {
  const report = makeReport(agent, 'workstation', { results: 2 });
  await store.addReport(report, JSON.stringify(report), new Date());
};
const server = (gapMs = 0) => {
  const app = createCoordinatorServer({
    store,
    logger: pino({ level: 'silent' }),
    page: { render: matrixHtmlParts, overview: renderOverviewHtml, asset: matrixAsset },
    counts: { exactAgents: 0, exactMs: -1, minGapMs: gapMs, gapFactor: 0 },
  });
  t.teardown(() => app.close());
  return app;
};
type Page = {
  summary: { agents: number; cells: number; current: boolean; as_of?: string };
  cells: Array<{ agent: string }>;
  page: { total: number };
};
const matrixOf = async (app: ReturnType<typeof server>) => {
  const answer = await app.inject({
    method: 'GET',
    url: '/api/v1/matrix',
    headers: { authorization: `Bearer ${viewer}` },
  });
  t.equal(answer.statusCode, 200);
  return { page: answer.json() as Page, etag: answer.headers.etag };
};

t.test('a large site answers at once with the last count and its time, then with the newer count', async (t) => {
  const app = server();
  await post('ws-01');
  await post('ws-02');
  const first = await matrixOf(app);
  t.match(
    first.page.summary,
    { agents: 2, cells: 4, current: true },
    'nothing counted yet: the first count is waited for',
  );
  t.notOk('as_of' in first.page.summary, 'current counts have no as_of');

  await post('ws-03');
  const behind = await matrixOf(app);
  t.match(behind.page.summary, { agents: 2, cells: 4, current: false }, 'the last count, at once');
  t.ok(Date.parse(behind.page.summary.as_of!) <= Date.now(), 'with the time of its state');
  t.equal(behind.page.page.total, 6, 'the page total is the current state');
  t.same(
    behind.page.cells.map((cell) => cell.agent),
    ['ws-01', 'ws-01', 'ws-02', 'ws-02', 'ws-03', 'ws-03'],
    'so are the cells',
  );

  // The background count (started by the answers above) ends within a few tries.
  let caught: Awaited<ReturnType<typeof matrixOf>> | undefined;
  for (let tries = 0; tries < 100 && !caught?.page.summary.current; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    caught = await matrixOf(app);
  }
  t.match(caught?.page.summary, { agents: 3, cells: 6, current: true }, 'then the newer count');
  t.not(caught?.etag, behind.etag, 'a newer count is a new ETag');
});

t.test('a restarted coordinator serves the kept count at once', async (t) => {
  const app = server();
  t.match((await matrixOf(app)).page.summary, { agents: 3, current: true }, 'the state it counted: current');
  await post('ws-04');
  t.match((await matrixOf(app)).page.summary, { agents: 3, current: false }, 'a newer state: the kept count');
  const page = await app.inject({ method: 'GET', url: '/', headers: { authorization: `Bearer ${viewer}` } });
  t.equal(page.statusCode, 200);
});

t.test('reachgate matrix counts the cells it prints, not the last count the API served', async (t) => {
  // No background count for an hour: the API stays behind while the client reads it.
  const app = server(3_600_000);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as AddressInfo;
  const tokenFile = join(tempDir(t), 'viewer.token');
  writeFileSync(tokenFile, `${viewer}\n`, { mode: 0o600 });
  await post('ws-05');
  t.match((await matrixOf(app)).page.summary, { current: false }, 'the API is behind by one agent');
  // Held behind (no background count for an hour), so that a count made in the SQLite counting thread cannot
  // overtake the page.
  const drill = await app.inject({ method: 'GET', url: '/?row=row-0', headers: { authorization: `Bearer ${viewer}` } });
  t.equal(drill.statusCode, 200);
  t.match(drill.body, /Counts as of <time datetime="[^"]+">/, 'the page says how old its counts are');
  const matrix = await fetchMatrix({ coordinator: `http://127.0.0.1:${address.port}`, tokenFile });
  t.equal(matrix.agents.length, 5);
  t.same(matrix.summary, {
    pass: 10,
    fail: 0,
    inconclusive: 0,
    error: 0,
    cells: 10,
    rows: 2,
    agents: 5,
    stale_agents: 0,
    drift: 0,
  });
  t.equal(matrix.drift_count, 0);
});

t.test(
  'a large site never counted: the page says so at once and serves its cells while the first count runs',
  async (t) => {
    const fresh = SqliteStore.open(join(tempDir(t), 'uncounted.db'));
    t.teardown(() => fresh.close());
    const token = (await createToken(fresh, { kind: 'viewer' })).token;
    // 2,010 cells: more than the page shows whole.
    await Promise.all(
      Array.from({ length: 201 }, (_, index) => {
        const report = makeReport(`ws-${String(index).padStart(3, '0')}`, 'workstation', { results: 10 });
        return fresh.addReport(report, JSON.stringify(report), new Date());
      }),
    );
    // The count waits for the test to let it run: the page is seen while it runs.
    let letCount = (): void => undefined;
    const counting = new Promise<void>((resolve) => (letCount = resolve));
    const gated = Object.assign(Object.create(fresh) as SqliteStore, {
      snapshot: async (work: Parameters<SqliteStore['snapshot']>[0]) => {
        await counting;
        return fresh.snapshot(work);
      },
    });
    const app = createCoordinatorServer({
      store: gated,
      logger: pino({ level: 'silent' }),
      page: { render: matrixHtmlParts, overview: renderOverviewHtml, asset: matrixAsset },
      counts: { exactAgents: 0, exactMs: -1, minGapMs: 3_600_000, gapFactor: 0 },
    });
    t.teardown(() => app.close());
    const get = (url: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
    const first = await get('/');
    t.equal(first.statusCode, 200);
    t.match(
      first.body,
      /Counting the cells of 201 agents \(since <time datetime="[^"]+">/,
      'no counts yet: it says so',
    );
    t.match(first.body, /href="\/\?role=workstation&amp;row=row-0"/, 'with a link to each role and row');
    t.notMatch(first.body, /<script>|<style>| style="/, 'no inline script or style');
    t.equal(first.headers['content-security-policy'], CONTENT_SECURITY_POLICY, 'the same policy');
    const drill = await get('/?row=row-3');
    t.equal(drill.statusCode, 200);
    t.match(
      drill.body,
      /cells 1 to 201 of 201; the whole site(&apos;|')s cells are being counted/,
      'a drill-down serves its cells',
    );
    t.match(drill.body, /<span class="count">201<\/span> pass/, 'counted from the cells it shows');
    letCount();
    const matrix = await get('/api/v1/matrix?limit=1');
    t.match(
      matrix.json(),
      { summary: { agents: 201, cells: 2010, current: true }, page: { total: 2010 } },
      'the API waits',
    );
    const after = await get('/');
    t.match(after.body, /201 agents · 10 rows · 2010 cells/, 'then the page shows the counts');
    t.notMatch(after.body, /Counting the cells/);
  },
);
