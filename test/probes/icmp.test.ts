import t from 'tap';
import { LAB, Lab, needsLab } from '../lab/lab.js';
import { namespaceCli, probeJson, reachgate } from '../helpers/cli.js';
import { echoRequest, internetChecksum, parseEchoReply } from '../../src/net/icmp-echo.js';

const SERVER = LAB.server.v4;
const ROUTER = LAB.router.clientV4;
const TOKEN = Buffer.from('0123456789abcdef', 'hex');

/** An IPv4 packet as a raw socket reads it: a 20-byte header with `ttl`, then the ICMP message. */
function ipv4(ttl: number, message: Buffer): Buffer {
  const header = Buffer.alloc(20);
  header[0] = 0x45;
  header[8] = ttl;
  header[9] = 1;
  return Buffer.concat([header, message]);
}

/** The reply a host would send to `request`: the same message with the reply type. */
function replyTo(request: Buffer, type: number): Buffer {
  const reply = Buffer.from(request);
  reply[0] = type;
  return reply;
}

t.test('an echo request carries its identifier, sequence and a valid checksum', async (t) => {
  const request = echoRequest(4, 0x1234, 2, TOKEN);
  t.equal(request[0], 8);
  t.equal(request.readUInt16BE(4), 0x1234);
  t.equal(request.readUInt16BE(6), 2);
  t.equal(internetChecksum(request), 0, 'a message with its checksum sums to zero');
  t.equal(echoRequest(6, 0x1234, 2, TOKEN)[0], 128, 'ICMPv6 echo request; the kernel writes its checksum');
});

t.test('an echo reply counts only with our identifier and token, and shows the IPv4 TTL', async (t) => {
  const request = echoRequest(4, 0x1234, 1, TOKEN);
  t.same(parseEchoReply(4, ipv4(63, replyTo(request, 0)), 0x1234, TOKEN), {
    sequence: 1,
    ttl: 63,
    bytes: request.length,
  });
  t.equal(parseEchoReply(4, ipv4(63, replyTo(request, 0)), 0x4321, TOKEN), undefined, 'another identifier');
  t.equal(
    parseEchoReply(4, ipv4(63, replyTo(request, 0)), 0x1234, Buffer.alloc(8)),
    undefined,
    'another token: another process',
  );
  t.equal(parseEchoReply(4, ipv4(63, request), 0x1234, TOKEN), undefined, 'a request, not a reply');
  const v6 = echoRequest(6, 0x1234, 3, TOKEN);
  t.same(parseEchoReply(6, replyTo(v6, 129), 0x1234, TOKEN), { sequence: 3, ttl: null, bytes: v6.length });
});

t.test('a target with a port exits 2: icmp probes a host', async (t) => {
  const run = await reachgate(['probe', 'icmp', '198.51.100.10:22']);
  t.equal(run.code, 2);
  t.match(run.stderr, /The icmp probe takes a host, not a port: `198\.51\.100\.10:22`/);
  t.equal(run.stdout, '');
});

