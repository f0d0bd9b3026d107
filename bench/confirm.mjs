// Benchmark: time to confirm a one-way row, send -> receipt, with 100 senders at once.
//
// Two namespaces: client 192.0.2.2/24 <-veth-> server 198.51.100.10/24 (routes both ways). On the
// server: a UDP socket bound to 514 (standing in for rsyslogd, which keeps its port) and
// `reachgate responder --udp 514 --listen 198.51.100.10:8514` watching it passively. In the client:
// one `reachgate probe syslog` of 100 targets (the same server 100 times) with --concurrency 100,
// each a sender of its own (own socket, own source port, own nonce) asking the side channel
// (--confirm-with) until its nonce's receipt is there. The figure per probe is evidence.confirmed_ms:
// from the datagram's send to the moment the prober holds the receipt. Median and p99 over all reps.
// No peer: nping's echo mode and netassert need their own far-side servers, not installed here.
// Network safety: traffic goes only to the namespaces created here (documentation addresses).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNamespace, deleteNamespace, linkNamespaces, must, netnsUnavailable } from './lib/netns.mjs';
import { REACHGATE, median, row, timed } from './lib/measure.mjs';

const CLIENT = '192.0.2.2';
const SERVER = '198.51.100.10';
const SENDERS = 100;
const DEADLINE = '5s';
const READY_MS = 10_000;
const RUN_TIMEOUT_MS = 60_000;

export const title = `Confirm a one-way row: syslog over UDP, send -> receipt via the responder, ${SENDERS} senders at once`;

const RECEIVER = `
const socket = require('node:dgram').createSocket('udp4');
socket.on('message', () => {});
socket.bind(514, process.argv[1], () => console.log('ready'));
setTimeout(() => process.exit(0), 600000);
`;

/** Start a process in a namespace and resolve once it printed `text` (stdout or stderr), bounded (killed if not). */
export function started(ns, argv, text) {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${argv[1]} not ready: ${output}`));
    }, READY_MS);
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8').on('data', (chunk) => {
        output += chunk;
        if (output.includes(text)) {
          clearTimeout(timer);
          resolve(child);
        }
      });
    }
    child.once('exit', () => reject(new Error(`${argv[1]} exited: ${output}`)));
  });
}

/** End the processes a run started (by their PIDs), delete its namespaces and its temp dir. */
export function cleanUp(children, namespaces, dir) {
  for (const child of children) child.kill('SIGTERM');
  for (const ns of namespaces) deleteNamespace(ns);
  rmSync(dir, { recursive: true, force: true });
}

/** The p-th percentile (nearest rank) of the values. */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export default async function confirm({ reps = 5 } = {}) {
  const unavailable = netnsUnavailable();
  if (unavailable) return { title, skipped: `needs network namespaces: ${unavailable}` };
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-bench-confirm-'));
  const token = join(dir, 'token');
  writeFileSync(token, 'bench-responder-token-0123456789abcdef\n');
  const client = addNamespace('c');
  const server = addNamespace('s');
  const children = [];
  try {
    linkNamespaces(client, `${CLIENT}/24`, server, `${SERVER}/24`);
    must('ip', ['-n', client, 'route', 'add', '198.51.100.0/24', 'dev', 'veth0']);
    must('ip', ['-n', server, 'route', 'add', '192.0.2.0/24', 'dev', 'veth0']);
    children.push(await started(server, [process.execPath, '-e', RECEIVER, SERVER], 'ready'));
    const responderArgs = ['responder', '--udp', '514', '--listen', `${SERVER}:8514`, '--token-file', token];
    children.push(await started(server, [process.execPath, REACHGATE, ...responderArgs], 'side channel on'));
    const probeArgs = [
      'probe',
      'syslog',
      ...Array.from({ length: SENDERS }, () => SERVER),
      '--concurrency',
      String(SENDERS),
      '--timeout',
      DEADLINE,
      '--confirm-with',
      `http://${SERVER}:8514`,
      '--token-file',
      token,
      '--json',
    ];
    const confirmedMs = [];
    const walls = [];
    let unconfirmed = 0;
    for (let rep = 0; rep < reps; rep++) {
      const run = await timed([process.execPath, REACHGATE, ...probeArgs], { ns: client, timeoutMs: RUN_TIMEOUT_MS });
      walls.push(run.wallMs);
      const results = JSON.parse(run.stdout).results;
      for (const result of results) {
        if (result.verdict === 'pass' && typeof result.evidence?.confirmed_ms === 'number')
          confirmedMs.push(result.evidence.confirmed_ms);
        else unconfirmed += 1;
      }
    }
    const invalid = unconfirmed > 0 ? `${unconfirmed} of ${reps * SENDERS} probes not confirmed` : undefined;
    return {
      title,
      setup:
        `Namespaces: client ${CLIENT}/24 <-veth-> server ${SERVER}/24. Server: a UDP socket on 514 and ` +
        `\`reachgate responder --udp 514 --listen ${SERVER}:8514\`. Client: one probe run of ${SENDERS} syslog ` +
        `probes at once (--concurrency ${SENDERS}), each asking the side channel for its own nonce. ${reps} runs.`,
      commands: {
        reachgate: `node bin/reachgate ${probeArgs
          .join(' ')
          .replace(/( 198\.51\.100\.10)+/, ' 198.51.100.10 (x100)')
          .replace(token, 'responder.token')}`,
        peer: '- (no peer: nping echo mode and netassert need their own far-side servers)',
      },
      peer: 'none',
      rows: [
        row({
          metric: 'send -> receipt, median',
          unit: 'ms',
          reachgate: median(confirmedMs),
          goal: '<= 250 ms',
          goalMax: 250,
          invalid,
        }),
        row({
          metric: 'send -> receipt, p99',
          unit: 'ms',
          reachgate: percentile(confirmedMs, 99),
          goal: '<= 1000 ms',
          goalMax: 1000,
          invalid,
        }),
        row({ metric: `wall time of the ${SENDERS}-probe run (reference)`, unit: 'ms', reachgate: median(walls) }),
      ],
      samples: { 'confirmed ms (all probes, all runs)': confirmedMs },
      notes: [
        `${confirmedMs.length} of ${reps * SENDERS} probes confirmed. The probes of one process share one poller: ` +
          'every 40 ms it asks the side channel about all waiting nonces (64 a question), so the figure includes ' +
          'up to one round.',
        'The senders are 100 concurrent probes of one process (own socket, source port and nonce each), not 100 ' +
          'processes: on 2 cores, 100 Node start-ups would measure start-up, not confirmation.',
      ],
    };
  } finally {
    cleanUp(children, [client, server], dir);
  }
}
