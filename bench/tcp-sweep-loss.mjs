// Benchmark: a 1,200-port TCP sweep through random loss, with one unintended open port.
//
// Two namespaces joined by a veth pair: client 192.0.2.2/24 <-> server 192.0.2.10/24. The server
// listens on port 1000 only; its nftables drop TCP to ports 1101-1200 (truly filtered) and a random
// share of every TCP packet in and out (`numgen random mod 100 < N`), so both directions lose N %.
// reachgate (`--expect blocked`, 1 s deadline, 1 attempt: its silence rounds add more) and nmap -sT
// (its defaults: adaptive retransmissions, --max-retries 10) run in the client namespace, alternating,
// REPS times per loss level. The question is the one docs/silence.md answers: is the open port ever
// read as blocked?
import { spawn } from 'node:child_process';
import { addNamespace, deleteNamespace, linkNamespaces, netnsUnavailable, nft } from './lib/netns.mjs';
import { REACHGATE, median, row, rotate, timed } from './lib/measure.mjs';

const CLIENT = '192.0.2.2';
const SERVER = '192.0.2.10';
const PORTS = 1200;
const OPEN = 1000;
const DROPPED = '1101-1200';
const LEVELS = [10, 30];
const RUN_TIMEOUT_MS = 120_000;

export const title = 'TCP sweep of 1,200 ports through 10 % and 30 % random loss, one unintended open port';

export const reachgateArgs = [
  'probe',
  'tcp',
  `${SERVER}:1-${PORTS}`,
  '--timeout',
  '1s',
  '--expect',
  'blocked',
  '--json',
];
export const nmapArgs = ['-sT', '-Pn', '-n', '-p', `1-${PORTS}`, SERVER];

