import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { LAB, type Lab, needsLab } from '../lab/lab.js';
import { filteredLab } from '../lab/filtered-lab.js';
import { printed } from '../helpers/daemon.js';
import { IN_PROCESS, namespaceCli, probeJson, reachgate } from '../helpers/cli.js';
import { encodeFrame, parseResponse, readFrame } from '../../src/net/relp.js';

// syslog against a real rsyslogd (Debian's rsyslog and rsyslog-relp): imudp, imtcp and imrelp.
const SERVER = LAB.server.v4;
const ROUTER = LAB.router.clientV4;
const PORT = {
  syslog: 514,
  relp: 2514,
  drop: 1514,
  prohibited: 1515,
  relpDrop: 12514,
  relpProhibited: 12515,
  relp500: 2599,
  vacant: 1599,
};

t.test('RELP frames: DATALEN 0 has no data and no space; a frame is read only once whole', async (t) => {
  t.equal(encodeFrame(3, 'close').toString(), '3 close 0\n');
  t.equal(encodeFrame(1, 'open', 'relp_version=0').toString(), '1 open 14 relp_version=0\n');
  const rsp = Buffer.from(
    '1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n0 serverclose 0\n',
  );
  const first = readFrame(rsp);
  t.match(first, { frame: { txnr: 1, command: 'rsp' } });
  if (!('frame' in first)) return;
  t.same(parseResponse(first.frame.data), {
    status: 200,
    text: 'OK',
    offers: { relp_version: '0', relp_software: 'librelp,1.11.0,http://librelp.adiscon.com', commands: 'syslog' },
  });
  t.match(readFrame(first.rest), {
    frame: { txnr: 0, command: 'serverclose', data: Buffer.alloc(0) },
    rest: Buffer.alloc(0),
  });
  for (let cut = 1; cut < 103; cut += 6)
    t.same(readFrame(rsp.subarray(0, cut)), { incomplete: true }, `cut after ${cut} bytes`);
  t.match(readFrame(Buffer.from('HTTP/1.1 400 Bad Request\r\n')), { invalid: /no RELP frame header/ });
  t.match(readFrame(Buffer.from('1 rsp 2 OKX')), { invalid: /does not end in LF/ });
  t.equal(parseResponse(Buffer.from('OK')), undefined);
});

t.test('bad syslog options exit 2 before anything is sent', async (t) => {
  // Loopback targets: even a probe that went out by mistake stays on this host.
  const cases: Array<[string[], RegExp]> = [
    [
      ['--transport', 'carrier-pigeon'],
      /Expected the `--transport` option to be udp, tcp or relp, got `carrier-pigeon`/,
    ],
    [['--transport', 'RELP'], /`--transport` option to be udp, tcp or relp, got `RELP`/],
    [['--transport'], /Not enough arguments following: transport/],
  ];
  // The first through the binary; the rest run the same command code in-process (test/helpers/cli-in-process.ts).
  for (const [args, message] of cases) {
    const run = await reachgate(
      ['probe', 'syslog', '127.0.0.1', ...args],
      args === cases[0]![0] ? {} : { via: IN_PROCESS },
    );
    t.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    t.match(run.stderr, message);
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
    t.equal(run.stdout, '');
  }
});

// Replays, to whatever connects, librelp 1.11's real answer to an `open` that offers no commands
// (captured from rsyslog's imrelp): a 500 response, then the server's own close. Ends itself after 120 s.
const RELP_500 = `
const net = require('node:net');
const [address, port] = process.argv.slice(1);
const answer = '1 rsp 44 500 required command not supported by client\\n0 serverclose 0\\n';
const server = net.createServer((client) => {
  client.on('error', () => {});
  client.once('data', () => client.end(answer));
});
server.listen(Number(port), address, () => console.log('ready'));
setTimeout(() => process.exit(0), 120000);
`;

