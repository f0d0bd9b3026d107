import t from 'tap';
import { LAB, needsLab } from '../lab/lab.js';
import { filteredLab } from '../lab/filtered-lab.js';
import { printed } from '../helpers/daemon.js';
import { IN_PROCESS, namespaceCli, probeJson, reachgate } from '../helpers/cli.js';
import { assertOpenThroughLoss } from '../helpers/loss.js';

// The dns probe against a real DNS server (dnsmasq) in the server namespace, through a router with nftables.
const SERVER = LAB.server.v4;
const ROUTER = LAB.router.clientV4;
// dnsmasq answers DNS on 53; a second one on 5354 answers UDP only, the router resets its TCP.
const PORT = { dns: 53, udpOnly: 5354, vacant: 5300, drop: 7001, prohibited: 7002 };
// Three 200-byte TXT records do not fit the 512 bytes of a plain UDP answer (RFC 1035 4.2.1).
const BIG_TXT = 'x'.repeat(200);

t.test('bad dns options exit 2 with a message that names the option', async (t) => {
  // Loopback targets: even a probe that went out by mistake stays on this host.
  const cases: Array<[string[], RegExp]> = [
    [['--type', 'BOGUS'], /`--type` option to be one of A, AAAA, PTR, SRV, TXT, MX, SOA, NS, ANY, got `BOGUS`/],
    [['--expect-address', 'notanip'], /`--expect-address` option to be an IP address, got `notanip`/],
    [
      ['--name', 'tg.test', '--expect-address', SERVER, '--expect-address', 'notanip'],
      /`--expect-address` option to be an IP address, got `notanip`/,
    ],
    [['--expect-rcode', 'NOPE'], /`--expect-rcode` option to be one of NOERROR, .*REFUSED.*, got `NOPE`/],
    [['--name', 'a..test'], /`--name` option to be a domain name, got `a\.\.test`[\s\S]*1 to 63/],
    [['--name', `${'a'.repeat(64)}.test`], /`--name` option to be a domain name/],
    [
      ['--name', 'tg.test', '--expect-address', LAB.server.v6],
      /`--expect-address 2001:db8:2::10` can never be in the answer to a query for A records[\s\S]*--type AAAA/,
    ],
    [['--expect-address', SERVER], /can never be in the answer to a query for NS records/],
  ];
  // The first through the binary; the rest run the same command code in-process (test/helpers/cli-in-process.ts).
  for (const [args, message] of cases) {
    const run = await reachgate(
      ['probe', 'dns', '127.0.0.1', ...args],
      args === cases[0]![0] ? {} : { via: IN_PROCESS },
    );
    t.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    t.match(run.stderr, message);
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
    t.equal(run.stdout, '');
  }
});

