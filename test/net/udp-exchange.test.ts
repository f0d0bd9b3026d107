import { createSocket } from 'node:dgram';
import t, { type Test } from 'tap';
import type { IcmpError, IcmpListener } from '../../src/core/icmp.js';
import { exchangeUdp, sendTimes, type UdpCodec, type UdpOutcome } from '../../src/net/udp-exchange.js';

// The exchange engine against responders on loopback, in this process: nothing leaves the host.

t.test('sendTimes starts at once and doubles the gap, all inside the deadline', async (t) => {
  t.same(sendTimes(1, 2000), [0]);
  t.same(sendTimes(3, 2000), [0, 250, 750]);
  const times = sendTimes(4, 2000);
  t.same(times, [0, 125, 375, 875]);
  for (let i = 2; i < times.length; i++) t.equal(times[i]! - times[i - 1]!, 2 * (times[i - 1]! - times[i - 2]!));
  t.ok(2000 - times.at(-1)! > times.at(-1)! - times.at(-2)!, 'the last attempt waits longer than any gap before it');
  const many = sendTimes(20, 2000);
  t.equal(many.length, 20);
  t.ok(many.every((at, i) => at >= 0 && at < 2000 && (i === 0 || at > many[i - 1]!)));
});

/** A loopback responder: `answer` says what to send back to a request, from which socket. */
async function responder(
  t: Test,
  answer: (request: Buffer, count: number) => Array<{ bytes: Buffer; fromOther?: boolean }>,
): Promise<{ port: number; requests: Buffer[] }> {
  const main = createSocket('udp4');
  const other = createSocket('udp4');
  await Promise.all(
    [main, other].map((socket) => new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))),
  );
  t.teardown(() => {
    main.close();
    other.close();
  });
  const requests: Buffer[] = [];
  main.on('message', (request, peer) => {
    requests.push(request);
    for (const { bytes, fromOther } of answer(request, requests.length))
      (fromOther ? other : main).send(bytes, peer.port, peer.address);
  });
  return { port: main.address().port, requests };
}

/** Requests are "Q" + an id byte (the attempt + 100); a reply is "R" + the id of a request we sent. */
function idCodec(): UdpCodec<number> & { ids: Set<number> } {
  const ids = new Set<number>();
  return {
    ids,
    request(attempt) {
      ids.add(attempt + 100);
      return Buffer.from([0x51, attempt + 100]);
    },
    accept(datagram) {
      if (datagram.length !== 2 || datagram[0] !== 0x52 || !ids.has(datagram[1]!)) return undefined;
      return { reply: datagram[1]!, attempt: datagram[1]! - 100 };
    },
  };
}