function ruleset(percent) {
  return [
    'flush ruleset',
    'table inet rgbench {',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    `    tcp dport ${DROPPED} drop`,
    `    meta l4proto tcp numgen random mod 100 < ${percent} drop`,
    '  }',
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    `    meta l4proto tcp numgen random mod 100 < ${percent} drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

function reachgateFigures(run) {
  if (run.timedOut) return { wrong: `killed after ${RUN_TIMEOUT_MS} ms` };
  let report;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    return { wrong: `no JSON on stdout (exit ${run.code}): ${run.stderr.trim().slice(0, 200)}` };
  }
  const results = report.results ?? [];
  const open = results.find((result) => result.target.port === OPEN);
  const dropped = results.filter((result) => result.target.port > 1100);
  const falseOpen = results.filter((result) => result.state === 'open' && result.target.port !== OPEN).length;
  return {
    wrong: falseOpen > 0 ? `${falseOpen} silent or closed ports reported open` : null,
    openFound: open?.state === 'open',
    openPass: open?.verdict === 'pass',
    droppedPass: dropped.filter((result) => result.verdict === 'pass').length,
    droppedInconclusive: dropped.filter((result) => result.verdict === 'inconclusive').length,
    attempts: median(dropped.map((result) => result.attempts)),
    loss: dropped[0]?.evidence?.silence?.loss ?? null,
    falseOpen,
  };
}

function nmapFigures(run) {
  if (run.timedOut) return { wrong: `killed after ${RUN_TIMEOUT_MS} ms` };
  if (run.code !== 0) return { wrong: `nmap exit ${run.code}: ${run.stderr.trim().slice(0, 200)}` };
  const openFound = new RegExp(`^${OPEN}/tcp\\s+open`, 'm').test(run.stdout);
  const filtered = Number(/(\d+) filtered tcp ports/.exec(run.stdout)?.[1] ?? 0);
  const listed = (run.stdout.match(/^\d+\/tcp\s+filtered/gm) ?? []).length;
  return { wrong: null, openFound, filtered: filtered + listed };
}

export default async function tcpSweepLoss({ reps = 5 } = {}) {
  const unavailable = netnsUnavailable();
  if (unavailable) return { title, skipped: `needs root and network namespaces: ${unavailable}` };
  const client = addNamespace('c');
  const server = addNamespace('s');
  let listener;
  try {
    linkNamespaces(client, `${CLIENT}/24`, server, `${SERVER}/24`);
    listener = spawn(
      'ip',
      [
        'netns',
        'exec',
        server,
        process.execPath,
        '-e',
        `require('net').createServer((s) => s.destroy()).listen(${OPEN}, '${SERVER}', () => console.log('ready'))`,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    await new Promise((resolve) => listener.stdout.once('data', resolve));
    const rows = [];
    const samples = {};
    const notes = [];
    for (const percent of LEVELS) {
      nft(server, ruleset(percent));
      const [rg, nm] = await rotate(reps, [
        async () => {
          const run = await timed([process.execPath, REACHGATE, ...reachgateArgs], {
            ns: client,
            timeoutMs: RUN_TIMEOUT_MS,
          });
          return { wallMs: run.wallMs, rssKiB: run.maxRssKiB, cpuMs: run.cpuMs, ...reachgateFigures(run) };
        },
        async () => {
          const run = await timed(['nmap', ...nmapArgs], { ns: client, timeoutMs: RUN_TIMEOUT_MS });
          return { wallMs: run.wallMs, rssKiB: run.maxRssKiB, cpuMs: run.cpuMs, ...nmapFigures(run) };
        },
      ]);
      const wrong = rg.filter((s) => s.wrong);
      const count = (samples, pick) => samples.filter(pick).length;
      rows.push(
        row({
          metric: `${percent} % loss: wall time`,
          unit: 'ms',
          reachgate: median(rg.map((s) => s.wallMs)),
          peer: median(nm.map((s) => s.wallMs)),
          invalid: wrong.length ? `wrong answer in ${wrong.length}/${reps} runs: ${wrong[0].wrong}` : undefined,
        }),
        row({
          metric: `${percent} % loss: runs that reported the open port open`,
          unit: 'runs',
          reachgate: count(rg, (s) => s.openFound),
          peer: count(nm, (s) => s.openFound),
          note: `of ${reps}`,
        }),
        row({
          metric: `${percent} % loss: runs where the open port passed as blocked (must be 0)`,
          unit: 'runs',
          reachgate: count(rg, (s) => s.openPass),
          goal: '0',
          goalMax: 0,
        }),
        row({
          metric: `${percent} % loss: dropped ports judged blocked (pass), median per run`,
          unit: 'of 100',
          reachgate: median(rg.map((s) => s.droppedPass)),
          peer: median(nm.map((s) => s.filtered)),
          note: 'nmap: ports it lists as filtered (of 1,200; it has no inconclusive)',
        }),
        row({
          metric: `${percent} % loss: dropped ports inconclusive, median per run`,
          unit: 'of 100',
          reachgate: median(rg.map((s) => s.droppedInconclusive)),
        }),
        row({
          metric: `${percent} % loss: attempts per dropped port, median`,
          unit: 'count',
          reachgate: median(rg.map((s) => s.attempts)),
        }),
        row({
          metric: `${percent} % loss: peak RSS`,
          unit: 'KiB',
          reachgate: median(rg.map((s) => s.rssKiB)),
          peer: median(nm.map((s) => s.rssKiB)),
        }),
      );
      notes.push(
        `${percent} % per packet (both directions, so ${Math.round(100 * (1 - (1 - percent / 100) ** 2))} % per round trip): ` +
          `reachgate measured loss ${rg.map((s) => s.loss).join(', ')} (per run).`,
      );
      samples[`reachgate ${percent} % wall ms`] = rg.map((s) => s.wallMs);
      samples[`nmap ${percent} % wall ms`] = nm.map((s) => s.wallMs);
    }
    return {
      title,
      setup:
        `Namespaces: client ${CLIENT}/24 <-veth-> server ${SERVER}/24; the server listens on ${OPEN}; its ` +
        `nftables drop \`tcp dport ${DROPPED}\` and \`numgen random mod 100 < N\` of TCP in and out. Both tools ` +
        `run in the client namespace; ${reps} runs each per level, alternating; medians.`,
      commands: { reachgate: `node bin/reachgate ${reachgateArgs.join(' ')}`, peer: `nmap ${nmapArgs.join(' ')}` },
      peer: 'nmap',
      rows,
      samples,
      notes,
    };
  } finally {
    listener?.kill('SIGKILL');
    deleteNamespace(client);
    deleteNamespace(server);
  }
}
