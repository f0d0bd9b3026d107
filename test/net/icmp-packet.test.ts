import t from 'tap';
import { describeIcmp, ipv6, meaningOf, parseIcmp4, parseIcmp6 } from '../../src/net/icmp-packet.js';

/** An IPv4 ICMP error as a raw socket reads it: outer IP header, ICMP header, quoted IP header, 8 bytes of TCP. */
function icmp4(type: number, code: number): Buffer {
  const outer = Buffer.alloc(20);
  outer[0] = 0x45;
  outer[9] = 1;
  Buffer.from([192, 0, 2, 1]).copy(outer, 12);
  Buffer.from([192, 0, 2, 2]).copy(outer, 16);
  const header = Buffer.from([type, code, 0, 0, 0, 0, 0, 0]);
  const quoted = Buffer.alloc(20);
  quoted[0] = 0x45;
  quoted[9] = 6;
  Buffer.from([192, 0, 2, 2]).copy(quoted, 12);
  Buffer.from([198, 51, 100, 10]).copy(quoted, 16);
  const tcp = Buffer.alloc(8);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(5900, 2);
  return Buffer.concat([outer, header, quoted, tcp]);
}

t.test('an admin-prohibited error names the router and quotes the probe it answers', async (t) => {
  const error = parseIcmp4(icmp4(3, 13), '192.0.2.1');
  t.same(error, {
    family: 4,
    type: 3,
    code: 13,
    from: '192.0.2.1',
    quoted: {
      protocol: 'tcp',
      source: '192.0.2.2',
      destination: '198.51.100.10',
      sourcePort: 40000,
      destinationPort: 5900,
    },
  });
  t.equal(meaningOf(error!).state, 'prohibited');
  t.equal(describeIcmp(error!), 'ICMP admin-prohibited (3/13)');
});

t.test('ICMP codes map to the states of the result model', async (t) => {
  const states = Object.fromEntries(
    [0, 1, 3, 9, 10, 13].map((code) => [code, meaningOf({ family: 4, type: 3, code }).state]),
  );
  t.same(states, {
    0: 'unreachable',
    1: 'unreachable',
    3: 'closed',
    9: 'prohibited',
    10: 'prohibited',
    13: 'prohibited',
  });
  t.equal(meaningOf({ family: 4, type: 11, code: 0 }).state, 'unreachable');
  t.equal(meaningOf({ family: 6, type: 1, code: 1 }).state, 'prohibited');
  t.equal(meaningOf({ family: 6, type: 1, code: 4 }).state, 'closed');
});

t.test('echo replies, truncated packets and other ICMP types are not errors', async (t) => {
  const echoReply = icmp4(0, 0);
  t.equal(parseIcmp4(echoReply, '192.0.2.1'), null);
  t.equal(parseIcmp4(icmp4(3, 13).subarray(0, 40), '192.0.2.1'), null);
  t.equal(parseIcmp4(Buffer.alloc(3), '192.0.2.1'), null);
  t.equal(parseIcmp6(Buffer.from([129, 0, 0, 0]), '2001:db8::1'), null);
});

t.test('an ICMPv6 admin-prohibited error quotes the IPv6 probe', async (t) => {
  const message = Buffer.alloc(8 + 40 + 8);
  message[0] = 1;
  message[1] = 1;
  message[8] = 0x60;
  message[8 + 6] = 17;
  Buffer.from('20010db8000100000000000000000002', 'hex').copy(message, 8 + 8);
  Buffer.from('20010db8000200000000000000000010', 'hex').copy(message, 8 + 24);
  message.writeUInt16BE(50000, 48);
  message.writeUInt16BE(53, 50);
  const error = parseIcmp6(message, '2001:db8:1::1');
  t.same(error?.quoted, {
    protocol: 'udp',
    source: '2001:db8:1::2',
    destination: '2001:db8:2::10',
    sourcePort: 50000,
    destinationPort: 53,
  });
  t.equal(describeIcmp(error!), 'ICMPv6 admin-prohibited (1/1)');
});

t.test('IPv6 addresses are written compressed like the kernel writes them', async (t) => {
  t.equal(ipv6(Buffer.from('20010db8000000000000000000000001', 'hex')), '2001:db8::1');
  t.equal(ipv6(Buffer.from('00000000000000000000000000000001', 'hex')), '::1');
  t.equal(ipv6(Buffer.from('20010db8000100000001000000000001', 'hex')), '2001:db8:1:0:1::1');
});
