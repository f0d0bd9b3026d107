// Benchmark: time to confirm a one-way row at the coordinator, send -> receipt joined, 100 agents at once.
//
// Two namespaces: client 192.0.2.2/24 <-veth-> server 198.51.100.10/24. On the server: a UDP socket bound
// to 514 (standing in for rsyslogd), a real `reachgate coordinator` (SQLite) on 198.51.100.10:18580, and a
// real `reachgate agent` whose `responder:` section watches udp/514 passively and posts its receipts with
// its own token every second. In the client, one process speaks for 100 agents, each with its own agent
// token: all at once, each sends one syslog datagram carrying its own nonce (own socket and source port)
// and posts its report (one `confirm: syslog-server` result with that nonce) to the coordinator, as an
// agent does after its run. The figure per agent: from its datagram's send to the first
// GET /api/v1/matrix?row=syslog&verdict=pass (polled every 25 ms) that shows its cell pass with its
// report, i.e. the receipt captured, posted by the responder agent, stored and joined at read time.
// Median and p99 over all reps. No peer (see bench/confirm.mjs).
// Network safety: traffic goes only to the namespaces created here (documentation addresses).
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { addNamespace, linkNamespaces, must, netnsUnavailable } from './lib/netns.mjs';
import { BUILD_ROOT, REACHGATE, median, row } from './lib/measure.mjs';
import { cleanUp, percentile, started } from './confirm.mjs';

const CLIENT = '192.0.2.2';
const SERVER = '198.51.100.10';
const AGENTS = 100;
const COORDINATOR_PORT = 18580;
const RESPONDER_INTERVAL = '1s';
const REP_TIMEOUT_MS = 30_000;
/** The poller reads the matrix 40 times a second: the per-token rate limit is lifted for it. */
const UNLIMITED = ['--rate-limit', '1000', '--rate-burst', '10000'];

export const title = `Confirm a one-way row at the coordinator: send -> receipt joined, ${AGENTS} agents at once`;

const RECEIVER = `
const socket = require('node:dgram').createSocket('udp4');
socket.on('message', () => {});
socket.bind(514, process.argv[1], () => console.log('ready'));
setTimeout(() => process.exit(0), 600000);
`;

// The 100 agents, in the client namespace: argv = coordinator URL, file of tokens, server, reps.
// Prints one JSON line: { confirmedMs: [...], postMs: [...], missed }.
const AGENTS_SCRIPT = `
const { createSocket } = require('node:dgram');
const { randomBytes, randomUUID } = require('node:crypto');
const { readFileSync } = require('node:fs');
const [url, tokenFile, server, repsText, timeoutText] = process.argv.slice(1);
const { agents, viewer } = JSON.parse(readFileSync(tokenFile, 'utf8'));
const post = (token, body) => fetch(url + '/api/v1/reports', {
  method: 'POST', headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' }, body });
const report = (agent, nonce, at) => JSON.stringify({
  id: randomUUID(), agent, role: 'sender', site: 'bench', profile: null, version: '0.1.0',
  started_at: at, finished_at: at,
  results: [{ id: 'sender/syslog/syslog/' + server + ':514', row: 'syslog', kind: 'syslog',
    target: { host: server, address: server, port: 514, protocol: 'udp' }, expect: 'reachable',
    state: 'filtered', verdict: 'inconclusive', reason: 'sent 1 message', attempts: 1, started_at: at,
    evidence: { nonce }, confirm: 'syslog-server' }],
  summary: { pass: 0, fail: 0, inconclusive: 1, error: 0 } });
(async () => {
  const confirmedMs = [], postMs = [];
  let missed = 0;
  for (let rep = 0; rep < Number(repsText); rep++) {
    const waiting = new Map();
    await Promise.all(agents.map(async ({ agent, token }) => {
      const nonce = 'rgn-' + randomBytes(16).toString('hex');
      const body = report(agent, nonce, new Date().toISOString());
      const socket = createSocket('udp4');
      await new Promise((resolve) => socket.bind(0, resolve));
      const message = '<14>1 - bench reachgate - probe - reachgate reachability probe ' + nonce;
      const sentAt = performance.now();
      socket.send(message, 514, server, () => socket.close());
      const answer = await post(token, body);
      postMs.push(performance.now() - sentAt);
      if (answer.status !== 201) throw new Error('report not stored: ' + answer.status + ' ' + (await answer.text()));
      waiting.set(agent, { sentAt, id: JSON.parse(body).id });
    }));
    const end = performance.now() + Number(timeoutText);
    while (waiting.size > 0 && performance.now() < end) {
      const page = await (await fetch(url + '/api/v1/matrix?row=syslog&verdict=pass&limit=1000',
        { headers: { authorization: 'Bearer ' + viewer } })).json();
      const now = performance.now();
      for (const cell of page.cells) {
        const mine = waiting.get(cell.agent);
        if (mine && cell.report_id === mine.id) {
          confirmedMs.push(now - mine.sentAt);
          waiting.delete(cell.agent);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    missed += waiting.size;
  }
  console.log(JSON.stringify({ confirmedMs, postMs, missed }));
})().catch((error) => { console.error(String(error)); process.exit(1); });
`;

