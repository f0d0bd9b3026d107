import t from 'tap';
import type { IcmpListener, IcmpMessageHandler } from '../../src/core/icmp.js';
import {
  attemptPort,
  MAX_SOURCE_PORTS,
  SourcePorts,
  sourcePortRange,
  SynScanner,
  takePorts,
  type SynAnswer,
} from '../../src/net/syn-scanner.js';
import { buildSyn, SynCookies, TCP_FLAGS } from '../../src/net/tcp-segment.js';

// SYN mode's source ports (issue 12): every attempt of a probe from a port of its own, every probe from ports of its
// own, and an answer heard by the probe whose port it came back to, whichever of its attempts it answers.
const SECRET = Buffer.alloc(32, 7);
const TARGET = '198.51.100.10';
const US = '192.0.2.1';

t.test('the source ports lie outside the kernel ephemeral range', async (t) => {
  t.same(sourcePortRange('32768\t60999\n'), { low: 61000, high: 65535 }, "Linux's default: above it");
  t.same(sourcePortRange('10000 65535'), { low: 1024, high: 9999 }, 'a range up to 65535: below it');
  t.same(sourcePortRange('1024 65535'), { low: 40000, high: 65535 }, 'no room either side: high ports');
});

t.test('blocks of source ports follow one another round the range, never past its end', async (t) => {
  const ports = new SourcePorts({ low: 61000, high: 61099 }, 61090);
  t.equal(ports.take(3), 61090);
  t.equal(ports.take(3), 61093, 'the next block starts after the last');
  t.equal(ports.take(3), 61096);
  t.equal(ports.take(3), 61000, 'a block that would pass the end starts the range again');
  t.equal(ports.take(1000), 61003, `at most ${MAX_SOURCE_PORTS} ports a block`);
  t.equal(ports.take(1), 61003 + MAX_SOURCE_PORTS);
  t.equal(new SourcePorts({ low: 61000, high: 61009 }, 61000).blockOf(64), 10, 'at most the range');
  t.ok(ports.holds(61099));
  t.notOk(ports.holds(60999));
  t.notOk(ports.holds(61100));
});

t.test('attempt k goes out from port k of its block, round robin past the block', async (t) => {
  const block = takePorts(3);
  t.equal(block.count, 3);
  t.same(
    [0, 1, 2, 3].map((k) => attemptPort(block, k)),
    [block.base, block.base + 1, block.base + 2, block.base],
  );
  t.equal(takePorts(500).count, MAX_SOURCE_PORTS, 'many attempts share at most a block of the most ports');
  const next = takePorts(1);
  t.not(next.base, block.base, "the next probe's port is not this one's");
});

/** A segment from TARGET:port to us at `to`, as a raw IPv4 socket reads it (IP header first). */
function answer(port: number, to: number, acknowledgment: number, flags: number): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip[9] = 6;
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(port, 0);
  tcp.writeUInt16BE(to, 2);
  tcp.writeUInt32BE(12345, 4);
  tcp.writeUInt32BE(acknowledgment >>> 0, 8);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  return Buffer.concat([ip, tcp]);
}

t.test("an answer to any attempt's port is the probe's, and no other probe's", async (t) => {
  const scanner = new SynScanner(SECRET);
  const cookies = new SynCookies(SECRET);
  const first = takePorts(3);
  const other = takePorts(3);
  const heard: Array<[string, SynAnswer]> = [];
  const stops = [
    scanner.hear(TARGET, 22, first, (a) => heard.push(['first', a])),
    scanner.hear(TARGET, 22, other, (a) => heard.push(['other', a])),
  ];
  const synAck = TCP_FLAGS.SYN | TCP_FLAGS.ACK;
  // The first attempt's SYN-ACK, come late (the target's own retransmission, after a later attempt went out).
  const early = attemptPort(first, 0);
  scanner.answer(4, answer(22, early, cookies.cookie(TARGET, 22, early) + 1, synAck), TARGET);
  t.same(heard, [['first', { kind: 'syn-ack', tag: 0, from: TARGET }]], 'the late answer to attempt 1 counts');
  heard.length = 0;
  // A reset to the other probe's third attempt.
  const third = attemptPort(other, 2);
  scanner.answer(4, answer(22, third, cookies.cookie(TARGET, 22, third) + 1, TCP_FLAGS.RST | TCP_FLAGS.ACK), TARGET);
  t.same(heard, [['other', { kind: 'reset', tag: 0, from: TARGET }]], "the other probe's answer is its own");
  heard.length = 0;
  // A cookie made with another port than the one the answer came back to is not ours.
  scanner.answer(4, answer(22, early, cookies.cookie(TARGET, 22, third) + 1, synAck), TARGET);
  scanner.answer(4, answer(23, early, cookies.cookie(TARGET, 22, early) + 1, synAck), TARGET);
  t.same(heard, [], 'a cookie of another port pair is not heard');
  for (const stop of stops) stop();
  scanner.close();
});

t.test('an ICMP error quoting an attempt goes to the probe whose port it quotes', async (t) => {
  const scanner = new SynScanner(SECRET);
  const cookies = new SynCookies(SECRET);
  let handler: IcmpMessageHandler | undefined;
  const listener = { listen: (h: IcmpMessageHandler) => ((handler = h), () => {}) } as unknown as IcmpListener;
  scanner.useIcmp(listener);
  const mine = takePorts(2);
  const theirs = takePorts(2);
  const heard: string[] = [];
  scanner.hear(TARGET, 443, mine, (a) => heard.push(`mine ${a.kind}`));
  scanner.hear(TARGET, 443, theirs, (a) => heard.push(`theirs ${a.kind}`));
  const second = attemptPort(mine, 1);
  const quotedIp = Buffer.alloc(20);
  quotedIp[0] = 0x45;
  quotedIp[9] = 6;
  Buffer.from(US.split('.').map(Number)).copy(quotedIp, 12);
  Buffer.from(TARGET.split('.').map(Number)).copy(quotedIp, 16);
  const quoted = buildSyn({ sourcePort: second, destinationPort: 443, sequence: cookies.cookie(TARGET, 443, second) });
  const outer = Buffer.alloc(20);
  outer[0] = 0x45;
  outer[9] = 1;
  // Destination unreachable, communication administratively prohibited, from a router.
  const icmp = Buffer.from([3, 13, 0, 0, 0, 0, 0, 0]);
  handler!(4, Buffer.concat([outer, icmp, quotedIp, quoted]), '203.0.113.1');
  t.same(heard, ['mine icmp']);
  scanner.close();
});
