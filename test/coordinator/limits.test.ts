import t from 'tap';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { IngestGuard, TokenBucket } from '../../src/coordinator/ingest-guard.js';
import { findDuplicateKey, topLevelString } from '../../src/coordinator/json-keys.js';
import { DEFAULT_LIMITS, resolveLimits } from '../../src/coordinator/limits.js';
import { canonicalDigest } from '../../src/coordinator/report-digest.js';
import { createCoordinatorServer } from '../../src/coordinator/server.js';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import { matrixAsset, matrixHtmlParts, renderOverviewHtml } from '../../src/report/html-matrix.js';
import { tempDir } from './coordinator-process.js';

t.test('a limit out of its range is a usage error naming the option', async (t) => {
  t.same(resolveLimits(), DEFAULT_LIMITS);
  t.equal(resolveLimits({ rateBurst: 5 }).rateBurst, 5);
  t.throws(() => resolveLimits({ rateBurst: 0 }), {
    name: 'UsageError',
    message: 'Expected `--rate-burst` to be a whole number from 1 to 1000000, got `0`',
  });
  t.throws(() => resolveLimits({ ratePerSecond: Number.NaN }), { message: /`--rate-limit`.*got `NaN`/ });
  t.throws(() => resolveLimits({ agentBytesPerDay: 1000 }), { message: /`--agent-bytes-per-day` .* from 1048576/ });
  t.throws(() => resolveLimits({ maxConnections: 2.5 }), { message: /`--max-connections` to be a whole number/ });
  t.equal(resolveLimits({ confirmWindowSeconds: 10 }).confirmWindowSeconds, 10);
  for (const seconds of [4, 3601, 7.5]) {
    t.throws(() => resolveLimits({ confirmWindowSeconds: seconds }), {
      message: `Expected \`--confirm-window\` to be a whole number from 5 to 3600, got \`${seconds}\``,
    });
  }
});

t.test('a token bucket gives its burst, then says how long until the next unit, and refills at its rate', async (t) => {
  const bucket = new TokenBucket(3, 2, 0);
  t.same([bucket.take(1, 0), bucket.take(1, 0), bucket.take(1, 0)], [0, 0, 0]);
  t.equal(bucket.take(1, 0), 0.5, 'half a second until one more at 2 a second');
  t.equal(bucket.take(1, 500), 0, 'refilled after it');
  bucket.giveBack(5, 500);
  t.ok(bucket.isFull(500), 'giving back never overfills');
  t.equal(bucket.take(1, -10_000), 0, 'a clock going back refills nothing and breaks nothing');
});

