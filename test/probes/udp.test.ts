import t from 'tap';
import dnsPacket from 'dns-packet';
import { LAB, needsLab } from '../lab/lab.js';
import { filteredLab } from '../lab/filtered-lab.js';
import { printed } from '../helpers/daemon.js';
import { IN_PROCESS, namespaceCli, probeJson, reachgate } from '../helpers/cli.js';

// The generic udp probe on real packets: a client, a router with nftables, a server with a UDP
// echo responder and a real DNS server (dnsmasq) to send hand-made bytes to.
const PORT = { echo: 7007, vacant: 7005, drop: 7001, prohibited: 7002, dns: 53 };
const SERVER = LAB.server.v4;
const ROUTER = LAB.router.clientV4;

// A UDP echo responder for the server namespace: answers "echo:" and the datagram; ends itself after 120 s.
const ECHO = `
const socket = require('node:dgram').createSocket({ type: 'udp6', ipv6Only: false });
socket.on('message', (message, peer) => socket.send(Buffer.concat([Buffer.from('echo:'), message]), peer.port, peer.address));
socket.bind(${PORT.echo}, '::', () => console.log('ready'));
setTimeout(() => process.exit(0), 120000);
`;

/** A DNS query for `name` A with a fixed id, as hex for --send-hex. */
function dnsQueryHex(name: string, id: number): string {
  return dnsPacket
    .encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name, class: 'IN' }] })
    .toString('hex');
}

t.test('bad udp options exit 2 before anything is sent', async (t) => {
  // Loopback targets: even a probe that went out by mistake stays on this host.
  const cases: Array<[string[], RegExp]> = [
    [['127.0.0.1'], /names no port, and udp has no standard port[\s\S]*127\.0\.0\.1:PORT/],
    [['127.0.0.1:7', '--send-hex', 'zz'], /`--send-hex` option to be pairs of hex digits, got `zz`/],
    [['127.0.0.1:7', '--send', 'x', '--send-hex', '00'], /either `--send` or `--send-hex`/],
    [['127.0.0.1:7', '--expect-reply', '(unclosed'], /`--expect-reply` option to be a regular expression/],
  ];
  // The first through the binary; the rest run the same command code in-process (test/helpers/cli-in-process.ts).
  for (const [args, message] of cases) {
    const run = await reachgate(['probe', 'udp', ...args], args === cases[0]![0] ? {} : { via: IN_PROCESS });
    t.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    t.match(run.stderr, message);
    t.equal(run.stdout, '');
  }
});

