import { once } from 'node:events';
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';
import t, { type Test } from 'tap';
import dns from '../../probes/dns.js';
import { loopbackSpec, probeInProcess } from './in-process.js';

// The dns probe against an in-process DNS responder on 127.0.0.1 (UDP and TCP on the same port): no root, no lab.

/** How the responder answers a query: a response to send, or null to stay silent. */
type Responder = (query: DecodedPacket, transport: 'udp' | 'tcp') => Omit<dnsPacket.Packet, 'id' | 'questions'> | null;

/** How the responder listens: `tcp: false` leaves the TCP port closed; `split` sends TCP answers byte by byte. */
interface ResponderOptions {
  tcp?: boolean;
  split?: boolean;
}

/** A DNS responder on 127.0.0.1 over UDP and TCP on one port. */
async function responder(t: Test, answer: Responder, options: ResponderOptions = {}): Promise<number> {
  for (let tries = 0; tries < 5; tries++) {
    const udp = createSocket('udp4');
    udp.bind(0, '127.0.0.1');
    await once(udp, 'listening');
    const { port } = udp.address();
    udp.on('message', (datagram, peer) => {
      const response = respond(datagram, 'udp', answer);
      if (response) udp.send(response, peer.port, peer.address);
    });
    if (options.tcp === false) {
      t.teardown(() => udp.close());
      return port;
    }
    const sockets = new Set<Socket>();
    const tcp: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', (framed) => {
        const response = respond(framed.subarray(2), 'tcp', answer);
        if (!response) return;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(response.length);
        const whole = Buffer.concat([prefix, response]);
        // Byte by byte when asked: the probe must put a message split over many segments back together.
        if (options.split) for (const byte of whole) socket.write(Buffer.of(byte));
        else socket.write(whole);
      });
    });
    const listening = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (listening) {
      t.teardown(() => {
        for (const socket of sockets) socket.destroy();
        tcp.close();
        udp.close();
      });
      return port;
    }
    udp.close();
  }
  throw new Error('no port free for both UDP and TCP after 5 tries');
}

function respond(bytes: Buffer, transport: 'udp' | 'tcp', answer: Responder): Buffer | undefined {
  const query = dnsPacket.decode(bytes);
  const response = answer(query, transport);
  if (!response) return undefined;
  return dnsPacket.encode({ ...response, type: 'response', id: query.id ?? 0, questions: query.questions ?? [] });
}

const A_RECORD: Answer = { type: 'A', name: 'tg.example', ttl: 60, data: '192.0.2.10' };
/** Response flags with an rcode, which dns-packet takes in the flags' low four bits. */
function withRcode(rcode: number): number {
  return dnsPacket.RECURSION_AVAILABLE | rcode;
}

t.test('an answer with the expected address passes and shows the records', async (t) => {
  const port = await responder(t, () => ({ flags: dnsPacket.RECURSION_AVAILABLE, answers: [A_RECORD] }));
  const spec = loopbackSpec(dns, port, { name: 'tg.example', 'expect-address': '192.0.2.10' });
  const result = await probeInProcess(dns, spec);
  t.match(result, {
    state: 'open',
    verdict: 'pass',
    attempts: 1,
    check: { ok: true, detail: 'NOERROR: A 192.0.2.10' },
    reason: /^answered in .* over UDP; NOERROR: A 192\.0\.2\.10$/,
    evidence: {
      transport: 'udp',
      rcode: 'NOERROR',
      question: { name: 'tg.example', type: 'A' },
      answers: [{ type: 'A', data: '192.0.2.10' }],
    },
  });
});

t.test('an answer without the expected address fails the check', async (t) => {
  const port = await responder(t, () => ({ flags: dnsPacket.RECURSION_AVAILABLE, answers: [A_RECORD] }));
  const spec = loopbackSpec(dns, port, { name: 'tg.example', 'expect-address': '192.0.2.99' });
  const result = await probeInProcess(dns, spec);
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: '192.0.2.99 is not in the answer (A 192.0.2.10)' },
    reason: /^answered in .* over UDP, but 192\.0\.2\.99 is not in the answer \(A 192\.0\.2\.10\)$/,
  });
});

t.test('NXDOMAIN fails the default rcode check but proves the server answered', async (t) => {
  const port = await responder(t, () => ({ flags: withRcode(3) }));
  const result = await probeInProcess(dns, loopbackSpec(dns, port, { name: 'missing.example' }));
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: 'NXDOMAIN, expected NOERROR' },
    reason: /^answered in .* over UDP, but NXDOMAIN, expected NOERROR$/,
  });
});

