// The cells-only matrix API, the metrics and the page for a large site, in process (fastify inject) on SQLite.
import t from 'tap';
import { join } from 'node:path';
import pino from 'pino';
import { createCoordinatorServer, CONTENT_SECURITY_POLICY } from '../../src/coordinator/server.js';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import { createToken } from '../../src/coordinator/tokens.js';
import { matrixAsset, matrixHtmlParts, renderOverviewHtml } from '../../src/report/html-matrix.js';
import { makeReport, tempDir } from './coordinator-process.js';

/** Agents and rows: 60 x 40 = 2,400 cells, more than the page shows whole. */
const AGENTS = 60;
const ROWS = 40;
const ROLES = ['workstation', 'tightgate', 'dmz'];

const store = SqliteStore.open(join(tempDir(t), 'matrix.db'));
const viewer = (await createToken(store, { kind: 'viewer' })).token;
const now = new Date();
const names = Array.from({ length: AGENTS }, (_, index) => `agent-${String(index).padStart(2, '0')}`);
await Promise.all(
  names.map((name, index) => {
    const stale = index % 20 === 0;
    const report = makeReport(name, ROLES[index % ROLES.length]!, {
      results: ROWS,
      intervalS: 60,
      ...(stale ? { finishedAt: new Date(now.getTime() - 3600_000) } : {}),
    });
    // Forty rows: makeReport names ten; give each result its own.
    report.results.forEach((result, k) => Object.assign(result, { row: `row-${k}`, id: `row-${k}/x` }));
    if (index === 7) report.results[3] = { ...report.results[3]!, verdict: 'fail', state: 'filtered' };
    return store.addReport(report, JSON.stringify(report), now);
  }),
);
const app = createCoordinatorServer({
  store,
  logger: pino({ level: 'silent' }),
  page: { render: matrixHtmlParts, overview: renderOverviewHtml, asset: matrixAsset },
  now: () => now,
});
t.teardown(async () => {
  await app.close();
  await store.close();
});
const get = (url: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${viewer}`, ...headers } });

t.test('the matrix is a page of cells without results, with the whole summary, and an ETag', async (t) => {
  const answer = await get('/api/v1/matrix?limit=100');
  t.equal(answer.statusCode, 200);
  const matrix = answer.json();
  t.equal(matrix.cells.length, 100);
  t.match(matrix.summary, { cells: AGENTS * ROWS, agents: AGENTS, rows: ROWS, fail: 1, stale_agents: 3 });
  t.same(matrix.page, { offset: 0, limit: 100, total: AGENTS * ROWS, next_offset: 100 });
  t.notOk('results' in matrix.cells[0], 'no results in a cell');
  t.match(matrix.cells[0], { verdict: 'pass', counts: { pass: 1 }, report_id: /^report-/ });
  t.equal(matrix.rows.length, ROWS);
  t.ok(matrix.agents.length <= 3, 'only the agents of the page');
  const etag = String(answer.headers.etag);
  t.match(etag, /^W\/"/);
  t.equal((await get('/api/v1/matrix?limit=100', { 'if-none-match': etag })).statusCode, 304);
  t.equal(
    (await get('/api/v1/matrix?limit=101', { 'if-none-match': etag })).statusCode,
    200,
    'another page has another ETag',
  );
  const last = (await get(`/api/v1/matrix?limit=1000&offset=2000`)).json();
  t.equal(last.cells.length, 400);
  t.equal(last.page.next_offset, null);
});

t.test('filters: role, row, verdict, stale; bad values are 400 naming the parameter', async (t) => {
  const failing = (await get('/api/v1/matrix?verdict=fail')).json();
  t.match(failing.cells, [{ agent: 'agent-07', row: 'row-3', verdict: 'fail' }]);
  t.equal(failing.page.total, 1);
  const stale = (await get('/api/v1/matrix?stale=true&row=row-0')).json();
  t.same(
    stale.cells.map((cell: { agent: string }) => cell.agent),
    ['agent-20', 'agent-40', 'agent-00'],
    'the hour-old agents, by role (dmz, tightgate, workstation)',
  );
  const role = (await get('/api/v1/matrix?role=dmz&limit=5000')).json();
  t.equal(role.page.total, (AGENTS / 3) * ROWS);
  for (const [query, name] of [
    ['verdict=maybe', 'verdict'],
    ['stale=perhaps', 'stale'],
    ['limit=0', 'limit'],
    ['limit=20000', 'limit'],
    ['offset=-1', 'offset'],
    ['results=true&limit=2000', 'limit'],
  ] as Array<[string, string]>) {
    const answer = await get(`/api/v1/matrix?${query}`);
    t.equal(answer.statusCode, 400, query);
    t.match(answer.json().message, `the query parameter ${name}`, query);
  }
});

t.test("a cell's results come from their own route; an unknown cell is 404", async (t) => {
  const cell = await get('/api/v1/cell?agent=agent-07&row=row-3');
  t.equal(cell.statusCode, 200);
  t.match(cell.json(), { agent: 'agent-07', row: 'row-3', verdict: 'fail', results: [{ verdict: 'fail' }] });
  t.equal((await get('/api/v1/cell?agent=agent-07&row=nope')).statusCode, 404);
  t.equal((await get('/api/v1/cell?agent=agent-07')).statusCode, 400);
});

t.test('/metrics: aggregates per site, role, row and verdict by default, no per-agent series', async (t) => {
  const text = (await get('/metrics')).body;
  t.match(text, /^reachgate_cells\{site="lab",role="tightgate",row="row-3",verdict="fail"\} 1$/m);
  t.match(text, /^reachgate_agents\{site="lab",role="dmz"\} 20$/m);
  t.match(text, /^reachgate_stale_agents\{site="lab",role="workstation"\} 1$/m);
  t.notMatch(text, /reachgate_cell_verdict\{/);
  t.notMatch(text, /reachgate_agent_stale\{/);
});

t.test('the page of a large site: role x row counts, stale agents first, drill-down pages, the same CSP', async (t) => {
  const page = await get('/');
  t.equal(page.statusCode, 200);
  t.equal(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  t.notMatch(page.body, /<script>/, 'no inline script');
  t.notMatch(page.body, /<style>/, 'no inline style');
  t.match(page.body, /Role x row/);
  t.match(page.body, /Stale agents \(3\)/);
  t.match(
    page.body,
    /role=tightgate&amp;row=row-3">19 pass · 1 fail · 1 stale</,
    'counts per verdict and stale, linked to the cells',
  );
  t.notMatch(page.body, /class="result /, 'no probe result on the overview');
  t.ok(page.body.length < 200_000, `${page.body.length} bytes`);
  const drill = await get('/?role=tightgate&row=row-3');
  t.equal(drill.statusCode, 200);
  t.match(drill.body, /role tightgate, row row-3: cells 1 to 20 of 20/);
  t.match(drill.body, /class="result /, 'a drill-down shows the probes');
  const agent = await get('/?agent=agent-07');
  t.match(agent.body, /cells 1 to 40 of 40/);
  const paged = await get('/?role=dmz');
  t.match(paged.body, /cells 1 to 500 of 800/);
  t.match(paged.body, /href="\/\?role=dmz&amp;offset=500">next cells/);
});