t.test('ICMP echo on real packets', async (t) => {
  if (needsLab(t)) return;
  const lab = await Lab.create(t);
  /** Load the router's forward rules, replacing the ones before. */
  const forward = (rules: string): Promise<void> =>
    lab.nft(
      lab.ns.router,
      `
    flush ruleset
    table inet filter {
      chain forward {
        type filter hook forward priority 0; policy accept;
        ${rules}
      }
    }`,
    );
  const client = await namespaceCli(t, lab.ns.client);
  const probe = (args: string[], options: { user?: string; env?: NodeJS.ProcessEnv } = {}) =>
    probeJson('icmp', args, options.user ? { netns: lab.ns.client, ...options } : { via: client, ...options });

  t.test('the server answers: open, with the round-trip time and the TTL one router took off', async (t) => {
    await forward('');
    const { code, result } = await probe([SERVER]);
    t.equal(code, 0);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      attempts: 1,
      target: { address: SERVER, port: null, protocol: 'icmp' },
      evidence: { ttl: 63, sequence: 1 },
    });
    t.ok(result.rtt_ms! > 0);
    t.match(result.reason, /^echo reply in [\d.]+ ms, ttl 63$/);
  });

  t.test('over IPv6 the server answers, and the reason says the hop limit is not available', async (t) => {
    const { result } = await probe([LAB.server.v6]);
    t.match(result, { state: 'open', verdict: 'pass', evidence: { hop_limit: null, hop_limit_note: /not available/ } });
  });

  t.test('a network the router has no route to gives unreachable with net-unreachable from the router', async (t) => {
    const { code, result } = await probe([LAB.unroutedV4]);
    t.equal(code, 1);
    t.match(result, { state: 'unreachable', icmp: { type: 3, code: 0, from: ROUTER } });
    t.match(result.reason, /192\.0\.2\.1 answered ICMP net-unreachable \(3\/0\)/);
  });

  t.test('several hosts in one run each get the answer meant for them', async (t) => {
    const { report } = await probe([SERVER, ROUTER, LAB.unroutedV4, LAB.server.v6]);
    t.same(
      report.results.map((r) => [r.target.address, r.state]),
      [
        [SERVER, 'open'],
        [ROUTER, 'open'],
        [LAB.unroutedV4, 'unreachable'],
        [LAB.server.v6, 'open'],
      ],
    );
    t.match(report.results[1], { evidence: { ttl: 64 } });
  });

  t.test('a drop rule in the router gives filtered after every attempt', async (t) => {
    await forward('icmp type echo-request drop\nicmpv6 type echo-request drop');
    const { result } = await probe([SERVER, '--timeout', '600ms', '--expect', 'blocked']);
    t.match(result, { state: 'filtered', verdict: 'pass', attempts: 3 });
    t.match(result.reason, /^no echo reply within 600 ms \(3 attempts\): silently dropped$/);
    t.notOk(result.icmp);
  });

  t.test('a reject rule with admin-prohibited gives prohibited and names the router', async (t) => {
    await forward(
      'icmp type echo-request reject with icmp type admin-prohibited\nicmpv6 type echo-request reject with icmpv6 type admin-prohibited',
    );
    const { result } = await probe([SERVER]);
    t.match(result, { state: 'prohibited', verdict: 'fail', icmp: { type: 3, code: 13, from: ROUTER } });
    t.match(result.reason, /^rejected by 192\.0\.2\.1: ICMP admin-prohibited \(3\/13\) after /);
    const v6 = await probe([LAB.server.v6]);
    t.match(v6.result, { state: 'prohibited', icmp: { type: 1, code: 1, from: LAB.router.clientV6 } });
  });

  t.test(
    'without raw sockets (REACHGATE_RAW_SOCKET=off) each probe is an error that says how to grant CAP_NET_RAW',
    async (t) => {
      await forward('');
      const { code, report } = await probe([SERVER, ROUTER], { env: { REACHGATE_RAW_SOCKET: 'off' } });
      t.equal(code, 1, 'exit 1, not a crash');
      t.equal(report.results.length, 2, 'the rest of the run goes on');
      for (const result of report.results) {
        t.match(result, { state: 'error', verdict: 'error', attempts: 0 });
        t.match(
          result.reason,
          /REACHGATE_RAW_SOCKET=off.*CAP_NET_RAW: run as root, or grant it: setcap cap_net_raw\+ep/,
        );
      }
    },
  );

  t.test('as an unprivileged user the probe is an error that says it lacks CAP_NET_RAW, and exits 1', async (t) => {
    const { code, result, stderr } = await probe([SERVER], { user: 'nobody' });
    t.equal(code, 1);
    t.match(result, {
      state: 'error',
      verdict: 'error',
      reason: /this process lacks CAP_NET_RAW.*setcap cap_net_raw\+ep/,
    });
    t.notMatch(stderr, /internal error/);
  });
});