t.test('NXDOMAIN passes when --expect-rcode asks for it', async (t) => {
  const port = await responder(t, () => ({ flags: withRcode(3) }));
  const spec = loopbackSpec(dns, port, { name: 'missing.example', 'expect-rcode': 'nxdomain' });
  const result = await probeInProcess(dns, spec);
  t.match(result, { state: 'open', verdict: 'pass', check: { ok: true, detail: 'NXDOMAIN: no answer records' } });
});

t.test('SERVFAIL fails the check', async (t) => {
  const port = await responder(t, () => ({ flags: withRcode(2) }));
  const result = await probeInProcess(dns, loopbackSpec(dns, port, { name: 'tg.example' }));
  t.match(result, { state: 'open', verdict: 'fail', check: { ok: false, detail: 'SERVFAIL, expected NOERROR' } });
});

t.test('a truncated UDP answer is asked again over TCP', async (t) => {
  const port = await responder(t, (_query, transport) =>
    transport === 'udp'
      ? { flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.TRUNCATED_RESPONSE }
      : { flags: dnsPacket.RECURSION_AVAILABLE, answers: [A_RECORD] },
  );
  const result = await probeInProcess(dns, loopbackSpec(dns, port, { name: 'tg.example' }));
  t.match(result, {
    state: 'open',
    verdict: 'pass',
    reason: /^answered in .* over UDP, truncated, and in full over TCP in .*; NOERROR: A 192\.0\.2\.10$/,
    evidence: { transport: 'tcp', truncated_over_udp: true, answers: [{ type: 'A', data: '192.0.2.10' }] },
  });
});

t.test('a truncated UDP answer whose TCP port is closed fails the check, naming the refusal', async (t) => {
  const truncated = dnsPacket.RECURSION_AVAILABLE | dnsPacket.TRUNCATED_RESPONSE;
  const port = await responder(t, () => ({ flags: truncated }), { tcp: false });
  const result = await probeInProcess(dns, loopbackSpec(dns, port, { name: 'tg.example' }));
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: /^the answer was truncated \(TC\) and asking again over TCP failed: refused / },
    reason: /^answered in .* over UDP, but the answer was truncated/,
    evidence: { truncated_over_udp: true },
  });
});

t.test('--tcp reads an answer split over many segments', async (t) => {
  const answer = { flags: dnsPacket.RECURSION_AVAILABLE, answers: [A_RECORD] };
  const port = await responder(t, () => answer, { split: true });
  const result = await probeInProcess(dns, loopbackSpec(dns, port, { name: 'tg.example', tcp: true }));
  t.match(result, {
    state: 'open',
    verdict: 'pass',
    attempts: 1,
    reason: /^answered in .* over TCP; NOERROR: A 192\.0\.2\.10$/,
    evidence: { transport: 'tcp' },
  });
});

t.test('--tcp to a server that accepts and never answers fails the check at the deadline', async (t) => {
  const port = await responder(t, () => null);
  const spec = loopbackSpec(dns, port, { name: 'tg.example', tcp: true }, { timeoutMs: 300 });
  const result = await probeInProcess(dns, spec);
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: 'no answer within 300 ms' },
    reason: /^connected in .* over TCP, but no answer within 300 ms$/,
  });
});

t.test('a server that stays silent gives filtered after every attempt', async (t) => {
  const port = await responder(t, () => null, { tcp: false });
  const result = await probeInProcess(dns, loopbackSpec(dns, port, { name: 'tg.example' }, { timeoutMs: 400 }));
  t.match(result, {
    state: 'filtered',
    verdict: 'fail',
    attempts: 3,
    reason:
      'no answer within 400 ms (3 attempts): silently dropped ' +
      '(by a filter on the way, or by a server that ignores queries from this client)',
  });
});

t.test('a reply with another id answers nothing we asked', async (t) => {
  const udp = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  t.teardown(() => udp.close());
  udp.on('message', (datagram, peer) => {
    const query = dnsPacket.decode(datagram);
    const id = ((query.id ?? 0) + 1) & 0xffff;
    const forged = dnsPacket.encode({ type: 'response', id, questions: query.questions ?? [], answers: [A_RECORD] });
    udp.send(forged, peer.port, peer.address);
  });
  const spec = loopbackSpec(dns, udp.address().port, { name: 'tg.example' }, { timeoutMs: 300 });
  const result = await probeInProcess(dns, spec);
  t.match(result, { state: 'filtered', attempts: 3 });
});

t.test('a closed UDP port gives closed', async (t) => {
  const udp = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  const { port } = udp.address() as AddressInfo;
  udp.close();
  const result = await probeInProcess(dns, loopbackSpec(dns, port, { name: 'tg.example' }));
  t.match(result, {
    state: 'closed',
    verdict: 'fail',
    reason: /^closed: ICMP port unreachable \(ECONNREFUSED\) after /,
  });
});
