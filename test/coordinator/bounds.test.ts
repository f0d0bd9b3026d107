import t, { type Test } from 'tap';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  call,
  makeReport,
  makeTokens,
  postReport,
  serveInProcess,
  tempDir,
  type Answer,
} from './coordinator-process.js';

// What one hostile agent can send, against a real coordinator on loopback: each case is refused with
// its status and a message naming the JSON path, while another agent's report is stored meanwhile and
// the page still renders. (How fast the others stay is a benchmark: bench/hostile.mjs.)

const BURST = 40;
const BUDGET = 1024 * 1024;
const dir = tempDir(t);
const db = join(dir, 'reachgate.db');
const [evil, good, flood, bulk, viewer] = (await makeTokens(db, [
  { kind: 'agent', agent: 'ws-evil', role: 'workstation' },
  { kind: 'agent', agent: 'ws-good', role: 'workstation' },
  { kind: 'agent', agent: 'ws-flood', role: 'workstation' },
  { kind: 'agent', agent: 'ws-bulk', role: 'workstation' },
  { kind: 'viewer' },
])) as [string, string, string, string, string];
const { url } = await serveInProcess(t, db, {
  limits: { ratePerSecond: 0.5, rateBurst: BURST, agentBytesPerDay: BUDGET, staleAfterHours: 1 },
});

type Report = ReturnType<typeof makeReport> & Record<string, unknown>;

/** A valid report of ws-evil, changed by `change`. */
function evilReport(change: (report: Report) => void): Report {
  const report = makeReport('ws-evil', 'workstation') as Report;
  change(report);
  return report;
}

/** Send `hostile` and, at the same time, a valid report of another agent: the other is stored, the page renders. */
async function beside(t: Test, hostile: () => Promise<Answer>): Promise<Answer> {
  const [answer, other] = await Promise.all([hostile(), postReport(url, good, makeReport('ws-good', 'workstation'))]);
  t.equal(other.status, 201, "another agent's report is stored meanwhile");
  t.equal((await call(`${url}/`, { token: viewer })).status, 200, 'the page still renders');
  return answer;
}

/** Assert a refusal: status, error code, the path in the body and in the message. */
function refused(t: Test, answer: Answer, status: number, error: string, path: string, message: RegExp): void {
  t.equal(answer.status, status, `${status} ${error}`);
  const body = answer.json();
  t.equal(body.error, error);
  t.equal(body.path, path, 'the answer names the path');
  t.ok(String(body.message).includes(path), `the message names ${path}`);
  t.match(body.message, message);
}

const deepEvidence = (levels: number): unknown => {
  let value: unknown = 'x';
  for (let level = 0; level < levels; level++) value = { a: value };
  return value;
};

const cases: Array<{ what: string; path: string; message: RegExp; change: (report: Report) => void }> = [
  {
    what: 'a row of 200 KB of <',
    path: '/results/0/row',
    message: /must NOT have more than 256 characters/,
    change: (report) => (report.results[0]!.row = '<'.repeat(200_000)),
  },
  {
    what: 'an agent name of 257 characters',
    path: '/agent',
    message: /256 characters/,
    change: (report) => (report.agent = 'a'.repeat(257)),
  },
  {
    what: 'a role of 257 characters',
    path: '/role',
    message: /256 characters/,
    change: (report) => (report.role = 'r'.repeat(257)),
  },
  {
    what: 'a site of 257 characters',
    path: '/site',
    message: /256 characters/,
    change: (report) => (report.site = 's'.repeat(257)),
  },
  {
    what: 'a reason of 4097 characters',
    path: '/results/1/reason',
    message: /4096 characters/,
    change: (report) => (report.results[1]!.reason = 'r'.repeat(4097)),
  },
  {
    what: 'an evidence key of 300 characters',
    path: `/results/0/evidence/${'k'.repeat(64)}…`,
    message: /has a key of more than 256 characters/,
    change: (report) => (report.results[0]!.evidence = { ['k'.repeat(300)]: 1 }),
  },
  {
    what: 'an evidence string of 5000 characters',
    path: '/results/0/evidence/banner',
    message: /4096 characters/,
    change: (report) => (report.results[0]!.evidence = { banner: 'b'.repeat(5000) }),
  },
  {
    what: 'evidence 9 levels deep',
    path: `/results/0/evidence${'/a'.repeat(8)}`,
    message: /deeper than 8 levels/,
    change: (report) => (report.results[0]!.evidence = deepEvidence(9) as Record<string, unknown>),
  },
  {
    what: 'evidence of 20,000 characters',
    path: '/results/0/evidence',
    message: /larger than 16384 characters/,
    change: (report) =>
      (report.results[0]!.evidence = Object.fromEntries(
        Array.from({ length: 5 }, (_, index) => [`part${index}`, 'e'.repeat(4000)]),
      )),
  },
  {
    what: 'an unknown property holding 5000 characters',
    path: '/comment',
    message: /4096 characters/,
    change: (report) => (report.comment = 'c'.repeat(5000)),
  },
  {
    what: 'an interval of more than a day',
    path: '/interval_s',
    message: /must be <= 86400/,
    change: (report) => (report.interval_s = 86_401),
  },
];

