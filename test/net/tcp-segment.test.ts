import t from 'tap';
import {
  addressBytes,
  buildSyn,
  parseTcp,
  quotedSequence,
  SynCookies,
  tcpChecksum,
  TCP_FLAGS,
  writeTcpChecksum,
} from '../../src/net/tcp-segment.js';

t.test('a SYN carries its ports, its sequence number and an MSS option', async (t) => {
  const syn = buildSyn({ sourcePort: 61234, destinationPort: 5900, sequence: 0xdeadbeef });
  t.same(parseTcp(6, syn, '2001:db8::1'), {
    source: '2001:db8::1',
    sourcePort: 61234,
    destinationPort: 5900,
    sequence: 0xdeadbeef,
    acknowledgment: 0,
    flags: TCP_FLAGS.SYN,
  });
  t.equal(syn[12]! >> 4, 6, 'six 32-bit words of header');
  t.same([...syn.subarray(20)], [2, 4, 5, 180]);
});

t.test('a checksummed segment sums to zero with its pseudo-header, IPv4 and IPv6', async (t) => {
  for (const [source, destination] of [
    ['192.0.2.2', '198.51.100.10'],
    ['2001:db8:1::2', '2001:db8:2::10'],
  ] as const) {
    const syn = buildSyn({ sourcePort: 61000, destinationPort: 22, sequence: 12345 });
    writeTcpChecksum(syn, source, destination);
    t.not(syn.readUInt16BE(16), 0);
    // Summing a segment with its checksum in place gives 0 (RFC 1071): the receiver's check.
    t.equal(tcpChecksum(syn, source, destination), 0, `${source} -> ${destination}`);
    t.not(tcpChecksum(syn, source, '198.51.100.11'), 0, 'another destination does not check out');
  }
});

t.test('an IPv4 packet is read past its IP header; anything else than TCP is not read', async (t) => {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip[9] = 6;
  const segment = buildSyn({ sourcePort: 80, destinationPort: 61000, sequence: 7 });
  segment.writeUInt32BE(43, 8);
  segment[13] = TCP_FLAGS.SYN | TCP_FLAGS.ACK;
  t.match(parseTcp(4, Buffer.concat([ip, segment]), '198.51.100.10'), {
    sourcePort: 80,
    acknowledgment: 43,
    flags: 0x12,
  });
  ip[9] = 17;
  t.equal(parseTcp(4, Buffer.concat([ip, segment]), '198.51.100.10'), null);
  t.equal(parseTcp(6, Buffer.alloc(10), '::1'), null);
});

t.test('the sequence number quoted by an ICMP error is read past both headers', async (t) => {
  const outer = Buffer.alloc(20);
  outer[0] = 0x45;
  const icmp = Buffer.from([3, 13, 0, 0, 0, 0, 0, 0]);
  const inner = Buffer.alloc(20);
  inner[0] = 0x45;
  inner[9] = 6;
  const quoted = buildSyn({ sourcePort: 61000, destinationPort: 22, sequence: 0xcafe }).subarray(0, 8);
  t.equal(quotedSequence(4, Buffer.concat([outer, icmp, inner, quoted])), 0xcafe);
  t.equal(quotedSequence(4, Buffer.concat([outer, icmp, inner, quoted.subarray(0, 4)])), null, 'too short a quote');
  t.equal(quotedSequence(6, Buffer.concat([Buffer.alloc(48), quoted])), 0xcafe);
});

t.test('cookies depend on the key, the address and both ports, and nothing else', async (t) => {
  const cookies = new SynCookies(Buffer.alloc(32, 1));
  const cookie = cookies.cookie('198.51.100.10', 22, 61000);
  t.equal(cookies.cookie('198.51.100.10', 22, 61000), cookie, 'stable');
  t.equal(new SynCookies(Buffer.alloc(32, 1)).cookie('198.51.100.10', 22, 61000), cookie, 'a function of the key');
  const others = [
    new SynCookies(Buffer.alloc(32, 2)).cookie('198.51.100.10', 22, 61000),
    cookies.cookie('198.51.100.11', 22, 61000),
    cookies.cookie('198.51.100.10', 23, 61000),
    cookies.cookie('198.51.100.10', 22, 61001),
  ];
  for (const other of others) t.not(other, cookie);
  t.equal(cookies.cookie('2001:DB8::10', 22, 61000), cookies.cookie('2001:db8::10', 22, 61000), 'case does not matter');
});

t.test('IPv6 addresses in every written form give the same 16 bytes', async (t) => {
  t.same([...addressBytes('2001:db8::10')], [0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), 0x10]);
  t.same(addressBytes('::1'), addressBytes('0:0:0:0:0:0:0:1'));
  t.same([...addressBytes('192.0.2.1')], [192, 0, 2, 1]);
});
