// Benchmark: 1,000 TCP ports behind an nftables `drop` rule, 1 s deadline, no retries.
//
// Two namespaces joined by a veth pair: client 192.0.2.2/24 <-> server 192.0.2.10/24; the
// server's nftables input chain drops TCP to ports 20000-20999. reachgate and nmap run in the
// client namespace, alternating, REPS times each; the figure is the median wall time.
// A run whose answer is wrong (not all 1000 filtered) does not count.
import { addNamespace, deleteNamespace, linkNamespaces, netnsUnavailable, nft } from './lib/netns.mjs';
import { REACHGATE, median, row, rotate, timed } from './lib/measure.mjs';

const CLIENT = '192.0.2.2';
const SERVER = '192.0.2.10';
const FIRST = 20000;
const LAST = 20999;
const COUNT = LAST - FIRST + 1;
const RUN_TIMEOUT_MS = 60_000;

export const title = 'TCP, 1,000 ports silently dropped (nftables drop), 1 s deadline, no retries';

export const reachgateArgs = [
  'probe',
  'tcp',
  `${SERVER}:${FIRST}-${LAST}`,
  '--timeout',
  '1s',
  '--attempts',
  '1',
  '--concurrency',
  '1000',
  '--expect',
  'blocked',
  '--json',
];
export const nmapArgs = [
  '-sT',
  '-Pn',
  '-n',
  '--max-retries',
  '0',
  '--min-parallelism',
  '1000',
  '--max-rtt-timeout',
  '1000ms',
  '-p',
  `${FIRST}-${LAST}`,
  SERVER,
];

/** Check reachgate's RunReport: every port filtered. Returns null or what was wrong. */
function reachgateWrong(run) {
  if (run.timedOut) return `killed after ${RUN_TIMEOUT_MS} ms`;
  let report;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    return `no JSON on stdout (exit ${run.code}): ${run.stderr.trim().slice(0, 200)}`;
  }
  const states = {};
  for (const result of report.results ?? []) states[result.state] = (states[result.state] ?? 0) + 1;
  if ((report.results ?? []).length !== COUNT || states.filtered !== COUNT)
    return `expected ${COUNT} filtered, got ${JSON.stringify(states)}`;
  return null;
}

function nmapWrong(run) {
  if (run.timedOut) return `killed after ${RUN_TIMEOUT_MS} ms`;
  if (run.code !== 0) return `nmap exit ${run.code}: ${run.stderr.trim().slice(0, 200)}`;
  if (!new RegExp(`${COUNT} filtered tcp ports`).test(run.stdout)) return `nmap did not report ${COUNT} filtered ports`;
  return null;
}

export default async function tcpDrop({ reps = 5 } = {}) {
  const unavailable = netnsUnavailable();
  if (unavailable) return { title, skipped: `needs root and network namespaces: ${unavailable}` };
  const client = addNamespace('c');
  const server = addNamespace('s');
  try {
    linkNamespaces(client, `${CLIENT}/24`, server, `${SERVER}/24`);
    nft(
      server,
      [
        'table inet rgbench {',
        '  chain input {',
        '    type filter hook input priority 0; policy accept;',
        `    tcp dport ${FIRST}-${LAST} drop`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const [rg, nm] = await rotate(reps, [
      async () => {
        const run = await timed([process.execPath, REACHGATE, ...reachgateArgs], {
          ns: client,
          timeoutMs: RUN_TIMEOUT_MS,
        });
        return { wallMs: run.wallMs, rssKiB: run.maxRssKiB, cpuMs: run.cpuMs, wrong: reachgateWrong(run) };
      },
      async () => {
        const run = await timed(['nmap', ...nmapArgs], { ns: client, timeoutMs: RUN_TIMEOUT_MS });
        return { wallMs: run.wallMs, rssKiB: run.maxRssKiB, cpuMs: run.cpuMs, wrong: nmapWrong(run) };
      },
    ]);
    const rgWrong = rg.map((s) => s.wrong).filter(Boolean);
    const nmWrong = nm.map((s) => s.wrong).filter(Boolean);
    const rgMs = median(rg.map((s) => s.wallMs));
    const nmMs = median(nm.map((s) => s.wallMs));
    const rgRss = median(rg.map((s) => s.rssKiB));
    const nmRss = median(nm.map((s) => s.rssKiB));
    const invalid =
      rgWrong.length > 0
        ? `wrong answer in ${rgWrong.length}/${reps} runs: ${rgWrong[0]}`
        : nmWrong.length > 0
          ? `nmap's answer was wrong: ${nmWrong[0]}`
          : undefined;
    return {
      title,
      setup:
        `Namespaces: client ${CLIENT}/24 <-veth-> server ${SERVER}/24; server nftables: \`tcp dport ` +
        `${FIRST}-${LAST} drop\`. Both tools run in the client namespace (\`ip netns exec\`), stdout ` +
        `to a file, wrapped in /usr/bin/time for peak RSS. ${reps} runs each, alternating which goes first; median.`,
      commands: { reachgate: `node bin/reachgate ${reachgateArgs.join(' ')}`, peer: `nmap ${nmapArgs.join(' ')}` },
      peer: 'nmap',
      rows: [
        row({
          metric: 'wall time',
          unit: 'ms',
          reachgate: rgMs,
          peer: nmMs,
          goal: 'ratio <= 1.1',
          goalRatio: 1.1,
          invalid,
        }),
        row({ metric: 'peak RSS (reference)', unit: 'KiB', reachgate: rgRss, peer: nmRss }),
        row({
          metric: 'CPU time user+sys (reference)',
          unit: 'ms',
          reachgate: median(rg.map((s) => s.cpuMs)),
          peer: median(nm.map((s) => s.cpuMs)),
        }),
      ],
      samples: { 'reachgate wall ms': rg.map((s) => s.wallMs), 'nmap wall ms': nm.map((s) => s.wallMs) },
      notes: [
        `Median of the per-repetition ratios (each reachgate run against the nmap run next to it): ` +
          `${median(rg.map((s, i) => s.wallMs / nm[i].wallMs)).toFixed(2)}.`,
        `Correctness: reachgate reported all ${COUNT} ports \`filtered\` in ${reps - rgWrong.length}/${reps} ` +
          `runs; nmap reported ${COUNT} filtered in ${reps - nmWrong.length}/${reps} runs.`,
        ...(rgWrong.length ? [`reachgate wrong answers: ${[...new Set(rgWrong)].join('; ')}`] : []),
      ],
    };
  } finally {
    deleteNamespace(client);
    deleteNamespace(server);
  }
}