for (const { what, path, message, change } of cases) {
  t.test(`${what} is a 422 naming ${path}`, async (t) => {
    const answer = await beside(t, () => postReport(url, evil, evilReport(change)));
    refused(t, answer, 422, 'invalid_report', path, message);
  });
}

t.test('a repeated key is a 422 naming its path, at the top and deep inside', async (t) => {
  const report = JSON.stringify(makeReport('ws-evil', 'workstation'));
  const top = report.replace('"agent":"ws-evil"', '"agent":"ws-evil","agent":"ws-good"');
  const answer = await beside(t, () => postReport(url, evil, top));
  refused(t, answer, 422, 'duplicate_key', '/agent', /repeats the key/);
  // The same key written with an escape is the same key.
  const deep = report.replace('"port":5900,', '"port":5900,"\\u0070ort":1,');
  refused(t, await postReport(url, evil, deep), 422, 'duplicate_key', '/results/0/target/port', /repeats the key/);
});

t.test(
  'the same report id with a different body is a 409; the same body spaced differently is the duplicate 200',
  async (t) => {
    const report = makeReport('ws-evil', 'workstation');
    t.equal((await postReport(url, evil, report)).status, 201);
    const again = await postReport(url, evil, JSON.stringify(report, null, 2));
    t.equal(again.status, 200);
    t.equal(again.json().duplicate, true);
    const changed = { ...report, results: report.results.map((result) => ({ ...result, verdict: 'fail' })) };
    const conflict = await beside(t, () => postReport(url, evil, changed));
    t.equal(conflict.status, 409);
    t.equal(conflict.json().error, 'report_body_conflict');
    t.match(conflict.json().message, new RegExp(`report id ${report.id} is already stored with a different body`));
    const stored = await call(`${url}/api/v1/reports/${report.id}`, { token: viewer });
    t.same(JSON.parse(stored.text).report, report, 'the first body is what is stored');
  },
);

t.test('a token past its burst gets 429 with Retry-After and Connection: close; another token is stored', async (t) => {
  const answers: Answer[] = [];
  for (let sent = 0; sent < BURST + 5; sent++)
    answers.push(await postReport(url, flood, makeReport('ws-flood', 'workstation')));
  const limited = answers.filter((answer) => answer.status === 429);
  t.ok(limited.length >= 4, `the requests past the burst were refused (${limited.length} 429s)`);
  const first = limited[0]!;
  t.equal(first.json().error, 'rate_limited');
  t.match(first.json().message, /too many requests from this agent token: at most 0\.5 a second .* retry after \d+ s/);
  t.match(first.headers['retry-after'], /^\d+$/);
  t.equal(first.headers.connection, 'close');
  t.equal((await postReport(url, good, makeReport('ws-good', 'workstation'))).status, 201);
});