/** Resolves once sockets listen on every TCP and UDP port given in `ns` (rsyslogd prints nothing when ready); bounded to 10 s. */
async function listening(lab: Lab, ns: string, ports: { tcp: number[]; udp: number[] }, what: string): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    const [tcp, udp] = await Promise.all([lab.exec(ns, 'ss', ['-Hltn']), lab.exec(ns, 'ss', ['-Hlun'])]);
    const bound = (output: string, port: number): boolean => output.includes(`:${port} `);
    if (ports.tcp.every((port) => bound(tcp.stdout, port)) && ports.udp.every((port) => bound(udp.stdout, port)))
      return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} does not listen on all its ports after 10 s`);
}

t.test('against a real rsyslogd in the lab', async (t) => {
  if (needsLab(t)) return;
  const { lab, dir } = await filteredLab(t, 'syslog', {
    protocols: ['udp', 'tcp'],
    drop: [PORT.drop, PORT.relpDrop],
    prohibited: [PORT.prohibited, PORT.relpProhibited],
  });

  const log = join(dir, 'messages.log');
  const conf = join(dir, 'rsyslog.conf');
  const plainPorts = [PORT.syslog, PORT.drop, PORT.prohibited];
  const relpPorts = [PORT.relp, PORT.relpDrop, PORT.relpProhibited];
  await writeFile(
    conf,
    [
      `global(workDirectory="${dir}" net.enableDNS="off")`,
      'module(load="imudp")',
      'module(load="imtcp")',
      'module(load="imrelp")',
      // Every input also listens behind the drop and reject rules, so those stand in front of a live server.
      ...plainPorts.map((port) => `input(type="imudp" address="${SERVER}" port="${port}")`),
      ...plainPorts.map((port) => `input(type="imtcp" address="${SERVER}" port="${port}")`),
      ...relpPorts.map((port) => `input(type="imrelp" address="${SERVER}" port="${port}")`),
      `*.* action(type="omfile" file="${log}" template="RSYSLOG_SyslogProtocol23Format")`,
      '',
    ].join('\n'),
  );
  await lab.spawn(lab.ns.server, 'rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')]);
  await listening(lab, lab.ns.server, { tcp: [...plainPorts, ...relpPorts], udp: plainPorts }, 'rsyslogd');
  const replay = await lab.spawn(lab.ns.server, process.execPath, ['-e', RELP_500, SERVER, String(PORT.relp500)]);
  await printed(replay, 'ready', 'the RELP 500 replay');

  const client = await namespaceCli(t, lab.ns.client);
  /** Probe from the client namespace and return the RunReport it printed. */
  const probe = (args: string[]) => probeJson('syslog', args, { via: client });

  /** The line rsyslogd wrote for the probe message with this id, once it is there (bounded to 5 s). */
  const logged = async (id: string): Promise<string | undefined> => {
    for (let tries = 0; tries < 50; tries++) {
      const text = await readFile(log, 'utf8').catch(() => '');
      const line = text.split('\n').find((entry) => entry.includes(`id="${id}"`));
      if (line) return line;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return undefined;
  };

  t.test(
    'over UDP the message arrives, yet the probe honestly says filtered and inconclusive: no syslog answer exists',
    async (t) => {
      const { code, result } = await probe([SERVER, '--timeout', '1s']);
      t.equal(code, 1);
      t.match(result, {
        state: 'filtered',
        verdict: 'inconclusive',
        attempts: 1,
        target: { port: 514, protocol: 'udp' },
        evidence: { transport: 'udp', message_id: /^[0-9a-f]{12}$/ },
      });
      t.match(
        result.reason,
        /^sent 1 message and no ICMP error came back within 1 s; syslog over UDP never answers, so this cannot tell delivered from dropped and proves nothing open/,
      );
      t.notOk(result.check);
      const line = await logged((result.evidence as { message_id: string }).message_id);
      t.match(
        line,
        /^<14>1 \S+ \S+ reachgate \d+ probe \[reachgate@32473 id="[0-9a-f]{12}" transport="udp" nonce="rgn-[0-9a-f]{32}"\] reachgate reachability probe rgn-[0-9a-f]{32}, no action needed$/,
        'rsyslogd logged it, severity info',
      );
    },
  );

  t.test('over TCP the connect proves open and the octet-counted message arrives', async (t) => {
    const { code, result } = await probe([SERVER, '--transport', 'tcp']);
    t.equal(code, 0);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      target: { port: 514, protocol: 'tcp' },
      evidence: { transport: 'tcp' },
    });
    t.match(result.reason, /^connected in .* and sent one octet-counted message/);
    t.ok(await logged((result.evidence as { message_id: string }).message_id), 'rsyslogd logged it');
  });

  t.test('over RELP (default port 2514) open is answered 200 and the message acknowledged', async (t) => {
    const { code, result } = await probe([SERVER, '--transport', 'relp']);
    t.equal(code, 0);
    t.match(result, { state: 'open', verdict: 'pass', check: { ok: true }, target: { port: 2514, protocol: 'tcp' } });
    t.match(result.evidence, { transport: 'relp', open_status: 200, syslog_status: 200, relp_software: /^librelp,/ });
    t.match(result.reason, /^connected in .*; RELP open answered 200 by librelp [\d.]+, message acknowledged 200$/);
    t.ok(await logged((result.evidence as { message_id: string }).message_id), 'rsyslogd logged it');
  });

  t.test("a RELP open answered 500 (librelp's real reply, replayed) is a failed check", async (t) => {
    const { code, result } = await probe([`${SERVER}:${PORT.relp500}`, '--transport', 'relp']);
    t.equal(code, 1);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: 'RELP open answered 500 required command not supported by client' },
      evidence: { open_status: 500 },
    });
  });

  t.test('RELP spoken to a plain syslog TCP port gets no RELP answer: a failed check', async (t) => {
    const { result } = await probe([`${SERVER}:${PORT.syslog}`, '--transport', 'relp', '--timeout', '1s']);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: 'no answer to RELP open within 1 s' },
    });
  });

  t.test('a port nobody listens on gives closed over every transport', async (t) => {
    const udp = await probe([`${SERVER}:${PORT.vacant}`]);
    t.match(udp.result, { state: 'closed', icmp: { type: 3, code: 3, from: SERVER } });
    for (const transport of ['tcp', 'relp']) {
      const { result } = await probe([`${SERVER}:${PORT.vacant}`, '--transport', transport]);
      t.match(result, { state: 'closed', reason: /refused \(TCP reset\)/ }, transport);
    }
  });

  t.test('a drop rule gives filtered; over UDP that is what an open path shows too', async (t) => {
    const udp = await probe([`${SERVER}:${PORT.drop}`, '--timeout', '1s']);
    t.match(udp.result, { state: 'filtered', reason: /never answers/ });
    for (const [port, transport] of [
      [PORT.drop, 'tcp'],
      [PORT.relpDrop, 'relp'],
    ] as const) {
      const { result } = await probe([`${SERVER}:${port}`, '--transport', transport, '--timeout', '1s']);
      t.match(
        result,
        { state: 'filtered', attempts: 1, reason: /^no answer within 1 s \(1 attempt\): silently dropped/ },
        transport,
      );
    }
  });

  t.test('an admin-prohibited reject gives prohibited and names the router, over every transport', async (t) => {
    for (const [port, transport] of [
      [PORT.prohibited, 'udp'],
      [PORT.prohibited, 'tcp'],
      [PORT.relpProhibited, 'relp'],
    ] as const) {
      const { result } = await probe([`${SERVER}:${port}`, '--transport', transport]);
      t.match(result, { state: 'prohibited', icmp: { type: 3, code: 13, from: ROUTER } }, transport);
      t.match(result.reason, /^rejected by 192\.0\.2\.1: ICMP admin-prohibited \(3\/13\)/, transport);
    }
  });
});
