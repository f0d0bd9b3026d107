import type { AddressInfo } from 'node:net';
import t from 'tap';
import { carryNonce, newNonce, noncesIn } from '../../src/core/receipt.js';
import { ReceiptBook } from '../../src/responder/receipt-book.js';
import { createSideChannel } from '../../src/responder/side-channel.js';
import { askResponder } from '../../src/net/receipt-client.js';
import { IN_PROCESS, reachgate } from '../helpers/cli.js';

const TOKEN = 'side-channel-test-token-0123456789';

t.test('nonces are unguessable and found wherever a payload carries them', async (t) => {
  const nonces = Array.from({ length: 100 }, newNonce);
  t.equal(new Set(nonces).size, 100, 'no two alike');
  for (const nonce of nonces) t.match(nonce, /^rgn-[0-9a-f]{32}$/);
  const [one, two] = nonces as [string, string];
  t.same(noncesIn(Buffer.from(`<14>1 - host app - - [x nonce="${one}"] text ${one} and ${two}`)), [one, two]);
  t.same(noncesIn(Buffer.concat([Buffer.from([0x30, 0x82, 0x04, 0x24]), Buffer.from(one)])), [one]);
  t.same(noncesIn(Buffer.from('rgn-0123 not one')), []);
});

t.test('a raw UDP payload carries its nonce in place of each marker, or after its last byte', async (t) => {
  const nonce = newNonce();
  t.same(carryNonce(Buffer.from([0x00, 0x05]), nonce), Buffer.concat([Buffer.from([0x00, 0x05]), Buffer.from(nonce)]));
  t.equal(carryNonce(Buffer.from('a {nonce} b {nonce}'), nonce).toString(), `a ${nonce} b ${nonce}`);
  t.equal(carryNonce(Buffer.alloc(0), nonce).toString(), nonce);
  t.same(noncesIn(carryNonce(Buffer.from([0xff, 0x7b, 0x00]), nonce)), [nonce], 'found after binary bytes');
});

t.test('a replayed nonce keeps its first receipt and only counts the copy', async (t) => {
  const book = new ReceiptBook();
  const nonce = newNonce();
  const first = book.record({ nonce, protocol: 'udp', source: '192.0.2.2', sourcePort: 40000, port: 514 });
  t.match(first, { nonce, source: '192.0.2.2', source_port: 40000, copies: 1 });
  t.equal(book.record({ nonce, protocol: 'udp', source: '203.0.113.66', sourcePort: 1, port: 514 }), undefined);
  t.match(book.lookup([nonce]), [{ source: '192.0.2.2', source_port: 40000, copies: 2 }]);
});

t.test('the side channel answers only a holder of the token, and only about the nonces it names', async (t) => {
  const book = new ReceiptBook();
  const mine = newNonce();
  const theirs = newNonce();
  const neverSent = newNonce();
  for (const nonce of [mine, theirs])
    book.record({ nonce, protocol: 'udp', source: '192.0.2.2', sourcePort: 40000, port: 514 });
  const server = createSideChannel({ book, token: TOKEN, watching: { udp: [514], tcp: [] }, startedAt: new Date() });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const ask = (query: string, token?: string) =>
    fetch(`${base}${query}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

  const noToken = await ask(`/v1/receipts?nonce=${mine}`);
  t.equal(noToken.status, 401);
  t.match(await noToken.json(), { error: /no token/ });
  const wrongToken = await ask(`/v1/receipts?nonce=${mine}`, 'side-channel-test-token-0123456780');
  t.equal(wrongToken.status, 401);
  t.match(await wrongToken.json(), { error: 'wrong token' });

  const answer = await askResponder(base, TOKEN, [mine, neverSent], AbortSignal.timeout(5000));
  t.ok(answer.ok);
  if (!answer.ok) return;
  t.same(
    answer.receipts.map((receipt) => receipt.nonce),
    [mine],
    "the other probe's nonce is not revealed, the one never sent has no receipt",
  );
  t.same(answer.watching, { udp: [514], tcp: [] });

  t.equal((await ask('/v1/receipts', TOKEN)).status, 400, 'no nonce named');
  t.equal((await ask('/v1/receipts?nonce=rgn-guess', TOKEN)).status, 400, 'not a nonce');
  const tooMany = Array.from({ length: 65 }, () => `nonce=${newNonce()}`).join('&');
  t.equal((await ask(`/v1/receipts?${tooMany}`, TOKEN)).status, 400, 'more than 64 nonces');
  t.equal((await ask('/v1/everything', TOKEN)).status, 404);
  t.equal((await fetch(`${base}/v1/receipts?nonce=${mine}`, { method: 'POST', body: 'x' })).status, 405);

  const refused = await askResponder(base, 'not-the-token-at-all-0000', [mine], AbortSignal.timeout(5000));
  t.match(refused, { ok: false, reason: /answered HTTP 401: wrong token/ });
});

t.test('bad responder and --confirm-with arguments exit 2 before anything listens or is sent', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['responder'], /Name the ports to watch: --udp PORTS and\/or --tcp PORTS/],
    [['responder', '--udp', '514', '--listen', '127.0.0.1:0'], /--listen and --token-file go together/],
    [
      ['probe', 'syslog', '127.0.0.1', '--confirm-with', 'http://127.0.0.1:9'],
      /`--confirm-with` and `--token-file` go together/,
    ],
    [
      ['probe', 'udp', '127.0.0.1:2055', '--expect-reply', 'x', '--confirm-with', 'http://127.0.0.1:9'],
      /`--confirm-with` makes the datagram one-way .*`--expect-reply` checks an answer: use one/,
    ],
    [
      ['probe', 'trap', '127.0.0.1', '--confirm-with', 'ftp://x', '--token-file', '/nonexistent/token'],
      /Expected `--confirm-with` to be an http\(s\) URL, got `ftp:\/\/x`/,
    ],
  ];
  // The first through the binary; the rest run the same command code in-process (test/helpers/cli-in-process.ts).
  for (const [args, message] of cases) {
    const run = await reachgate(args, args === cases[0]![0] ? {} : { via: IN_PROCESS });
    t.equal(run.code, 2, args.join(' '));
    t.match(run.stderr, message);
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
  }
});
