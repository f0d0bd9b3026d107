import t from 'tap';
import { connect } from 'node:net';
import { join } from 'node:path';
import { call, makeReport, makeTokens, postReport, serveInProcess, tempDir } from './coordinator-process.js';
import { reachgate } from '../helpers/cli.js';
import type { Matrix } from '../../src/core/matrix.js';
import { CONTENT_SECURITY_POLICY } from '../../src/coordinator/server.js';

// One coordinator for the file, served in this process (the command's own server; test/coordinator/cli.test.ts and
// crash.test.ts start the command), on a real SQLite file, over real HTTP on loopback.
const dir = tempDir(t);
const db = join(dir, 'reachgate.db');
const [wsToken, tgToken, viewerToken, revokedToken] = (await makeTokens(db, [
  { kind: 'agent', agent: 'ws-01', role: 'workstation' },
  { kind: 'agent', agent: 'tg-01', role: 'tightgate' },
  { kind: 'viewer' },
  { kind: 'agent', agent: 'ws-02', role: 'workstation' },
])) as [string, string, string, string];
const coordinator = await serveInProcess(t, db, { metricsPerAgent: 100 });
const { url } = coordinator;

t.test('a new report is stored: 201 {stored: true}', async (t) => {
  const answer = await postReport(url, wsToken, makeReport('ws-01', 'workstation', { id: 'first-report' }));
  t.equal(answer.status, 201);
  t.same(answer.json(), { id: 'first-report', stored: true, duplicate: false });
});

t.test(
  'the same report posted five times is stored once and answered 200 {duplicate: true} after the first',
  async (t) => {
    const report = makeReport('ws-01', 'workstation');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await postReport(url, wsToken, report);
      statuses.push(answer.status);
      if (i > 0) t.same(answer.json(), { id: report.id, stored: false, duplicate: true });
    }
    t.same(statuses, [201, 200, 200, 200, 200]);
    const concurrent = makeReport('ws-01', 'workstation');
    const answers = await Promise.all(Array.from({ length: 5 }, () => postReport(url, wsToken, concurrent)));
    t.same(answers.map((a) => a.status).sort(), [200, 200, 200, 200, 201], 'five at once: one stored, four duplicates');
    const stored = await call(`${url}/api/v1/reports/${concurrent.id}`, { token: viewerToken });
    t.equal(stored.status, 200);
    t.equal((stored.json().report as { id: string }).id, concurrent.id);
  },
);

t.test('malformed JSON is 400 and says where the parser stopped', async (t) => {
  const answer = await postReport(url, wsToken, '{"id": "x", ');
  t.equal(answer.status, 400);
  t.equal(answer.json().error, 'malformed_json');
  t.match(answer.json().message, /^the body is not valid JSON: /);
});

t.test('an empty body is 400', async (t) => {
  const answer = await call(`${url}/api/v1/reports`, { method: 'POST', token: wsToken });
  t.equal(answer.status, 400);
  t.match(answer.json(), { error: 'bad_request', message: /the body is empty/ });
});