t.test('on real packets: a client, a router with nftables, a server with an echo responder and dnsmasq', async (t) => {
  if (needsLab(t)) return;
  const { lab } = await filteredLab(t, 'udp', {
    protocols: ['udp'],
    drop: [PORT.drop],
    prohibited: [PORT.prohibited],
    prohibitedV6: true,
  });
  await printed(await lab.spawn(lab.ns.server, process.execPath, ['-e', ECHO]), 'ready', 'the UDP echo responder');
  await lab.dns(lab.ns.server, SERVER, { 'tg.test': [SERVER] });

  /** Probe from a lab namespace (the client by default) and return the RunReport it printed. */
  const client = await namespaceCli(t, lab.ns.client);
  const probe = (args: string[], options: { netns?: string; env?: NodeJS.ProcessEnv } = {}) =>
    probeJson('udp', args, options.netns ? options : { via: client, ...options });

  t.test('a datagram back from the target is open, and --expect-reply checks it', async (t) => {
    const { code, result } = await probe([
      `${SERVER}:${PORT.echo}`,
      '--send',
      'ping\\r\\n',
      '--expect-reply',
      '^echo:ping\\r\\n$',
    ]);
    t.equal(code, 0);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      check: { ok: true },
      target: { address: SERVER, port: PORT.echo, protocol: 'udp' },
      evidence: { reply: '"echo:ping\\r\\n"', length: 11 },
    });
    t.ok(result.rtt_ms! > 0);
    t.match(result.reason, /^answered in .* \(11 bytes\); reply matched/);
  });

  t.test('without --expect-reply any datagram from the target is an answer', async (t) => {
    const { result } = await probe([`[${LAB.server.v6}]:${PORT.echo}`, '--send-hex', '00ff']);
    t.match(result, { state: 'open', verdict: 'pass', evidence: { reply: '"echo:\\x00\\xff"' } });
    t.notOk(result.check);
  });

  t.test('a reply that does not match is a failed check on an open port, showing the bytes', async (t) => {
    const { code, result } = await probe([`${SERVER}:${PORT.echo}`, '--send', 'ping', '--expect-reply', '^pong']);
    t.equal(code, 1);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: 'reply did not match /^pong/: "echo:ping"' },
    });
    t.match(result.reason, /, but reply did not match/);
  });

  t.test("hand-made DNS bytes get a real DNS server's answer, matched as latin1", async (t) => {
    // The answer echoes the id 0x5247 and carries 198.51.100.10 as the bytes c6 33 64 0a.
    const { result } = await probe([
      `${SERVER}:${PORT.dns}`,
      '--send-hex',
      dnsQueryHex('tg.test', 0x5247),
      '--expect-reply',
      '^RG[\\s\\S]*\\xc6\\x33\\x64\\x0a',
    ]);
    t.match(result, { state: 'open', verdict: 'pass', check: { ok: true } });
  });

  t.test('a port nobody listens on is closed by the ICMP port unreachable', async (t) => {
    const { code, result } = await probe([`${SERVER}:${PORT.vacant}`]);
    t.equal(code, 1);
    t.match(result, { state: 'closed', verdict: 'fail', icmp: { type: 3, code: 3, from: SERVER } });
    t.match(result.reason, /^closed: ICMP port-unreachable \(3\/3\) from 198\.51\.100\.10/);
  });

  t.test(
    'a drop rule gives filtered after every attempt, saying silence cannot tell drop from a deaf service',
    async (t) => {
      const { result } = await probe([`${SERVER}:${PORT.drop}`, '--send', 'ping', '--timeout', '600ms']);
      t.match(result, { state: 'filtered', verdict: 'fail', attempts: 3 });
      t.match(
        result.reason,
        /^no answer within 600 ms \(3 attempts\): dropped on the way, or the service ignores this request/,
      );
    },
  );

  t.test('a reject rule with admin-prohibited gives prohibited and names the router', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.prohibited}`, '--send', 'ping']);
    t.match(result, { state: 'prohibited', icmp: { type: 3, code: 13, from: ROUTER } });
    t.match(result.reason, /^rejected by 192\.0\.2\.1: ICMP admin-prohibited \(3\/13\)/);
  });

  t.test('an ICMPv6 admin-prohibited gives prohibited for an IPv6 target', async (t) => {
    const { result } = await probe([`[${LAB.server.v6}]:${PORT.prohibited}`, '--send', 'ping']);
    t.match(result, { state: 'prohibited', icmp: { type: 1, code: 1, from: LAB.router.clientV6 } });
  });

  t.test('a network the router has no route to gives unreachable, seen only by the ICMP listener', async (t) => {
    const { result } = await probe([`${LAB.unroutedV4}:${PORT.echo}`, '--send', 'ping']);
    t.match(result, { state: 'unreachable', icmp: { type: 3, code: 0, from: ROUTER } });
    t.match(result.reason, /^192\.0\.2\.1 answered ICMP net-unreachable \(3\/0\)/);
  });

  t.test('a target this host has no route to is unreachable at once, not a crash', async (t) => {
    // The router namespace has no route to 203.0.113.0/24: connect() fails and nothing is sent.
    const { result } = await probe([`${LAB.unroutedV4}:${PORT.echo}`], { netns: lab.ns.router });
    t.match(result, { state: 'unreachable', attempts: 0, reason: /ENETUNREACH/ });
  });

  t.test('without the ICMP listener, closed still shows and a rejection reads unreachable with a note', async (t) => {
    const env = { REACHGATE_RAW_SOCKET: 'off' };
    const closed = await probe([`${SERVER}:${PORT.vacant}`], { env });
    t.match(closed.result, { state: 'closed', reason: /^closed: ICMP port unreachable \(ECONNREFUSED\)/ });
    t.notOk(closed.result.icmp);
    const rejected = await probe([`${SERVER}:${PORT.prohibited}`], { env });
    t.match(rejected.result, { state: 'unreachable', reason: /EHOSTUNREACH.*REACHGATE_RAW_SOCKET=off/ });
    t.notOk(rejected.result.icmp);
  });
});
