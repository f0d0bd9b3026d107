import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { MatrixCell } from '../../src/core/matrix.js';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import { createToken } from '../../src/coordinator/tokens.js';
import { LAB, needsLab } from '../lab/lab.js';
import { filteredLab, masqueradeRuleset } from '../lab/filtered-lab.js';
import { printed } from '../helpers/daemon.js';
import { BIN } from '../helpers/cli.js';

// One-way rows judged at a real coordinator, every part its own process in the lab's namespaces: the
// coordinator on the router, a sending agent on the client, a responder agent beside rsyslogd on the server.
const SERVER = LAB.server.v4;
const PORT = { coordinator: 18580, syslog: 514, natted: 5514, flow: 2055 };
const ROLE = 'syslog-server';
/** How long a process may take to start on a busy machine (the suite runs files in parallel on 2 cores). */
const START_MS = 30_000;
/**
 * The coordinator's window for a receipt (`--confirm-window`, 60 s by default): a fail needs a fresh responder
 * report after it. Short here, yet long enough that a report delivered on a busy machine still finds its row
 * inside the window (waiting) first.
 */
const WINDOW_S = 15;
const WINDOW_WAIT_MS = (WINDOW_S + 30) * 1000;

/** Run the CLI as a user would (without tap's loader hooks). */
const cli = (...args: string[]): [string, string[]] => ['env', ['-u', 'NODE_OPTIONS', process.execPath, BIN, ...args]];

/**
 * Polls the coordinator's matrix (from inside a namespace) until each named row has its verdict and a reason
 * that contains the given text, or `ms` passes; prints the cells of those rows as they last were. One process
 * per wait, not one per poll.
 */
const WAIT_FOR_CELLS = `
const [url, token, wanted, ms] = process.argv.slice(1);
const want = JSON.parse(wanted);
const end = Date.now() + Number(ms);
(async () => {
  let cells = [];
  for (;;) {
    try {
      const answer = await fetch(url + '/api/v1/matrix?results=true', { headers: { authorization: 'Bearer ' + token } });
      cells = (await answer.json()).cells.filter((cell) => cell.row in want);
    } catch (error) {
      cells = [{ error: String(error) }];
    }
    const met = ([row, [verdict, text]]) =>
      cells.some((c) => c.row === row && c.verdict === verdict && (c.results[0]?.reason ?? '').includes(text));
    if (Object.entries(want).every(met)) break;
    if (Date.now() > end) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  console.log(JSON.stringify(cells));
})();
`;

