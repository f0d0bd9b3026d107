import t from 'tap';
import { join } from 'node:path';
import {
  call,
  makeReport,
  makeTokens,
  NO_INGEST_LIMITS,
  postReport,
  startCoordinator,
  tempDir,
  type Answer,
} from './coordinator-process.js';

// A thousand hostile bodies against a real coordinator: every answer is a 4xx or a 2xx, never a 5xx,
// and the process is still up and storing at the end. Seeded, so a failure can be replayed.
const SEED = 0x5eed_2026;
const BODIES = 1000;
const CONCURRENCY = 8;

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(SEED);
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

function randomString(max: number): string {
  const alphabet = [
    'a',
    'Z',
    '0',
    ' ',
    '"',
    '\\',
    '\u0000',
    '\u001f',
    'é',
    '\ud800',
    '\udfff',
    '😀',
    '<',
    '>',
    '&',
    '{',
    '[',
    '\n',
  ];
  return Array.from({ length: int(max) }, () => pick(alphabet)).join('');
}

/** Random printable ASCII: what a header can carry. */
function printable(max: number): string {
  return Array.from({ length: 1 + int(max) }, () => String.fromCharCode(0x21 + int(94))).join('');
}

/** Random bytes, percent-encoded: paths that need not be UTF-8 at all. */
function percentBytes(max: number): string {
  return Array.from({ length: int(max) }, () => `%${int(256).toString(16).padStart(2, '0')}`).join('');
}

function randomJson(depth: number): unknown {
  switch (depth <= 0 ? int(5) : int(7)) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return pick([0, -0, 1e308, -1e-308, 2 ** 53 + 1, 65536, -1, 3.5]);
    case 3:
      return randomString(40);
    case 4:
      return pick(['pass', 'open', '2026-11-26T10:00:00Z', '', 'rg_0000000000000000_x']);
    case 5:
      return Array.from({ length: int(5) }, () => randomJson(depth - 1));
    default:
      return Object.fromEntries(
        Array.from({ length: int(5) }, () => [
          pick(['id', 'agent', 'role', 'results', 'summary', '__proto__', 'constructor', randomString(8)]),
          randomJson(depth - 1),
        ]),
      );
  }
}

/** Replace the value at a random path of a valid report. */
function mutate(report: Record<string, unknown>): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
  let target: Record<string, unknown> = copy;
  for (let step = 0; step < 3; step++) {
    const keys = Object.keys(target);
    const key = pick(keys);
    const next = target[key];
    if (next && typeof next === 'object' && random() < 0.6) {
      target = (Array.isArray(next) ? (next[0] ?? next) : next) as Record<string, unknown>;
      continue;
    }
    if (random() < 0.3) delete target[key];
    else target[key] = randomJson(2);
    break;
  }
  return copy;
}

function deep(levels: number, open: string, close: string, inner = '0'): string {
  return `${open.repeat(levels)}${inner}${close.repeat(levels)}`;
}

const dir = tempDir(t);
const db = join(dir, 'reachgate.db');
const [agentToken, viewerToken] = (await makeTokens(db, [
  { kind: 'agent', agent: 'ws-01', role: 'workstation' },
  { kind: 'viewer' },
])) as [string, string];
// Rate limits off (their own test is bounds.test.ts): a thousand requests from one token are the point here.
const coordinator = await startCoordinator(t, db, [...NO_INGEST_LIMITS]);
const { url } = coordinator;

/** One hostile request; `what` names it in a failure. */
type Hostile = { what: string; send: () => Promise<Answer> };