/** Run to the end in a namespace, bounded; resolves with stdout. */
function run(ns, argv, timeoutMs) {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${argv.join(' ').slice(0, 80)} exited ${code}: ${stderr}`));
    });
  });
}

/** Agent tokens (one per sending agent, one for the responder) and a viewer token, made in the database. */
async function tokens(db) {
  const dist = (path) => import(pathToFileURL(join(BUILD_ROOT, 'dist', 'src', path)).href);
  const { SqliteStore } = await dist('coordinator/sqlite-store.js');
  const { createToken } = await dist('coordinator/tokens.js');
  const store = SqliteStore.open(db);
  try {
    const agents = [];
    for (let i = 0; i < AGENTS; i++) {
      const agent = `ws-${String(i).padStart(3, '0')}`;
      agents.push({ agent, token: (await createToken(store, { kind: 'agent', agent, role: 'sender' })).token });
    }
    const responder = (await createToken(store, { kind: 'agent', agent: 'log-01', role: 'syslog-server' })).token;
    const viewer = (await createToken(store, { kind: 'viewer' })).token;
    return { agents, responder, viewer };
  } finally {
    await store.close();
  }
}

export default async function confirmCoordinator({ reps = 5 } = {}) {
  const unavailable = netnsUnavailable();
  if (unavailable) return { title, skipped: `needs network namespaces: ${unavailable}` };
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-bench-confirm-coordinator-'));
  const client = addNamespace('c');
  const server = addNamespace('s');
  const children = [];
  const loadStart = loadavg();
  try {
    linkNamespaces(client, `${CLIENT}/24`, server, `${SERVER}/24`);
    must('ip', ['-n', client, 'route', 'add', '198.51.100.0/24', 'dev', 'veth0']);
    must('ip', ['-n', server, 'route', 'add', '192.0.2.0/24', 'dev', 'veth0']);
    const db = join(dir, 'reachgate.db');
    const made = await tokens(db);
    const tokenFile = join(dir, 'agents.json');
    writeFileSync(tokenFile, JSON.stringify({ agents: made.agents, viewer: made.viewer }));
    const responderToken = join(dir, 'responder.token');
    writeFileSync(responderToken, `${made.responder}\n`);
    chmodSync(responderToken, 0o600);
    writeFileSync(
      join(dir, 'site.yaml'),
      `site: bench\nhosts:\n  tightgate: [${SERVER}]\n  internet-canaries: [203.0.113.80]\n  update-servers: [${SERVER}]\n`,
    );
    writeFileSync(
      join(dir, 'log-server.yaml'),
      'profile: bench/log-server\nrole: syslog-server\nprobes:\n  - row: coordinator\n    kind: tcp\n' +
        `    target: update-servers\n    ports: ${COORDINATOR_PORT}\n`,
    );
    const agentConfig = join(dir, 'responder-agent.yaml');
    writeFileSync(
      agentConfig,
      [
        'name: log-01',
        'profile: log-server.yaml',
        'site: site.yaml',
        `coordinator: http://${SERVER}:${COORDINATOR_PORT}`,
        'token-file: responder.token',
        'spool: spool',
        'interval: 5m',
        'responder:',
        '  udp: [514]',
        `  interval: ${RESPONDER_INTERVAL}`,
        '',
      ].join('\n'),
    );
    children.push(await started(server, [process.execPath, '-e', RECEIVER, SERVER], 'ready'));
    const coordinatorArgs = ['coordinator', '--db', db, '--listen', `${SERVER}:${COORDINATOR_PORT}`, ...UNLIMITED];
    children.push(await started(server, [process.execPath, REACHGATE, ...coordinatorArgs], 'coordinator listening at'));
    const agentArgv = [process.execPath, REACHGATE, 'agent', '--config', agentConfig];
    children.push(await started(server, agentArgv, 'responder watching'));
    const url = `http://${SERVER}:${COORDINATOR_PORT}`;
    const agentsArgv = [
      process.execPath,
      '-e',
      AGENTS_SCRIPT,
      url,
      tokenFile,
      SERVER,
      String(reps),
      String(REP_TIMEOUT_MS),
    ];
    const wallStart = performance.now();
    const { confirmedMs, postMs, missed } = JSON.parse(await run(client, agentsArgv, (reps + 2) * REP_TIMEOUT_MS));
    const wallMs = performance.now() - wallStart;
    const loadEnd = loadavg();
    const load = (values) => values.map((value) => value.toFixed(2)).join(' / ');
    const invalid = missed > 0 ? `${missed} of ${reps * AGENTS} rows not confirmed within 30 s` : undefined;
    return {
      title,
      setup:
        `Namespaces: client ${CLIENT}/24 <-veth-> server ${SERVER}/24. Server: a UDP socket on 514, ` +
        `\`reachgate coordinator\` (SQLite) on ${SERVER}:${COORDINATOR_PORT} with the per-token rate limit lifted ` +
        `for the poller, and \`reachgate agent\` with \`responder: { udp: [514], interval: ${RESPONDER_INTERVAL} }\`. ` +
        `Client: one process for ${AGENTS} agents (own token each): all at once, each sends a syslog datagram ` +
        'with its nonce and posts its report (one `confirm: syslog-server` result); the matrix is polled every ' +
        `25 ms. ${reps} rounds. Load average (1/5/15 min) at start ${load(loadStart)}, at end ${load(loadEnd)}.`,
      commands: {
        reachgate:
          `node bin/reachgate coordinator --db reachgate.db --listen ${SERVER}:${COORDINATOR_PORT} ${UNLIMITED.join(' ')}` +
          ' ; node bin/reachgate agent --config responder-agent.yaml ; (100 agents: bench/confirm-coordinator.mjs)',
        peer: '- (no peer)',
      },
      peer: 'none',
      rows: [
        row({
          metric: 'send -> receipt joined at the coordinator, median',
          unit: 'ms',
          reachgate: median(confirmedMs),
          invalid,
        }),
        row({
          metric: 'send -> receipt joined at the coordinator, p99',
          unit: 'ms',
          reachgate: percentile(confirmedMs, 99),
          invalid,
        }),
        row({ metric: 'report POST (send -> 201), median (reference)', unit: 'ms', reachgate: median(postMs) }),
        row({ metric: 'report POST (send -> 201), p99 (reference)', unit: 'ms', reachgate: percentile(postMs, 99) }),
        row({ metric: `wall time of ${reps} rounds (reference)`, unit: 'ms', reachgate: wallMs }),
      ],
      samples: { 'joined ms (all agents, all rounds)': confirmedMs.map((ms) => Math.round(ms)) },
      notes: [
        `${confirmedMs.length} of ${reps * AGENTS} rows confirmed. The responder agent posts its receipts once per ` +
          `interval (${RESPONDER_INTERVAL} here; 10 s by default), so the figure is about half that interval on ` +
          'average plus capture, post, store and one matrix read; a receipt is joined at read time.',
        'A real agent posts its report at the end of its run, after the row deadline: an operator sees the pass ' +
          'at the later of that delivery and this figure. Here each report is posted at the send, so the figure is ' +
          "the responder's side of the join.",
        'The 100 agents are one process with 100 tokens, sockets and nonces, not 100 `reachgate agent` ' +
          'processes: on 2 cores, 100 Node start-ups would measure start-up, not confirmation.',
      ],
    };
  } finally {
    cleanUp(children, [client, server], dir);
  }
}
