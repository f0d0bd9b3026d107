import { once } from 'node:events';
import { createSocket } from 'node:dgram';
import t, { type Test } from 'tap';
import udp from '../../probes/udp.js';
import { loopbackSpec, probeInProcess } from './in-process.js';

// The udp probe against in-process echo and silent servers on 127.0.0.1: no root, no lab.

/** A UDP server on 127.0.0.1, port 0: it echoes each datagram when `echo`, else stays silent. */
async function udpServer(t: Test, echo: boolean): Promise<{ port: number; received: Buffer[] }> {
  const server = createSocket('udp4');
  const received: Buffer[] = [];
  server.on('message', (datagram, peer) => {
    received.push(datagram);
    if (echo) server.send(datagram, peer.port, peer.address);
  });
  server.bind(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return { port: server.address().port, received };
}

t.test('an echo server gives open and the reply as evidence', async (t) => {
  const { port } = await udpServer(t, true);
  const result = await probeInProcess(udp, loopbackSpec(udp, port, { send: 'ping' }));
  t.match(result, {
    state: 'open',
    verdict: 'pass',
    attempts: 1,
    reason: /^answered in .* \(4 bytes\)$/,
    evidence: { reply: '"ping"', length: 4 },
  });
  t.notOk(result.check);
});

t.test('a reply that matches --expect-reply passes the check', async (t) => {
  const { port } = await udpServer(t, true);
  const result = await probeInProcess(udp, loopbackSpec(udp, port, { send: 'ping', 'expect-reply': '^pi' }));
  t.match(result, {
    state: 'open',
    verdict: 'pass',
    check: { ok: true, detail: 'reply matched /^pi/: "ping"' },
    reason: /^answered in .* \(4 bytes\); reply matched \/\^pi\/: "ping"$/,
  });
});

t.test('a reply that does not match fails the check on an open port', async (t) => {
  const { port } = await udpServer(t, true);
  const result = await probeInProcess(udp, loopbackSpec(udp, port, { send: 'ping', 'expect-reply': '^pong' }));
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: 'reply did not match /^pong/: "ping"' },
    reason: /^answered in .* \(4 bytes\), but reply did not match /,
  });
});

t.test('a silent server gives filtered after every attempt, each carrying the request', async (t) => {
  const { port, received } = await udpServer(t, false);
  const result = await probeInProcess(udp, loopbackSpec(udp, port, { 'send-hex': '0001' }, { timeoutMs: 400 }));
  t.match(result, {
    state: 'filtered',
    verdict: 'fail',
    attempts: 3,
    reason:
      'no answer within 400 ms (3 attempts): dropped on the way, ' +
      'or the service ignores this request (UDP silence cannot tell them apart)',
  });
  t.same(
    received.map((datagram) => datagram.toString('hex')),
    ['0001', '0001', '0001'],
  );
});

t.test('a closed port gives closed from the ICMP port unreachable', async (t) => {
  const server = createSocket('udp4');
  server.bind(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  const result = await probeInProcess(udp, loopbackSpec(udp, port, { send: 'ping' }, { expect: 'blocked' }));
  t.match(result, {
    state: 'closed',
    verdict: 'pass',
    reason: /^closed: ICMP port unreachable \(ECONNREFUSED\) after /,
  });
});