t.test('the ingest guard refuses per token and per agent, with the seconds to wait', async (t) => {
  let now = 0;
  const guard = new IngestGuard(
    { ...DEFAULT_LIMITS, ratePerSecond: 1, rateBurst: 2, agentBytesPerDay: 48 * 1024 * 1024 },
    () => now,
  );
  t.equal(guard.admitRequest('tok-a'), null);
  t.equal(guard.admitRequest('tok-a'), null);
  const refusal = guard.admitRequest('tok-a');
  t.equal(refusal?.retryAfterS, 1);
  t.match(refusal?.message, /at most 1 a second on average and 2 at once .* retry after 1 s/);
  t.equal(guard.admitRequest('tok-b'), null, 'another token has its own bucket');
  now = 1000;
  t.equal(guard.admitRequest('tok-a'), null, 'a second later one more passes');

  t.equal(guard.reserveBytes('ws-01', 1024 * 1024), null);
  t.equal(guard.reserveBytes('ws-01', 1024 * 1024), null);
  const spent = guard.reserveBytes('ws-01', 1024 * 1024);
  t.match(spent?.message, /agent "ws-01" has used its budget of 50331648 bytes .* an hour's share at once/);
  // At once an hour's share, 2 MiB; then 1 MiB more at 48 MiB a day takes half an hour.
  t.equal(spent?.retryAfterS, 1800);
  guard.releaseBytes('ws-01', 1024 * 1024);
  t.equal(guard.reserveBytes('ws-01', 1024 * 1024), null, 'a released reservation is there again');
});

t.test('a repeated key is found by value, with its JSON Pointer, and never inside a string', async (t) => {
  t.equal(findDuplicateKey('{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}'), null);
  t.same(findDuplicateKey('{"a":1,"a":2}'), { path: '/a' });
  t.same(findDuplicateKey('{"a":1,"\\u0061":2}'), { path: '/a' }, 'an escaped key is the same key');
  t.same(findDuplicateKey('{"r":[1,{"x":0},[{"k":1,"k":2}]]}'), { path: '/r/2/0/k' });
  t.same(findDuplicateKey('{"a/b":{"~":1,"~":2}}'), { path: '/a~1b/~0' });
  t.equal(findDuplicateKey('{"a":"\\"a\\":1,","b":"{\\"a\\":1,\\"a\\":2}"}'), null, 'keys inside strings do not count');
  t.same(findDuplicateKey(' { "a" : [ ] , "a" : { } } '), { path: '/a' }, 'whitespace anywhere');
  const long = 'k'.repeat(1000);
  t.same(findDuplicateKey(`{"${long}":1,"${long}":2}`), { path: `/${'k'.repeat(64)}…` }, 'a long key is cut short');
});

t.test(
  'the top-level id is read without parsing: never a nested one, escapes decoded, null when not a string',
  async (t) => {
    t.equal(topLevelString('{"id":"r-1","results":[{"id":"x"}]}', 'id'), 'r-1');
    t.equal(topLevelString('{"results":[{"id":"nested"}], "agent":"a" , "id" : "last"}', 'id'), 'last');
    t.equal(topLevelString('{"\\u0069d":"r\\u002d2"}', 'id'), 'r-2', 'a key and a value written with escapes');
    t.equal(
      topLevelString('{"evidence":{"id":"x"},"note":"\\"id\\":\\"y\\""}', 'id'),
      null,
      'in a value or nested: not it',
    );
    t.equal(topLevelString('{"id":7}', 'id'), null);
    t.equal(topLevelString(`{"id":"${'x'.repeat(5000)}"}`, 'id'), null, 'too long to be an id');
    t.equal(topLevelString('{"id":"unterminated', 'id'), null);
    t.equal(topLevelString('[{"id":"in an array"}]', 'id'), null);
  },
);

t.test('the canonical digest ignores key order and spacing, and sees any changed value', async (t) => {
  const report = { id: 'r1', results: [{ verdict: 'pass', rtt_ms: 0.4 }], summary: { pass: 1 } };
  const reordered = JSON.parse(
    '{ "summary": {"pass": 1}, "results": [{"rtt_ms": 0.4, "verdict": "pass"}], "id": "r1" }',
  );
  t.equal(canonicalDigest(reordered), canonicalDigest(report));
  t.not(canonicalDigest({ ...report, results: [{ verdict: 'fail', rtt_ms: 0.4 }] }), canonicalDigest(report));
  t.not(canonicalDigest({ a: [1, 2] }), canonicalDigest({ a: [2, 1] }), 'array order counts');
  t.not(canonicalDigest({ a: '1' }), canonicalDigest({ a: 1 }), 'a string is not a number');
});

// The server's connection limits, in process: two connections allowed, headers within 200 ms.
const store = SqliteStore.open(join(tempDir(t), 'reachgate.db'));
const app = createCoordinatorServer({
  store,
  logger: pino({ level: 'silent' }),
  page: { render: matrixHtmlParts, overview: renderOverviewHtml, asset: matrixAsset },
  limits: { maxConnections: 2, headersTimeoutMs: 200, requestTimeoutMs: 300 },
});
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address() as { port: number };
t.teardown(async () => {
  await app.close();
  await store.close();
});

/** A connection that has sent `head`; `answer` resolves with all it got when the server closes it (bounded). */
function open(head: string): { socket: Socket; received: () => string; closed: Promise<string> } {
  const socket = connect({ host: '127.0.0.1', port });
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  socket.write(head);
  const closed = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after 10 s; got: ${received}`)), 10_000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
  closed.catch(() => undefined);
  return { socket, received: () => received, closed };
}

/** Wait until `condition` holds, polling, for at most 10 s. */
async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    if (waited > 10_000) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const HEALTH = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';

t.test('a connection past --max-connections is closed without an answer; the open ones still work', async (t) => {
  const first = open(HEALTH);
  const second = open(HEALTH);
  await until(() => first.received().includes('"ok"') && second.received().includes('"ok"'));
  const third = open(HEALTH);
  t.equal(await third.closed, '', 'the third connection got nothing and was closed');
  second.socket.write(HEALTH);
  await until(() => second.received().split('"ok"').length === 3);
  t.pass('a kept-alive connection is still answered');
  first.socket.destroy();
  second.socket.destroy();
  await Promise.all([first.closed, second.closed]);
});

t.test('a client that never finishes its headers is cut off (408) instead of holding the connection', async (t) => {
  const slow = open('POST /api/v1/reports HTTP/1.1\r\nHost: x\r\n');
  t.match(await slow.closed, /^(HTTP\/1\.1 408 |$)/);
});