t.test('on real packets: a client, a router with nftables, a server with dnsmasq', async (t) => {
  if (needsLab(t)) return;
  const { lab } = await filteredLab(t, 'dns', {
    protocols: ['tcp', 'udp'],
    drop: [PORT.drop],
    prohibited: [PORT.prohibited],
    more: [`tcp dport ${PORT.udpOnly} reject with tcp reset`],
  });
  const dnsmasq = (port: number) =>
    lab.spawn(lab.ns.server, 'dnsmasq', [
      // In the foreground, no config, no upstream: it knows only what is named here and refuses the rest.
      '--no-daemon',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      '--log-facility=-',
      `--listen-address=${SERVER},${LAB.server.v6}`,
      '--bind-interfaces',
      `--port=${port}`,
      '--local=/test/',
      `--host-record=tg.test,${SERVER},${LAB.server.v6}`,
      '--mx-host=tg.test,mail.tg.test,10',
      '--srv-host=_ldap._tcp.tg.test,tg.test,389,5,20',
      ...[1, 2, 3].map(() => `--txt-record=big.test,${BIG_TXT}`),
    ]);
  // dnsmasq logs "started" only once its sockets are bound.
  await printed(await dnsmasq(PORT.dns), 'started, version', 'dnsmasq');
  await printed(await dnsmasq(PORT.udpOnly), 'started, version', 'dnsmasq (UDP only)');

  const client = await namespaceCli(t, lab.ns.client);
  /** Probe from the client namespace and return the RunReport it printed. */
  const probe = (args: string[], timeoutMs?: number) =>
    probeJson('dns', args, { via: client, ...(timeoutMs ? { timeoutMs } : {}) });

  t.test('an A record with the expected address passes, with the answer as evidence', async (t) => {
    const { code, result } = await probe([SERVER, '--name', 'tg.test', '--expect-address', SERVER]);
    t.equal(code, 0);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      check: { ok: true, detail: `NOERROR: A ${SERVER}` },
      target: { address: SERVER, port: 53, protocol: 'udp' },
      attempts: 1,
      evidence: {
        server: `${SERVER}:53`,
        transport: 'udp',
        question: { name: 'tg.test', type: 'A' },
        rcode: 'NOERROR',
        flags: { aa: true, tc: false, ra: true },
        answers: [{ type: 'A', name: 'tg.test', data: SERVER }],
      },
    });
    t.match(result.reason, /^answered in .* over UDP; NOERROR: A 198\.51\.100\.10$/);
  });

  t.test('an address missing from the answer is a failed check that shows what came', async (t) => {
    const { code, result } = await probe([
      SERVER,
      '--name',
      'tg.test',
      '--expect-address',
      SERVER,
      '--expect-address',
      '198.51.100.99',
    ]);
    t.equal(code, 1);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: `198.51.100.99 is not in the answer (A ${SERVER})` },
    });
  });

  t.test('an AAAA answer matches the expected address however it is spelled, over IPv6', async (t) => {
    const { result } = await probe([
      `[${LAB.server.v6}]`,
      '--name',
      'tg.test',
      '--type',
      'aaaa',
      '--expect-address',
      '2001:0db8:0002:0000::0010',
    ]);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      evidence: { server: `[${LAB.server.v6}]:53`, answers: [{ type: 'AAAA', data: LAB.server.v6 }] },
    });
  });

  t.test('NXDOMAIN is a failed check on an open server, with the rcode', async (t) => {
    const { code, result } = await probe([SERVER, '--name', 'nowhere.test']);
    t.equal(code, 1);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: 'NXDOMAIN, expected NOERROR' },
      evidence: { rcode: 'NXDOMAIN', answers: [] },
    });
    t.match(result.reason, /^answered in .* over UDP, but NXDOMAIN, expected NOERROR$/);
  });

  t.test('--expect-rcode NXDOMAIN passes on a name that does not exist', async (t) => {
    const { result } = await probe([SERVER, '--name', 'nowhere.test', '--expect-rcode', 'nxdomain']);
    t.match(result, { state: 'open', verdict: 'pass', check: { ok: true } });
  });

  t.test('a server without upstream REFUSES a name outside its zones: open, failed check', async (t) => {
    const { result } = await probe([SERVER, '--name', 'tg.example']);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: 'REFUSED, expected NOERROR' },
      evidence: { rcode: 'REFUSED' },
    });
    const expected = await probe([SERVER, '--name', 'tg.example', '--expect-rcode', 'REFUSED']);
    t.match(expected.result, { state: 'open', verdict: 'pass' });
  });

  t.test('the default query asks for the root NS records', async (t) => {
    const { result } = await probe([SERVER]);
    t.match(result, { state: 'open', evidence: { question: { name: '.', type: 'NS' }, rcode: 'REFUSED' } });
  });

  t.test('--tcp asks over TCP with the length prefix', async (t) => {
    const { code, result } = await probe([
      SERVER,
      '--tcp',
      '--name',
      'tg.test',
      '--expect-address',
      SERVER,
      '--no-recurse',
    ]);
    t.equal(code, 0);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      attempts: 1,
      target: { protocol: 'tcp' },
      evidence: { transport: 'tcp', flags: { aa: true } },
    });
    t.match(result.reason, /over TCP; NOERROR: A 198\.51\.100\.10$/);
  });

  t.test('a truncated UDP answer is asked again over TCP, and the evidence says so', async (t) => {
    const { result } = await probe([SERVER, '--name', 'big.test', '--type', 'TXT']);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      target: { protocol: 'udp' },
      evidence: {
        transport: 'tcp',
        truncated_over_udp: true,
        flags: { tc: false },
        answers: [{ type: 'TXT' }, { type: 'TXT' }, { type: 'TXT' }],
      },
    });
    t.equal((result.evidence as { answers: Array<{ data: string }> }).answers[0]!.data, `"${BIG_TXT}"`);
    t.match(result.reason, /over UDP, truncated, and in full over TCP in /);
  });

  t.test('a truncated answer whose TCP retry is refused is a failed check on an open server', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.udpOnly}`, '--name', 'big.test', '--type', 'TXT']);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: {
        ok: false,
        detail: /^the answer was truncated \(TC\) and asking again over TCP failed: refused \(TCP reset\)/,
      },
      evidence: { transport: 'udp', truncated_over_udp: true, flags: { tc: true } },
    });
  });

  t.test('PTR takes an address and asks for its reverse name, IPv4 and IPv6', async (t) => {
    const v4 = await probe([SERVER, '--type', 'PTR', '--name', SERVER]);
    t.match(v4.result, {
      state: 'open',
      verdict: 'pass',
      evidence: { question: { name: '10.100.51.198.in-addr.arpa' }, answers: [{ type: 'PTR', data: 'tg.test' }] },
    });
    const v6 = await probe([SERVER, '--type', 'PTR', '--name', LAB.server.v6]);
    t.match(v6.result, {
      state: 'open',
      verdict: 'pass',
      evidence: {
        question: { name: '0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa' },
        answers: [{ type: 'PTR', data: 'tg.test' }],
      },
    });
  });

  t.test('MX and SRV answers read as in a zone file', async (t) => {
    const mx = await probe([SERVER, '--type', 'MX', '--name', 'tg.test']);
    t.match(mx.result, { state: 'open', evidence: { answers: [{ type: 'MX', data: '10 mail.tg.test' }] } });
    const srv = await probe([SERVER, '--type', 'SRV', '--name', '_ldap._tcp.tg.test']);
    t.match(srv.result, { state: 'open', evidence: { answers: [{ type: 'SRV', data: '5 20 389 tg.test' }] } });
  });

  t.test('a port nobody listens on is closed, over UDP by ICMP and over TCP by a reset', async (t) => {
    const udp = await probe([`${SERVER}:${PORT.vacant}`]);
    t.match(udp.result, { state: 'closed', verdict: 'fail', icmp: { type: 3, code: 3, from: SERVER } });
    const tcp = await probe([`${SERVER}:${PORT.vacant}`, '--tcp']);
    t.match(tcp.result, { state: 'closed', target: { protocol: 'tcp' }, reason: /refused \(TCP reset\)/ });
  });

  t.test('a drop rule gives filtered after every attempt', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.drop}`, '--timeout', '600ms']);
    t.match(result, { state: 'filtered', verdict: 'fail', attempts: 3 });
    t.match(result.reason, /^no answer within 600 ms \(3 attempts\): silently dropped/);
  });

  t.test('a reject rule with admin-prohibited gives prohibited and names the router, over UDP and TCP', async (t) => {
    const udp = await probe([`${SERVER}:${PORT.prohibited}`]);
    t.match(udp.result, {
      state: 'prohibited',
      icmp: { type: 3, code: 13, from: ROUTER },
      reason: /^rejected by 192\.0\.2\.1: ICMP admin-prohibited/,
    });
    const tcp = await probe([`${SERVER}:${PORT.prohibited}`, '--tcp']);
    t.match(tcp.result, { state: 'prohibited', icmp: { type: 3, code: 13, from: ROUTER } });
  });

  t.test('a network the router has no route to gives unreachable', async (t) => {
    const { result } = await probe([LAB.unroutedV4]);
    t.match(result, { state: 'unreachable', icmp: { type: 3, code: 0, from: ROUTER } });
  });

  t.test(
    'with 3 of every 10 queries dropped (30 % loss), 4 attempts find the server in every one of 20 probes',
    async (t) => {
      // nftables `numgen inc` drops queries 0-2 of every 10: never four in a row, so a fourth attempt always gets
      // through. (Random loss, where four losses in a row happen by chance, is measured in bench/, not asserted here.)
      await lab.nft(
        lab.ns.router,
        `
      table inet loss {
        chain forward {
          type filter hook forward priority -10; policy accept;
          udp dport ${PORT.dns} numgen inc mod 10 < 3 counter drop
        }
      }`,
      );
      t.teardown(() => lab.nft(lab.ns.router, 'delete table inet loss'));
      // One invocation, twenty probes of the same target one after another, each with its own socket and query ids.
      const { report } = await probe(
        [
          ...Array<string>(20).fill(SERVER),
          '--name',
          'tg.test',
          '--attempts',
          '4',
          '--timeout',
          '2s',
          '--concurrency',
          '1',
        ],
        60_000,
      );
      assertOpenThroughLoss(t, report, 20, 4);
      const rules = await lab.exec(lab.ns.router, 'nft', ['list', 'table', 'inet', 'loss']);
      const dropped = Number(/counter packets (\d+)/.exec(rules.stdout)?.[1]);
      t.ok(dropped >= 6, `the router dropped ${dropped} queries`);
    },
  );
});