t.test('a coordinator joins a responder agent’s receipts to a sending agent’s one-way rows', async (t) => {
  if (needsLab(t)) return;
  const { lab, dir } = await filteredLab(t, 'confirm-fleet', { protocols: ['udp'] });
  // Source NAT on the router for one port: that row's receipt must show the router's address.
  await lab.nft(lab.ns.router, masqueradeRuleset('confirm-nat', PORT.natted));

  // Tokens first, in the database the coordinator process then opens.
  const db = join(dir, 'reachgate.db');
  const store = SqliteStore.open(db);
  const sender = (await createToken(store, { kind: 'agent', agent: 'ws-01', role: 'sender' })).token;
  const responderToken = (await createToken(store, { kind: 'agent', agent: 'log-01', role: ROLE })).token;
  const viewer = (await createToken(store, { kind: 'viewer' })).token;
  await store.close();
  const coordinator = await lab.spawn(
    lab.ns.router,
    ...cli('coordinator', '--db', db, '--listen', `0.0.0.0:${PORT.coordinator}`, '--confirm-window', String(WINDOW_S)),
  );
  await printed(coordinator, 'coordinator listening at', 'the coordinator', START_MS);

  // rsyslogd holds the ports (2055 stands in for a NetFlow collector: it reads and never answers).
  const log = join(dir, 'messages.log');
  const conf = join(dir, 'rsyslog.conf');
  const udpPorts = [PORT.syslog, PORT.natted, PORT.flow];
  writeFileSync(
    conf,
    [
      `global(workDirectory="${dir}" net.enableDNS="off")`,
      'module(load="imudp")',
      ...udpPorts.map((port) => `input(type="imudp" address="${SERVER}" port="${port}")`),
      `*.* action(type="omfile" file="${log}")`,
      '',
    ].join('\n'),
  );
  await lab.spawn(lab.ns.server, 'rsyslogd', ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')]);

  const site = join(dir, 'site.yaml');
  writeFileSync(
    site,
    [
      'site: confirm-lab',
      'hosts:',
      `  tightgate: [${SERVER}]`,
      '  internet-canaries: [203.0.113.80]',
      `  syslog-servers: [${SERVER}]`,
      // The responder agent's own profile probes the coordinator; a site names hosts only by known variables.
      `  update-servers: [${LAB.router.serverV4}]`,
      'settings:',
      '  timeout: 1500ms',
      '',
    ].join('\n'),
  );
  const row = (name: string, kind: string, port: number, extra: string[] = []): string[] => [
    `  - row: ${name}`,
    `    kind: ${kind}`,
    '    target: syslog-servers',
    `    ports: ${port}`,
    `    confirm: ${ROLE}`,
    ...extra,
  ];
  writeFileSync(
    join(dir, 'sender.yaml'),
    [
      'profile: test/sender',
      'role: sender',
      'probes:',
      ...row('syslog', 'syslog', PORT.syslog),
      ...row('syslog-nat', 'syslog', PORT.natted),
      ...row('flow', 'udp', PORT.flow, ['    options: { send-hex: "0005 0000" }']),
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'log-server.yaml'),
    [
      'profile: test/log-server',
      `role: ${ROLE}`,
      'probes:',
      '  - row: coordinator',
      '    kind: tcp',
      '    target: update-servers',
      `    ports: ${PORT.coordinator}`,
      '',
    ].join('\n'),
  );
  const agentConfig = (name: string, token: string, coordinatorAddress: string, more: string[]): string => {
    const tokenFile = join(dir, `${name}.token`);
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const config = join(dir, `${name}-agent.yaml`);
    writeFileSync(
      config,
      [
        `name: ${name}`,
        `site: ${site}`,
        `coordinator: http://${coordinatorAddress}:${PORT.coordinator}`,
        `token-file: ${tokenFile}`,
        `spool: ${join(dir, `${name}-spool`)}`,
        'jitter: 0s',
        ...more,
        '',
      ].join('\n'),
    );
    return config;
  };
  const senderConfig = agentConfig('ws-01', sender, LAB.router.clientV4, ['profile: sender.yaml']);
  const responderConfig = agentConfig('log-01', responderToken, LAB.router.serverV4, [
    'profile: log-server.yaml',
    'interval: 5m',
    'responder:',
    `  udp: [${udpPorts.join(', ')}]`,
    '  interval: 1s',
  ]);
  const responder: ChildProcess = await lab.spawn(lab.ns.server, ...cli('agent', '--config', responderConfig));
  await printed(responder, 'responder watching', 'the responder agent', START_MS);

  const sendOnce = async (): Promise<void> => {
    const run = await lab.exec(lab.ns.client, ...cli('agent', '--config', senderConfig, '--once'), {
      timeoutMs: 30_000,
    });
    t.equal(run.code, 0, `the sending agent delivered its report: ${run.stderr.slice(-400)}`);
  };
  const cellsOnceThey = async (
    want: Record<string, [string, string]>,
    ms: number,
  ): Promise<Map<string, MatrixCell>> => {
    const url = `http://127.0.0.1:${PORT.coordinator}`;
    const run = await lab.exec(
      lab.ns.router,
      'env',
      ['-u', 'NODE_OPTIONS', process.execPath, '-e', WAIT_FOR_CELLS, url, viewer, JSON.stringify(want), String(ms)],
      { timeoutMs: ms + 10_000 },
    );
    const cells = JSON.parse(run.stdout || '[]') as MatrixCell[];
    return new Map(cells.map((cell) => [cell.row, cell]));
  };
  const reasonOf = (cell: MatrixCell | undefined): string => cell?.results[0]?.reason ?? JSON.stringify(cell);

  t.test('delivered rows pass, and source NAT on the router shows in the receipt', async (t) => {
    await sendOnce();
    const delivered: [string, string] = ['pass', 'delivered'];
    const cells = await cellsOnceThey({ syslog: delivered, 'syslog-nat': delivered, flow: delivered }, 20_000);
    for (const name of ['syslog', 'syslog-nat', 'flow'])
      t.equal(cells.get(name)?.verdict, 'pass', reasonOf(cells.get(name)));
    t.match(
      reasonOf(cells.get('syslog')),
      new RegExp(
        `delivered: responder log-01 \\(${ROLE}\\) saw its nonce on udp/514 from ${LAB.client.v4.replace(/\./g, '\\.')}:`,
      ),
    );
    t.match(cells.get('syslog-nat')?.results[0]?.evidence, {
      receipt: { source: LAB.router.serverV4, port: PORT.natted },
    });
    t.match(cells.get('flow')?.results[0]?.evidence, { receipt: { source: LAB.client.v4, port: PORT.flow } });
  });

  t.test('a drop rule on the path fails the row while the responder is fresh', async (t) => {
    await lab.nft(lab.ns.router, `add rule inet filter forward udp dport ${PORT.syslog} drop\n`);
    await sendOnce();
    const waiting = await cellsOnceThey({ syslog: ['inconclusive', 'waiting for responder'] }, 10_000);
    t.match(
      reasonOf(waiting.get('syslog')),
      /not confirmed: waiting for responder log-01/,
      'inside the window it waits',
    );
    const cells = await cellsOnceThey({ syslog: ['fail', 'not delivered'] }, WINDOW_WAIT_MS);
    t.equal(cells.get('syslog')?.verdict, 'fail', reasonOf(cells.get('syslog')));
    t.match(
      reasonOf(cells.get('syslog')),
      new RegExp(`not delivered: responder log-01 \\(${ROLE}\\) reported at .* without its nonce`),
    );
  });

  t.test('a stopped responder agent leaves the row inconclusive once it is stale', async (t) => {
    responder.kill('SIGTERM');
    if (responder.exitCode === null && responder.signalCode === null) await once(responder, 'exit');
    await sendOnce();
    const stale: [string, string] = ['inconclusive', 'is stale'];
    const cells = await cellsOnceThey({ syslog: stale, flow: stale }, 20_000);
    for (const name of ['syslog', 'flow']) {
      t.equal(cells.get(name)?.verdict, 'inconclusive', reasonOf(cells.get(name)));
      t.match(reasonOf(cells.get(name)), /not confirmed: responder log-01 \(syslog-server\) is stale/);
    }
  });
});
