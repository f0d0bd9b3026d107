import t from 'tap';
import { judgeReply, MAX_REPLY_BYTES } from '../../src/agent/delivery.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const reply = (value: unknown) => ({ bytes: Buffer.from(JSON.stringify(value)), cut: false });

t.test("only the coordinator's JSON naming this report as stored or duplicate acknowledges it", async (t) => {
  t.match(judgeReply(201, JSON_TYPE, reply({ id: 'r1', stored: true, duplicate: false }), 'r1'), {
    kind: 'delivered',
    duplicate: false,
  });
  t.match(judgeReply(200, JSON_TYPE, reply({ id: 'r1', stored: false, duplicate: true }), 'r1'), {
    kind: 'delivered',
    duplicate: true,
  });
  const notAcks: Array<[string, ReturnType<typeof judgeReply>]> = [
    ['another id', judgeReply(201, JSON_TYPE, reply({ id: 'r2', stored: true }), 'r1')],
    ['no id', judgeReply(201, JSON_TYPE, reply({ stored: true }), 'r1')],
    ['neither stored nor duplicate', judgeReply(200, JSON_TYPE, reply({ id: 'r1', stored: false }), 'r1')],
    ['the right JSON as text/html', judgeReply(201, 'text/html', reply({ id: 'r1', stored: true }), 'r1')],
    ['no content type', judgeReply(201, null, reply({ id: 'r1', stored: true }), 'r1')],
    ['a 204', judgeReply(204, JSON_TYPE, reply({ id: 'r1', stored: true }), 'r1')],
    ['a JSON list', judgeReply(200, JSON_TYPE, reply([{ id: 'r1', stored: true }]), 'r1')],
    [
      'an acknowledgement cut at the bound',
      judgeReply(200, JSON_TYPE, { bytes: Buffer.from('{"id":"r1","stored":true}'), cut: true }, 'r1'),
    ],
  ];
  for (const [what, outcome] of notAcks) t.match(outcome, { kind: 'retry' }, what);
});

t.test("a 4xx is refused for good only when it is the coordinator's own error", async (t) => {
  for (const status of [400, 409, 413, 422]) {
    t.match(
      judgeReply(status, JSON_TYPE, reply({ error: 'invalid_report', message: 'the report is not valid: /id' }), 'r1'),
      { kind: 'rejected', status, message: `HTTP ${status} invalid_report: the report is not valid: /id` },
    );
  }
  t.match(judgeReply(422, JSON_TYPE, reply({ error: 'Unprocessable', message: 'x' }), 'r1'), { kind: 'retry' });
  t.match(judgeReply(400, JSON_TYPE, reply({ error: 'bad_request' }), 'r1'), { kind: 'retry' }, 'no message');
  t.match(judgeReply(400, 'text/html', { bytes: Buffer.from('<h1>Bad Request</h1>'), cut: false }, 'r1'), {
    kind: 'retry',
    status: 400,
    message: /not the coordinator's own error/,
    reply: { content_type: 'text/html', first_bytes: '"<h1>Bad Request</h1>"' },
  });
  t.match(judgeReply(500, JSON_TYPE, reply({ error: 'internal', message: 'internal error' }), 'r1'), {
    kind: 'retry',
  });
});

t.test('what came back is logged escaped and bounded', async (t) => {
  const bytes = Buffer.concat([Buffer.from('<p>\u0000\r\n"'), Buffer.alloc(MAX_REPLY_BYTES, 'y')]).subarray(
    0,
    MAX_REPLY_BYTES,
  );
  const outcome = judgeReply(200, 'text/html', { bytes, cut: true }, 'r1');
  t.match(outcome, {
    kind: 'retry',
    message: /HTTP 200, but not the coordinator's acknowledgement of report r1 \(text\/html, more than 4096 bytes\)/,
    reply: { first_bytes: /^"<p>\\x00\\r\\n\\"y+"\.\.\. \(4096 bytes\)$/ },
  });
  t.ok(outcome.kind === 'retry' && outcome.reply!.first_bytes.length < 260);
});