function hostile(index: number): Hostile {
  const valid = makeReport('ws-01', 'workstation') as unknown as Record<string, unknown>;
  const post = (
    what: string,
    body: string | Buffer,
    options: { token?: string; contentType?: string } = {},
  ): Hostile => ({
    what,
    send: () =>
      call(`${url}/api/v1/reports`, {
        method: 'POST',
        token: options.token ?? agentToken,
        body,
        contentType: options.contentType ?? 'application/json',
      }),
  });
  switch (index % 14) {
    case 0:
      return post('random bytes', Buffer.from(Array.from({ length: int(4096) }, () => int(256))));
    case 1:
      return post('random JSON', JSON.stringify(randomJson(6)) ?? 'null');
    case 2:
      return post('a report with a value of the wrong type', JSON.stringify(mutate(valid)));
    case 3:
      return post('a report with a huge string', JSON.stringify({ ...valid, site: 'x'.repeat(int(2 * 1024 * 1024)) }));
    case 4:
      return post('100k levels of nesting', index % 28 === 4 ? deep(100_000, '[', ']') : deep(100_000, '{"a":', '}'));
    case 5:
      return post(
        'nesting inside a valid report',
        JSON.stringify({ ...valid, evidence: null }).replace('"evidence":null', `"evidence":${deep(70, '{"e":', '}')}`),
      );
    case 6:
      return post(
        'invalid UTF-8 in a string',
        Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]),
      );
    case 7: {
      const text = JSON.stringify(valid);
      return post('a truncated report', text.slice(0, int(text.length)));
    }
    case 8:
      return post('a report for another agent', JSON.stringify({ ...valid, agent: randomString(20) || 'x' }));
    case 9:
      return post('a garbage token', JSON.stringify(valid), {
        token: pick([
          '',
          'rg_',
          `${agentToken}x`,
          printable(60),
          'rg_zzzzzzzzzzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        ]),
      });
    case 10:
      return post('a strange content type', JSON.stringify(valid), {
        contentType: pick([
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/json; charset=latin1',
          'multipart/form-data; boundary=x',
          'application/jsonx',
          '*/*',
        ]),
      });
    case 11:
      return post(
        'numbers and keys JSON allows',
        `{"id":1e400,"agent":-0,"__proto__":{"polluted":true},"constructor":{"prototype":{}},"results":[${'1,'.repeat(int(1000))}1]}`,
      );
    case 12:
      return post(
        'duplicate keys and lone surrogates',
        `{"id":"a","id":"b","agent":"\\ud800","role":"\\udfff","results":[],"summary":{}}`,
      );
    default:
      return {
        what: 'a random path',
        send: () => call(`${url}/${percentBytes(30)}?token=${percentBytes(10)}`, { token: viewerToken }),
      };
  }
}

/** Whether a request failed because the server closed the connection while the body was still being sent. */
function closedWhileSending(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === 'EPIPE' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET';
}

t.test(`${BODIES} random and hostile requests get no 5xx and the coordinator stays up`, async (t) => {
  const statuses = new Map<number, number>();
  const serverErrors: string[] = [];
  const requests = Array.from({ length: BODIES }, (_, index) => hostile(index));
  let next = 0;
  let closedEarly = 0;
  const worker = async (): Promise<void> => {
    while (next < requests.length) {
      const request = requests[next++]!;
      let answer: Answer;
      try {
        answer = await request.send();
      } catch (error) {
        // The coordinator may answer (401, 413) before it has read a body and close the connection: the
        // client's write then fails. That is a refusal, not a fault; the checks below show the process is up.
        if (!closedWhileSending(error)) throw error;
        closedEarly += 1;
        continue;
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status >= 500) serverErrors.push(`${request.what}: ${answer.status} ${answer.text.slice(0, 200)}`);
      else if (answer.status >= 400) {
        const body = answer.json();
        if (typeof body.error !== 'string' || typeof body.message !== 'string')
          serverErrors.push(`${request.what}: ${answer.status} without {error, message}: ${answer.text.slice(0, 200)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  t.same(serverErrors, [], 'no 5xx, and every 4xx says {error, message}');
  t.comment(
    `statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; closed while sending: ${closedEarly}`,
  );
  for (const status of [400, 401, 403, 404, 413, 415, 422]) t.ok(statuses.get(status), `some answers were ${status}`);
  t.equal(coordinator.child.exitCode, null, 'the process is still running');
  t.equal((await call(`${url}/healthz`)).status, 200);
  const after = makeReport('ws-01', 'workstation');
  t.equal((await postReport(url, agentToken, after)).status, 201, 'and it still stores reports');
  t.equal(coordinator.logs.filter((entry) => Number(entry.level) >= 50).length, 0, 'nothing was logged as an error');
});

t.test('no prototype was polluted by __proto__ keys', async (t) => {
  const matrix = await call(`${url}/api/v1/matrix`, { token: viewerToken });
  t.equal(matrix.status, 200);
  t.notMatch(matrix.text, /polluted/);
});
