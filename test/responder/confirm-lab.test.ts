import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { ProbeResult } from '../../src/core/result.js';
import type { Receipt } from '../../src/core/receipt.js';
import { LAB, type Lab, needsLab } from '../lab/lab.js';
import { filteredLab, masqueradeRuleset } from '../lab/filtered-lab.js';
import { printed } from '../helpers/daemon.js';
import { BIN, namespaceCli, probeJson } from '../helpers/cli.js';

// One-way flows proven by a responder beside real daemons: rsyslogd (UDP, TCP, RELP) and snmptrapd keep
// their ports on the far host; the responder sees a copy of each datagram and segment.
const SERVER = LAB.server.v4;
const PORT = { syslog: 514, relp: 2514, dropped: 1514, natted: 5514, trap: 162, side: 8514, netflow: 2055, rtp: 5004 };
const SIDE_CHANNEL = `http://${SERVER}:${PORT.side}`;

/** Resolves once sockets listen on every port given in `ns`; bounded to 10 s. */
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

/** The text of a file once it holds `needle` (bounded to 5 s); empty when it never does. */
async function fileWith(file: string, needle: string): Promise<string> {
  for (let tries = 0; tries < 50; tries++) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.includes(needle)) return text;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return '';
}

t.test('a responder beside rsyslogd and snmptrapd proves one-way flows', async (t) => {
  if (needsLab(t)) return;
  const { lab, dir } = await filteredLab(t, 'responder', { protocols: ['udp'], drop: [PORT.dropped] });
  // Source NAT on the router for one port: the receipt must show the router's address, not the client's.
  await lab.nft(lab.ns.router, masqueradeRuleset('responder-nat', PORT.natted));
  const log = join(dir, 'messages.log');
  const conf = join(dir, 'rsyslog.conf');
  const udpPorts = [PORT.syslog, PORT.dropped, PORT.natted];
  await writeFile(
    conf,
    [
      `global(workDirectory="${dir}" net.enableDNS="off")`,
      'module(load="imudp")',
      'module(load="imtcp")',
      'module(load="imrelp")',
      ...udpPorts.map((port) => `input(type="imudp" address="${SERVER}" port="${port}")`),
      `input(type="imudp" address="${LAB.server.v6}" port="${PORT.syslog}")`,
      `input(type="imtcp" address="${SERVER}" port="${PORT.syslog}")`,
      `input(type="imrelp" address="${SERVER}" port="${PORT.relp}")`,
      `*.* action(type="omfile" file="${log}")`,
      '',
    ].join('\n'),
  );
  await lab.spawn(lab.ns.server, 'rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')]);
  const trapConf = join(dir, 'snmptrapd.conf');
  await writeFile(trapConf, 'authCommunity log public\n');
  const trapd = await lab.spawn(lab.ns.server, 'snmptrapd', [
    '-f',
    '-C',
    '-c',
    trapConf,
    '-Lo',
    '-On',
    '-p',
    join(dir, 'snmptrapd.pid'),
    `udp:${SERVER}:${PORT.trap}`,
  ]);
  let trapLog = '';
  trapd.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    trapLog += chunk;
  });
  // A collector of one-way flows (NetFlow, RTP) that reads and never answers: the port is bound, so no ICMP error.
  const sink = `const s = require('node:dgram').createSocket('udp6'); s.on('message', () => {});
    s.bind(${PORT.netflow}); const r = require('node:dgram').createSocket('udp6'); r.on('message', () => {});
    r.bind(${PORT.rtp}); setTimeout(() => process.exit(), 120000);`;
  await lab.spawn(lab.ns.server, process.execPath, ['-e', sink]);
  const flowPorts = [PORT.netflow, PORT.rtp];
  await listening(
    lab,
    lab.ns.server,
    { tcp: [PORT.syslog, PORT.relp], udp: [...udpPorts, PORT.trap, ...flowPorts] },
    'the daemons',
  );

  const tokenFile = join(dir, 'responder.token');
  await writeFile(tokenFile, 'lab-responder-token-0123456789abcdef\n');
  const receipts: Receipt[] = [];
  const responder = await lab.spawn(lab.ns.server, 'env', [
    // Without tap's loader hooks: the compiled CLI runs as a user runs it.
    '-u',
    'NODE_OPTIONS',
    process.execPath,
    BIN,
    'responder',
    '--udp',
    [...udpPorts, PORT.trap, ...flowPorts].join(','),
    '--tcp',
    `${PORT.syslog},${PORT.relp}`,
    '--listen',
    `${SERVER}:${PORT.side}`,
    '--token-file',
    tokenFile,
  ]);
  const ready = printed(responder, 'side channel on', 'the responder');
  responder.stdout?.on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) receipts.push(JSON.parse(line) as Receipt);
  });
  await ready;

  const confirm = ['--confirm-with', SIDE_CHANNEL, '--token-file', tokenFile];
  const client = await namespaceCli(t, lab.ns.client);
  const probe = (kind: string, args: string[]) => probeJson(kind, [...args, ...confirm], { via: client });
  const nonceOf = (result: ProbeResult): string => (result.evidence as { nonce: string }).nonce;

  t.test('over UDP: delivered (IPv4 and IPv6), dropped on the way, and source-NATed by the router', async (t) => {
    const ports = `${PORT.syslog},${PORT.dropped},${PORT.natted}`;
    const v6 = `[${LAB.server.v6}]:${PORT.syslog}`;
    const { report } = await probe('syslog', [`${SERVER}:${ports}`, v6, '--timeout', '1500ms']);
    const [delivered, dropped, natted, overV6] = report.results as [ProbeResult, ProbeResult, ProbeResult, ProbeResult];
    t.match(overV6, {
      state: 'open',
      verdict: 'pass',
      evidence: { receipt: { source: LAB.client.v6, port: PORT.syslog } },
    });
    t.match(delivered, { state: 'open', verdict: 'pass', check: { ok: true } });
    t.match(delivered.reason, /delivered: the responder saw its nonce on udp\/514 from 192\.0\.2\.2:\d+/);
    t.match(delivered.evidence, { receipt: { source: LAB.client.v4, port: PORT.syslog, protocol: 'udp' } });
    t.match(await fileWith(log, nonceOf(delivered)), nonceOf(delivered), "rsyslogd's log has the message too");
    t.match(dropped, { state: 'filtered', verdict: 'fail' });
    t.match(dropped.reason, /the responder watching udp\/1514 saw no nonce within 1\.5 s: dropped on the way/);
    t.match(natted, { state: 'open', verdict: 'pass' });
    t.match(natted.evidence, { receipt: { source: LAB.router.serverV4, port: PORT.natted } }, 'NAT shows');
    t.ok(receipts.some((receipt) => receipt.nonce === nonceOf(natted) && receipt.source === LAB.router.serverV4));
  });

  t.test('over TCP and RELP the responder confirms the message rsyslogd received', async (t) => {
    const [tcp, relp] = await Promise.all([
      probe('syslog', [`${SERVER}:${PORT.syslog}`, '--transport', 'tcp']),
      probe('syslog', [`${SERVER}:${PORT.relp}`, '--transport', 'relp']),
    ]);
    for (const { result } of [tcp, relp]) {
      t.match(result, { state: 'open', verdict: 'pass', check: { ok: true, detail: /delivered: the responder saw/ } });
      t.match(result.evidence, { receipt: { source: LAB.client.v4, protocol: 'tcp', port: result.target.port } });
      t.match(await fileWith(log, nonceOf(result)), nonceOf(result));
    }
    t.match(relp.result.reason, /message acknowledged 200; delivered/);
  });

  t.test('a trap with a nonce varbind reaches snmptrapd and the responder', async (t) => {
    const { result } = await probe('trap', [SERVER, '--timeout', '1500ms']);
    t.match(result, { state: 'open', verdict: 'pass', target: { port: PORT.trap, protocol: 'udp' } });
    t.match(result.evidence, { receipt: { source: LAB.client.v4, port: PORT.trap } });
    for (let tries = 0; tries < 50 && !trapLog.includes(nonceOf(result)); tries++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    t.match(trapLog, `.1.3.6.1.4.1.32473.1.1.0 = STRING: "${nonceOf(result)}"`, 'snmptrapd logged the nonce varbind');
  });

  t.test('a raw UDP payload carries its nonce: one-way flows proven over IPv4 and IPv6, or dropped', async (t) => {
    // A NetFlow v5 header's first bytes (version 5, count 0): the nonce is appended after them.
    const netflow = await probe('udp', [`${SERVER}:${PORT.netflow}`, '--send-hex', '0005 0000', '--timeout', '1500ms']);
    t.match(netflow.result, { state: 'open', verdict: 'pass', evidence: { length: 4 + 36 } });
    t.match(
      netflow.result.reason,
      /^sent 1 datagram; delivered: the responder saw its nonce on udp\/2055 from 192\.0\.2\.2:/,
    );
    t.match(netflow.result.evidence, { receipt: { source: LAB.client.v4, port: PORT.netflow, protocol: 'udp' } });
    const [rtp, dropped] = await Promise.all([
      // The marker puts the nonce where the flow wants it; IPv6 too.
      probe('udp', [`[${LAB.server.v6}]:${PORT.rtp}`, '--send', 'rtp {nonce} frame', '--timeout', '1500ms']),
      probe('udp', [`${SERVER}:${PORT.dropped}`, '--send', 'flow', '--timeout', '1500ms']),
    ]);
    t.match(rtp.result, { state: 'open', verdict: 'pass', evidence: { length: 'rtp  frame'.length + 36 } });
    t.match(rtp.result.evidence, { receipt: { source: LAB.client.v6, port: PORT.rtp } });
    t.match(dropped.result, { state: 'filtered', verdict: 'fail' });
    t.match(dropped.result.reason, /the responder watching udp\/1514 saw no nonce within 1\.5 s: dropped on the way/);
    t.ok(
      receipts.some((receipt) => receipt.nonce === nonceOf(netflow.result)),
      "the responder's own log of receipts has the datagram's nonce",
    );
  });

  t.test('a stopped responder makes the row inconclusive, never a pass or a fail', async (t) => {
    responder.kill('SIGTERM');
    if (responder.exitCode === null) await once(responder as ChildProcess, 'exit');
    const { result } = await probe('syslog', [`${SERVER}:${PORT.syslog}`, '--timeout', '1s']);
    t.match(result, { state: 'filtered', verdict: 'inconclusive' });
    t.match(
      result.reason,
      new RegExp(`not confirmed: the responder at ${SIDE_CHANNEL.replace(/\./g, '\\.')} did not answer`),
    );
  });
});