t.test(
  "an agent past its daily byte budget gets 429 naming --agent-bytes-per-day; other agents' reports are stored",
  async (t) => {
    // About 400 KB each: three of them are more than the budget of 1 MiB.
    const large = (): Report => {
      const report = makeReport('ws-bulk', 'workstation', { results: 100 }) as Report;
      for (const result of report.results) result.reason = 'r'.repeat(4000);
      return report;
    };
    const statuses: number[] = [];
    let refusal: Answer | undefined;
    const sent: Report[] = [];
    for (let count = 0; count < 3; count++) {
      sent.push(large());
      const answer = await beside(t, () => postReport(url, bulk, sent.at(-1)));
      statuses.push(answer.status);
      if (answer.status === 429) refusal = answer;
    }
    t.same(statuses, [201, 201, 429]);
    t.match(refusal?.json().message, /agent "ws-bulk" has used its budget of 1048576 bytes .*--agent-bytes-per-day/);
    t.match(refusal?.headers['retry-after'], /^\d+$/);
    const retry = await postReport(url, bulk, sent[1]);
    t.equal(retry.status, 200, 'a retry of a stored report (its ack lost) is still acknowledged over the budget');
    t.equal(retry.json().duplicate, true);
    // Refused before it is parsed: a new report's text, cut short, is not even JSON, and still gets the 429.
    const text = JSON.stringify(large());
    const unparsed = await call(`${url}/api/v1/reports`, { token: bulk, body: text.slice(0, text.length - 2) });
    t.equal(unparsed.status, 429, 'a new report past the budget is refused before its body is parsed');
    t.match(unparsed.json().message, /agent "ws-bulk" has used its budget/);
    t.equal(unparsed.headers.connection, 'close');
    // Nor does another agent's stored id let an unparsed body through (only this agent's own retry does).
    const foreign = makeReport('ws-good', 'workstation');
    t.equal((await postReport(url, good, foreign)).status, 201);
    const borrowed = JSON.stringify({ ...large(), id: foreign.id });
    const posing = await call(`${url}/api/v1/reports`, { token: bulk, body: borrowed.slice(0, borrowed.length - 2) });
    t.equal(posing.status, 429, "another agent's stored id is no way past the budget");
  },
);

/** Send raw request headers on a new connection; resolves with everything the server wrote until it closed. */
function rawExchange(head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const socket: Socket = connect({ host: hostname, port: Number(port) });
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open; it wrote: ${received}`));
    }, 10_000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(head));
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
}

t.test('early 401 and 413 answers close the connection without waiting for the body', async (t) => {
  const head = (token: string, length: number): string =>
    `POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
  const unauthorized = await rawExchange(head('rg_nope', 500_000));
  t.match(unauthorized, /^HTTP\/1\.1 401 /);
  t.match(unauthorized, /\r\nconnection: close\r\n/i);
  const tooLarge = await rawExchange(head(good, 5 * 1024 * 1024));
  t.match(tooLarge, /^HTTP\/1\.1 413 /);
  t.match(tooLarge, /\r\nconnection: close\r\n/i);
});

t.test("a row of 256 '<' is stored, escaped on the page, and cut short in the metrics' labels", async (t) => {
  const report = makeReport('ws-good', 'workstation');
  report.results[0]!.row = '<'.repeat(256);
  t.equal((await postReport(url, good, report)).status, 201);
  const page = await call(`${url}/`, { token: viewer });
  t.equal(page.status, 200);
  t.ok(page.text.includes('&lt;'.repeat(256)), 'the row is on the page, escaped');
  t.notOk(page.text.includes('<<'), 'no raw < of it');
  const metrics = await call(`${url}/metrics`, { token: viewer });
  t.equal(metrics.status, 200);
  const labels = [...metrics.text.matchAll(/row="([^"]*)"/g)].map((match) => match[1]!);
  const cut = labels.find((label) => label.startsWith('<<<'));
  t.ok(cut?.includes('…~'), 'the long row is cut and hashed');
  t.ok(
    labels.every((label) => label.length <= 128),
    'every row label is at most 128 characters',
  );
});

t.test('an agent whose results are older than --stale-after-hours is stale whatever interval it claims', async (t) => {
  const report = makeReport('ws-good', 'workstation', {
    finishedAt: new Date(Date.now() - 2 * 3_600_000),
    intervalS: 86_400,
  });
  t.equal((await postReport(url, good, report)).status, 201);
  const matrix = (await call(`${url}/api/v1/matrix`, { token: viewer })).json() as {
    agents: Array<{ name: string; stale: boolean }>;
  };
  t.equal(matrix.agents.find((agent) => agent.name === 'ws-good')?.stale, true);
  t.equal((await call(`${url}/`, { token: viewer })).status, 200, 'and the page still renders');
});