function exchange<Reply>(
  port: number,
  codec: UdpCodec<Reply>,
  options: { attempts?: number; timeoutMs?: number; signal?: AbortSignal; localAddress?: string } = {},
): Promise<UdpOutcome<Reply>> {
  const timeoutMs = options.timeoutMs ?? 400;
  const signal = options.signal ?? AbortSignal.timeout(timeoutMs);
  return exchangeUdp({
    address: '127.0.0.1',
    port,
    codec,
    attempts: options.attempts ?? 3,
    timeoutMs,
    signal,
    icmp: null,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
}

const reply = (id: number): Buffer => Buffer.from([0x52, id]);

t.test('a reply with a matching id is the answer', async (t) => {
  const { port, requests } = await responder(t, (request) => [{ bytes: reply(request[1]!) }]);
  const outcome = await exchange(port, idCodec());
  t.match(outcome, { kind: 'reply', reply: 100, attempts: 1 });
  t.ok((outcome as { rttMs: number }).rttMs >= 0);
  t.equal(requests.length, 1, 'no retry once answered');
});

t.test('a datagram with a wrong id is ignored, not an answer', async (t) => {
  const { port } = await responder(t, (request) => [{ bytes: reply(7) }, { bytes: reply(request[1]!) }]);
  t.match(await exchange(port, idCodec()), { kind: 'reply', reply: 100 });
});

t.test('only wrong ids back is silence after every attempt', async (t) => {
  const { port, requests } = await responder(t, () => [{ bytes: reply(7) }, { bytes: Buffer.from('noise') }]);
  t.same(await exchange(port, idCodec()), { kind: 'silent', attempts: 3 });
  t.equal(requests.length, 3);
});

t.test('each attempt is a fresh request, and an answer to the third ends it', async (t) => {
  const { port, requests } = await responder(t, (request, count) =>
    count === 3 ? [{ bytes: reply(request[1]!) }] : [],
  );
  t.match(await exchange(port, idCodec(), { attempts: 4 }), { kind: 'reply', reply: 102, attempts: 3 });
  t.same(
    requests.map((request) => request[1]),
    [100, 101, 102],
  );
});

t.test('an answer to an earlier attempt still counts after a retry', async (t) => {
  const { port } = await responder(t, (_request, count) => (count === 2 ? [{ bytes: reply(100) }] : []));
  t.match(await exchange(port, idCodec()), { kind: 'reply', reply: 100, attempts: 2 });
});

t.test("a valid reply from another port is ignored: the connected socket takes only the target's", async (t) => {
  const { port } = await responder(t, (request) => [{ bytes: reply(request[1]!), fromOther: true }]);
  t.same(await exchange(port, idCodec()), { kind: 'silent', attempts: 3 });
});

t.test('a datagram the codec cannot parse is ignored, not a crash', async (t) => {
  const { port } = await responder(t, (request) => [{ bytes: Buffer.from('garbage') }, { bytes: reply(request[1]!) }]);
  const codec = idCodec();
  const throwing: UdpCodec<number> = {
    request: (attempt) => codec.request(attempt),
    accept(datagram) {
      if (datagram.toString() === 'garbage') throw new Error('cannot decode');
      return codec.accept(datagram);
    },
  };
  t.match(await exchange(port, throwing), { kind: 'reply', reply: 100 });
});

t.test('a reply that is not final keeps the exchange going and is kept as the last reply', async (t) => {
  const { port, requests } = await responder(t, (request) => [{ bytes: reply(request[1]!) }]);
  const codec = { ...idCodec(), final: () => false };
  t.same(await exchange(port, codec), { kind: 'silent', attempts: 3, lastReply: 102 });
  t.equal(requests.length, 3);
});

t.test('a port nobody listens on fails with ECONNREFUSED from the ICMP port unreachable', async (t) => {
  const { port } = await responder(t, () => []);
  const vacant = createSocket('udp4');
  await new Promise<void>((resolve) => vacant.bind(0, '127.0.0.1', resolve));
  const vacantPort = vacant.address().port;
  await new Promise<void>((resolve) => vacant.close(() => resolve()));
  t.not(vacantPort, port);
  t.match(await exchange(vacantPort, idCodec()), { kind: 'failed', errno: 'ECONNREFUSED', attempts: 1 });
});

t.test('a deadline that already passed settles at once, having sent nothing', async (t) => {
  const { port, requests } = await responder(t, (request) => [{ bytes: reply(request[1]!) }]);
  t.same(await exchange(port, idCodec(), { signal: AbortSignal.abort() }), { kind: 'silent', attempts: 0 });
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(requests.length, 0);
});

t.test('a local address this host lacks fails with EADDRNOTAVAIL before anything is sent', async (t) => {
  const { port, requests } = await responder(t, () => []);
  t.match(await exchange(port, idCodec(), { localAddress: '192.0.2.99' }), {
    kind: 'failed',
    errno: 'EADDRNOTAVAIL',
    attempts: 0,
    rttMs: 0,
  });
  t.equal(requests.length, 0);
});

t.test('the exchange leaves no socket or timer behind', async (t) => {
  const { port } = await responder(t, (request) => [{ bytes: reply(request[1]!) }]);
  // Let the deadlines of the tests before run out, so only this exchange's resources can change the count.
  await new Promise((resolve) => setTimeout(resolve, 450));
  const before = process.getActiveResourcesInfo().filter((name) => name === 'UDPWrap' || name === 'Timeout').length;
  await exchange(port, idCodec(), { signal: new AbortController().signal });
  // A dgram socket closes a moment after close(): give it that moment.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const after = process.getActiveResourcesInfo().filter((name) => name === 'UDPWrap' || name === 'Timeout').length;
  t.equal(after, before);
});

t.test('an ICMP error recorded after the watch gave up, before the deadline settled it, is the outcome', async (t) => {
  // A stalled event loop runs the watch's timer and the deadline's in one turn, then polls the ICMP socket: the error
  // is recorded after wait() resolved empty, and the abort that follows must still read it rather than say silent.
  const { port } = await responder(t, () => []);
  const late: IcmpError = {
    family: 4,
    type: 3,
    code: 13,
    from: '127.0.0.2',
    quoted: { protocol: 'udp', source: '127.0.0.1', destination: '127.0.0.1', sourcePort: 0, destinationPort: port },
  };
  const watch = {
    seen: undefined as IcmpError | undefined,
    setLocalPort() {},
    wait: async () => undefined,
    close() {},
  };
  const icmp = { watch: () => watch } as unknown as IcmpListener;
  const controller = new AbortController();
  setTimeout(() => {
    watch.seen = late;
    controller.abort('deadline');
  }, 100);
  const outcome = await exchangeUdp({
    address: '127.0.0.1',
    port,
    codec: idCodec(),
    attempts: 1,
    timeoutMs: 5000,
    signal: controller.signal,
    icmp,
  });
  t.match(outcome, { kind: 'failed', errno: 'ICMP', icmp: { type: 3, code: 13, from: '127.0.0.2' } });
});