t.test('JSON nested deeper than 64 levels is 400 before it is parsed', async (t) => {
  const answer = await postReport(url, wsToken, `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  t.equal(answer.status, 400);
  t.match(answer.json(), { error: 'json_too_deep', message: /nests deeper than 64 levels/ });
});

t.test('a body over 1 MiB is 413', async (t) => {
  const report = makeReport('ws-01', 'workstation');
  const huge = JSON.stringify({ ...report, site: 'x'.repeat(1024 * 1024) });
  const answer = await postReport(url, wsToken, huge);
  t.equal(answer.status, 413);
  t.match(answer.json(), { error: 'body_too_large', message: /larger than 1048576 bytes/ });
});

t.test('a body that is not application/json is 415', async (t) => {
  const answer = await call(`${url}/api/v1/reports`, { token: wsToken, body: 'hello', contentType: 'text/plain' });
  t.equal(answer.status, 415);
  t.match(answer.json(), { error: 'unsupported_media_type', message: /application\/json/ });
});

t.test('a report that fails the schema is 422 naming the offending path', async (t) => {
  const good = makeReport('ws-01', 'workstation');
  const cases: Array<[string, unknown, string, RegExp]> = [
    [
      'a wrong verdict',
      { ...good, results: [{ ...good.results[0], verdict: 'maybe' }] },
      '/results/0/verdict',
      /must be one of "pass", "fail", "inconclusive", "error"/,
    ],
    ['a missing field', (({ summary: _s, ...rest }) => rest)(good), '/summary', /is required/],
    ['a wrong type', { ...good, results: 'none' }, '/results', /must be array/],
    [
      'a port out of range',
      { ...good, results: [{ ...good.results[0], target: { ...good.results[0]!.target, port: 70000 } }] },
      '/results/0/target/port',
      /must be <= 65535/,
    ],
    ['a timestamp that is not one', { ...good, started_at: 'yesterday' }, '/started_at', /must match pattern/],
    ['not an object at all', [1, 2, 3], '/', /must be object/],
  ];
  for (const [name, body, path, message] of cases) {
    const answer = await postReport(url, wsToken, body);
    t.equal(answer.status, 422, name);
    t.equal(answer.json().error, 'invalid_report', name);
    t.equal(answer.json().path, path, name);
    t.match(answer.json().message, message, name);
    t.match(answer.json().message, `the report is not valid: ${path} `, name);
  }
});

t.test('no token is 401 with a WWW-Authenticate challenge', async (t) => {
  const answer = await postReport(url, undefined, makeReport('ws-01', 'workstation'));
  t.equal(answer.status, 401);
  t.equal(answer.headers['www-authenticate'], 'Bearer realm="reachgate"');
  t.match(answer.json(), { error: 'unauthorized', message: /no token/ });
});

t.test('an unknown or malformed token is 401 invalid_token', async (t) => {
  const forged = `${wsToken.slice(0, -4)}AAAA`;
  for (const token of [forged, 'rg_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'not-a-token']) {
    const answer = await postReport(url, token, makeReport('ws-01', 'workstation'));
    t.equal(answer.status, 401, token);
    t.match(answer.headers['www-authenticate'], /^Bearer realm="reachgate", error="invalid_token"/);
    t.equal(answer.json().error, 'unauthorized');
  }
});

t.test('a token revoked with `reachgate token revoke` is refused from the next request on: 401', async (t) => {
  t.equal((await postReport(url, revokedToken, makeReport('ws-02', 'workstation'))).status, 201);
  const id = /^rg_([0-9a-f]{16})_/.exec(revokedToken)![1]!;
  const revoke = await reachgate(['token', 'revoke', id, '--db', db]);
  t.equal(revoke.code, 0, revoke.stderr);
  const answer = await postReport(url, revokedToken, makeReport('ws-02', 'workstation'));
  t.equal(answer.status, 401);
  t.match(answer.json().message, new RegExp(`the token ${id} was revoked at `));
  t.match(answer.headers['www-authenticate'], /error="invalid_token"/);
});

t.test('an agent posting as another agent or role is 403 and nothing is stored', async (t) => {
  const asOther = makeReport('tg-01', 'tightgate');
  const answer = await postReport(url, wsToken, asOther);
  t.equal(answer.status, 403);
  t.match(answer.json(), {
    error: 'forbidden',
    message:
      'this token may only report as agent "ws-01" with role "workstation"; the report says agent "tg-01" with role "tightgate"',
  });
  t.equal((await call(`${url}/api/v1/reports/${asOther.id}`, { token: viewerToken })).status, 404);
  const otherRole = await postReport(url, wsToken, makeReport('ws-01', 'tightgate'));
  t.equal(otherRole.status, 403);
});

t.test('a report id already stored for another agent is 409, not a silent duplicate', async (t) => {
  const answer = await postReport(url, tgToken, makeReport('tg-01', 'tightgate', { id: 'first-report' }));
  t.equal(answer.status, 409);
  t.match(answer.json(), { error: 'duplicate_id_conflict', message: /already stored for another agent/ });
});

t.test('the wrong kind of token is 403: viewers cannot post, agents cannot read', async (t) => {
  const post = await postReport(url, viewerToken, makeReport('ws-01', 'workstation'));
  t.equal(post.status, 403);
  t.match(post.json().message, /takes an agent token/);
  for (const path of ['/api/v1/matrix', '/api/v1/agents', '/api/v1/reports/first-report', '/metrics', '/']) {
    const read = await call(`${url}${path}`, { token: wsToken });
    t.equal(read.status, 403, path);
    t.match(read.json().message, /takes a viewer token/, path);
  }
  t.equal((await call(`${url}/api/v1/baseline`, { method: 'POST', token: wsToken })).status, 403);
});

t.test('reading routes without a token are 401', async (t) => {
  for (const path of ['/api/v1/matrix', '/api/v1/agents', '/api/v1/reports/first-report', '/metrics', '/']) {
    const answer = await call(`${url}${path}`);
    t.equal(answer.status, 401, path);
    t.equal(answer.headers['www-authenticate'], 'Bearer realm="reachgate"', path);
  }
});

t.test('an unknown route is 404 JSON, and an unknown report id is 404', async (t) => {
  const route = await call(`${url}/api/v2/nothing?token=secret`);
  t.equal(route.status, 404);
  t.same(route.json(), { error: 'not_found', message: 'no route GET /api/v2/nothing' });
  const report = await call(`${url}/api/v1/reports/no-such-report`, { token: viewerToken });
  t.equal(report.status, 404);
  t.match(report.json().message, /no report with id "no-such-report"/);
});

t.test("GET /api/v1/matrix shows every agent's latest report; the agents route lists them", async (t) => {
  t.equal((await postReport(url, tgToken, makeReport('tg-01', 'tightgate', { intervalS: 300 }))).status, 201);
  const answer = await call(`${url}/api/v1/matrix`, { token: viewerToken });
  t.equal(answer.status, 200);
  const matrix = answer.json() as unknown as Matrix;
  t.same(matrix.agents.map((agent) => agent.name).sort(), ['tg-01', 'ws-01', 'ws-02']);
  t.same(matrix.rows.sort(), ['row-0', 'row-1', 'row-2', 'row-3']);
  t.equal(matrix.cells.length, 12);
  const agents = await call(`${url}/api/v1/agents`, { token: viewerToken });
  t.equal(agents.status, 200);
  t.same((agents.json().agents as Array<{ name: string }>).map((agent) => agent.name).sort(), [
    'tg-01',
    'ws-01',
    'ws-02',
  ]);
});

t.test('GET /api/v1/reports/:id returns the report as posted, with when it was received', async (t) => {
  const report = makeReport('ws-01', 'workstation');
  await postReport(url, wsToken, report);
  const answer = await call(`${url}/api/v1/reports/${report.id}`, { token: viewerToken });
  t.equal(answer.status, 200);
  t.match(answer.headers['content-type'], /^application\/json/);
  const body = answer.json();
  t.same(body.report, report);
  t.match(body.received_at, /^\d{4}-\d\d-\d\dT/);
});

t.test('POST /api/v1/baseline accepts the current matrix; a change afterwards is drift', async (t) => {
  const missing = await call(`${url}/api/v1/baseline`, { method: 'POST', token: viewerToken });
  t.equal(missing.status, 422, 'no approver');
  t.match(missing.json(), { error: 'invalid_approval', field: 'approver', message: /approver/ });
  const noChange = await call(`${url}/api/v1/baseline`, {
    token: viewerToken,
    body: JSON.stringify({ approver: 'A. Admin', change: 'x'.repeat(201) }),
  });
  t.match(
    { status: noChange.status, ...noChange.json() },
    { status: 422, field: 'change' },
    'a change reference too long',
  );
  const accepted = await call(`${url}/api/v1/baseline`, {
    token: viewerToken,
    body: JSON.stringify({ approver: 'A. Admin', change: 'CHG-1' }),
  });
  t.equal(accepted.status, 200);
  t.match(accepted.json(), {
    cells: 12,
    agents: 3,
    rows: 4,
    seq: 1,
    previous: null,
    approver: 'A. Admin',
    change: 'CHG-1',
  });
  let matrix = (await call(`${url}/api/v1/matrix`, { token: viewerToken })).json() as unknown as Matrix;
  t.equal(matrix.drift_count, 0);
  const failing = makeReport('ws-01', 'workstation');
  failing.results[0] = { ...failing.results[0]!, state: 'filtered', verdict: 'fail', reason: 'no answer within 1 s' };
  failing.summary = { pass: 3, fail: 1, inconclusive: 0, error: 0 };
  t.equal((await postReport(url, wsToken, failing)).status, 201);
  matrix = (await call(`${url}/api/v1/matrix`, { token: viewerToken })).json() as unknown as Matrix;
  t.equal(matrix.drift_count, 1);
  t.match(
    matrix.cells.find((cell) => cell.drift),
    { agent: 'ws-01', row: 'row-0', verdict: 'fail', baseline: 'pass' },
  );
});

t.test('GET /metrics is Prometheus text: agent ages, cell verdicts, drift, ingest counters', async (t) => {
  const answer = await call(`${url}/metrics`, { token: viewerToken });
  t.equal(answer.status, 200);
  t.match(answer.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.match(answer.text, /^reachgate_agent_last_report_age_seconds\{agent="ws-01",role="workstation"\} \d/m);
  t.match(answer.text, /^reachgate_agent_stale\{agent="tg-01",role="tightgate"\} 0$/m);
  t.match(answer.text, /^reachgate_cell_verdict\{agent="ws-01",role="workstation",row="row-0"\} 2$/m);
  t.match(answer.text, /^reachgate_cell_verdict\{agent="tg-01",role="tightgate",row="row-0"\} 0$/m);
  t.match(answer.text, /^reachgate_drift_cells 1$/m);
  t.match(answer.text, /^reachgate_ingest_requests_total\{status="201"\} [1-9]\d*$/m);
  t.match(answer.text, /^reachgate_ingest_requests_total\{status="403"\} [1-9]\d*$/m);
  t.match(answer.text, /^reachgate_ingest_requests_total\{status="422"\} [1-9]\d*$/m);
  t.match(answer.text, /^process_resident_memory_bytes \d+/m);
});

t.test('GET /healthz answers without a token', async (t) => {
  const answer = await call(`${url}/healthz`);
  t.equal(answer.status, 200);
  t.match(answer.json(), { status: 'ok' });
});

t.test(
  'the HTML page: ?token= once becomes an HttpOnly SameSite=Strict cookie, the page comes with a strict CSP',
  async (t) => {
    const exchange = await call(`${url}/?token=${viewerToken}`);
    t.equal(exchange.status, 303);
    t.equal(exchange.headers.location, '/');
    const cookie = String(exchange.headers['set-cookie']);
    t.equal(cookie, `reachgate_viewer=${viewerToken}; Path=/; HttpOnly; SameSite=Strict`);
    const page = await call(`${url}/`, { headers: { cookie: cookie.split(';')[0]! } });
    t.equal(page.status, 200);
    t.match(page.headers['content-type'], /^text\/html; charset=utf-8/);
    t.equal(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
    t.notMatch(String(page.headers['content-security-policy']), /unsafe-inline/);
    t.match(page.text, /<link rel="stylesheet" href="\/assets\/matrix\.css">/);
    t.notMatch(page.text, /<script>/, 'no inline script');
    t.match(page.text, /ws-01/);
    const bearer = await call(`${url}/`, { token: viewerToken });
    t.equal(bearer.status, 200, 'a viewer token in Authorization works too');
    const wrong = await call(`${url}/?token=${wsToken}`);
    t.equal(wrong.status, 403, 'an agent token is not traded for a cookie');
    t.notOk(wrong.headers['set-cookie']);
    const cookieOnPost = await call(`${url}/api/v1/baseline`, {
      method: 'POST',
      headers: { cookie: cookie.split(';')[0]! },
    });
    t.equal(cookieOnPost.status, 401, 'the cookie does not authorize a change');
    const logged = JSON.stringify(coordinator.logs);
    t.notMatch(logged, viewerToken.slice(20), 'no token secret in the log');
  },
);

t.test("the page's stylesheet and script are served from /assets/, anything else there is 404", async (t) => {
  const css = await call(`${url}/assets/matrix.css`);
  t.equal(css.status, 200);
  t.match(css.headers['content-type'], /^text\/css/);
  const js = await call(`${url}/assets/matrix.js`);
  t.equal(js.status, 200);
  t.match(js.headers['content-type'], /^text\/javascript/);
  for (const name of ['..%2F..%2Fpackage.json', 'missing.css', 'matrix.ts']) {
    t.equal((await call(`${url}/assets/${name}`)).status, 404, name);
  }
});

t.test('every answer is logged as one JSON line without the query string', async (t) => {
  const line = coordinator.logs.find((entry) => entry.msg === 'request' && entry.path === '/' && entry.status === 303);
  t.ok(line, 'the ?token= request was logged');
  t.notMatch(JSON.stringify(line), /token=/);
});

t.test('the coordinator stops as on SIGTERM: the stop completes and nothing listens after it', async (t) => {
  await t.resolves(coordinator.stop());
  const { port } = new URL(url);
  const connecting = new Promise((resolve, reject) =>
    connect(Number(port), '127.0.0.1').once('connect', resolve).once('error', reject),
  );
  await t.rejects(connecting, { code: 'ECONNREFUSED' }, 'a new connection is refused');
});
