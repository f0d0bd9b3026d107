// Benchmark: SYN mode (--scan syn) against nmap -sS, and --trace at 3 hops.
//
// 1. All 65,535 loopback ports of 127.0.0.1: reachgate --scan syn against nmap -sS; wall time and peak RSS.
// 2. 65,535 ports behind an nftables drop rule in a namespace (client 192.0.2.2 <-> server 192.0.2.10), 1 s
//    deadline, 1 retry: reachgate --scan syn --attempts 2 against nmap -sS -Pn -n --max-retries 1 --min-rate 20000.
// 3. --trace of one blocked row at 3 hops (client - router 1 - router 2 - server, drop on router 2): wall time
//    of the probe with --trace against the same probe without it.
// Each side runs REPS times, alternating; medians. A run whose answer is wrong does not count.
import { addNamespace, deleteNamespace, linkNamespaces, must, netnsUnavailable, nft } from './lib/netns.mjs';
import { REACHGATE, median, row, rotate, timed } from './lib/measure.mjs';

export const title = 'SYN mode (--scan syn) against nmap -sS; --trace at 3 hops';

const RUN_TIMEOUT_MS = 300_000;
const ALL = 65_535;

const loopbackArgs = ['probe', 'tcp', `127.0.0.1:1-${ALL}`, '--scan', 'syn', '--json'];
const loopbackNmap = ['-sS', '-n', '-Pn', '-p-', '127.0.0.1'];

const CLIENT = '192.0.2.2';
const SERVER = '192.0.2.10';
const dropArgs = [
  'probe',
  'tcp',
  `${SERVER}:1-${ALL}`,
  '--scan',
  'syn',
  '--timeout',
  '1s',
  '--attempts',
  '2',
  '--concurrency',
  '20000',
  '--rate',
  '20000/s',
  '--expect',
  'blocked',
  '--json',
];
const dropNmap = ['-sS', '-Pn', '-n', '--max-retries', '1', '--min-rate', '20000', '-p-', SERVER];

const TRACE_SERVER = '198.51.100.10';
const TRACE_PORT = 7202;
const traceArgs = ['probe', 'tcp', `${TRACE_SERVER}:${TRACE_PORT}`, '--timeout', '1s', '--expect', 'blocked', '--json'];

/** States of a RunReport, counted; or what was wrong with the run. */
function states(run) {
  if (run.timedOut) return { wrong: `killed after ${RUN_TIMEOUT_MS} ms` };
  try {
    const counts = {};
    for (const result of JSON.parse(run.stdout).results ?? []) counts[result.state] = (counts[result.state] ?? 0) + 1;
    return { counts };
  } catch {
    return { wrong: `no JSON on stdout (exit ${run.code}): ${run.stderr.trim().slice(0, 200)}` };
  }
}

function loopbackWrong(run) {
  const { counts, wrong } = states(run);
  if (wrong) return wrong;
  const answered = (counts.open ?? 0) + (counts.closed ?? 0);
  return answered === ALL ? null : `expected every port open or closed, got ${JSON.stringify(counts)}`;
}

function dropWrong(run) {
  const { counts, wrong } = states(run);
  if (wrong) return wrong;
  return counts.filtered === ALL ? null : `expected ${ALL} filtered, got ${JSON.stringify(counts)}`;
}

function nmapWrong(run, pattern) {
  if (run.timedOut) return `killed after ${RUN_TIMEOUT_MS} ms`;
  if (run.code !== 0) return `nmap exit ${run.code}: ${run.stderr.trim().slice(0, 200)}`;
  return pattern.test(run.stdout) ? null : `nmap did not report what was expected (${pattern})`;
}

/** What is wrong with a --json run of one dropped row, traced or not; null when nothing is. */
export function traceWrong(run, traced) {
  if (run.timedOut) return `killed after ${RUN_TIMEOUT_MS} ms`;
  try {
    const result = JSON.parse(run.stdout).results[0];
    if (result.state !== 'filtered') return `expected filtered, got ${result.state}`;
    const summary = result.evidence?.trace?.summary;
    if (traced && !/silently dropped after hop 2$/.test(summary ?? '')) return `trace said: ${summary}`;
    return null;
  } catch {
    return `no JSON on stdout (exit ${run.code})`;
  }
}

/** Measure both sides; returns medians and the first wrong answer of each. */
export async function compare(reps, sides) {
  const samples = await rotate(
    reps,
    sides.map(({ argv, ns, wrong }) => async () => {
      const run = await timed(argv, { ns, timeoutMs: RUN_TIMEOUT_MS });
      return { wallMs: run.wallMs, rssKiB: run.maxRssKiB, cpuMs: run.cpuMs, wrong: wrong(run) };
    }),
  );
  return samples.map((side) => ({
    wallMs: median(side.map((s) => s.wallMs)),
    rssKiB: median(side.map((s) => s.rssKiB)),
    cpuMs: median(side.map((s) => s.cpuMs)),
    walls: side.map((s) => Math.round(s.wallMs)),
    wrong: side.map((s) => s.wrong).filter(Boolean),
  }));
}

const invalidOf = (rg, peer) =>
  rg.wrong.length > 0
    ? `wrong answer in ${rg.wrong.length} runs: ${rg.wrong[0]}`
    : peer && peer.wrong.length > 0
      ? `the peer's answer was wrong: ${peer.wrong[0]}`
      : undefined;

/** client - router 1 - router 2 - server, routed both ways; router 2's forward chain has `rules` (nft lines). */
export function chain(rules) {
  const client = addNamespace('c');
  const router1 = addNamespace('r');
  const router2 = addNamespace('q');
  const server = addNamespace('s');
  const namespaces = [client, router1, router2, server];
  try {
    linkNamespaces(client, `${CLIENT}/24`, router1, '192.0.2.1/24');
    must('ip', ['-n', router1, 'link', 'set', 'veth0', 'name', 'left']);
    linkNamespaces(router1, '203.0.113.1/24', router2, '203.0.113.2/24');
    must('ip', ['-n', router2, 'link', 'set', 'veth0', 'name', 'left']);
    linkNamespaces(router2, '198.51.100.1/24', server, `${TRACE_SERVER}/24`);
    for (const router of [router1, router2]) {
      must('ip', ['netns', 'exec', router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv4.icmp_ratelimit=0']);
    }
    must('ip', ['-n', client, 'route', 'add', 'default', 'via', '192.0.2.1']);
    must('ip', ['-n', router1, 'route', 'add', 'default', 'via', '203.0.113.2']);
    must('ip', ['-n', router2, 'route', 'add', '192.0.2.0/24', 'via', '203.0.113.1']);
    must('ip', ['-n', server, 'route', 'add', 'default', 'via', '198.51.100.1']);
    nft(
      router2,
      [
        'table inet rgbench {',
        '  chain forward {',
        '    type filter hook forward priority 0; policy accept;',
        ...rules.map((rule) => `    ${rule}`),
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  } catch (error) {
    for (const ns of namespaces) deleteNamespace(ns);
    throw error;
  }
  return { client, namespaces };
}

export default async function synSweep({ reps = 3 } = {}) {
  const unavailable = netnsUnavailable();
  if (unavailable) return { title, skipped: `needs root and network namespaces: ${unavailable}` };
  const rows = [];
  const samples = {};
  const notes = [];

  const [rgLoop, nmLoop] = await compare(reps, [
    { argv: [process.execPath, REACHGATE, ...loopbackArgs], wrong: loopbackWrong },
    { argv: ['nmap', ...loopbackNmap], wrong: (run) => nmapWrong(run, /Nmap done: 1 IP address \(1 host up\)/) },
  ]);
  rows.push(
    row({
      metric: 'wall time, 65,535 loopback ports',
      unit: 'ms',
      reachgate: rgLoop.wallMs,
      peer: nmLoop.wallMs,
      goal: 'ratio <= 1.0',
      goalRatio: 1.0,
      invalid: invalidOf(rgLoop, nmLoop),
    }),
    row({
      metric: 'peak RSS, 65,535 loopback ports',
      unit: 'KiB',
      reachgate: rgLoop.rssKiB,
      peer: nmLoop.rssKiB,
      goal: '<= 100 MiB',
      goalMax: 100 * 1024,
    }),
    row({ metric: 'CPU user+sys, loopback (reference)', unit: 'ms', reachgate: rgLoop.cpuMs, peer: nmLoop.cpuMs }),
  );
  samples['loopback: reachgate wall ms'] = rgLoop.walls;
  samples['loopback: nmap -sS wall ms'] = nmLoop.walls;

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
        `    tcp dport 1-${ALL} drop`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const [rgDrop, nmDrop] = await compare(reps, [
      { argv: [process.execPath, REACHGATE, ...dropArgs], ns: client, wrong: dropWrong },
      { argv: ['nmap', ...dropNmap], ns: client, wrong: (run) => nmapWrong(run, /65535 (filtered|no-response)/) },
    ]);
    rows.push(
      row({
        metric: 'wall time, 65,535 dropped ports, 1 s, 1 retry',
        unit: 'ms',
        reachgate: rgDrop.wallMs,
        peer: nmDrop.wallMs,
        goal: 'ratio <= 1.2',
        goalRatio: 1.2,
        invalid: invalidOf(rgDrop, nmDrop),
      }),
      row({
        metric: 'peak RSS, dropped ports (reference)',
        unit: 'KiB',
        reachgate: rgDrop.rssKiB,
        peer: nmDrop.rssKiB,
      }),
    );
    samples['drop: reachgate wall ms'] = rgDrop.walls;
    samples['drop: nmap -sS wall ms'] = nmDrop.walls;
    if (rgDrop.wrong.length > 0) notes.push(`reachgate wrong answers (drop): ${[...new Set(rgDrop.wrong)].join('; ')}`);
  } finally {
    deleteNamespace(client);
    deleteNamespace(server);
  }

  const lab = chain([`tcp dport ${TRACE_PORT} drop`]);
  try {
    const [traced, plain] = await compare(Math.max(reps, 5), [
      {
        argv: [process.execPath, REACHGATE, ...traceArgs, '--trace'],
        ns: lab.client,
        wrong: (r) => traceWrong(r, true),
      },
      { argv: [process.execPath, REACHGATE, ...traceArgs], ns: lab.client, wrong: (r) => traceWrong(r, false) },
    ]);
    rows.push(
      row({
        metric: 'wall time of one dropped row with --trace at 3 hops (peer: the same probe without --trace)',
        unit: 'ms',
        reachgate: traced.wallMs,
        peer: plain.wallMs,
        goal: 'ratio <= 1.1 (the trace runs inside the deadline)',
        goalRatio: 1.1,
        invalid: invalidOf(traced, plain),
      }),
    );
    samples['trace: with --trace wall ms'] = traced.walls;
    samples['trace: without --trace wall ms'] = plain.walls;
  } finally {
    for (const ns of lab.namespaces) deleteNamespace(ns);
  }
  if (rgLoop.wrong.length > 0)
    notes.push(`reachgate wrong answers (loopback): ${[...new Set(rgLoop.wrong)].join('; ')}`);

  return {
    title,
    setup:
      'Loopback: every port of 127.0.0.1 on the host (listeners as the machine has them). Drop: namespaces client ' +
      `${CLIENT}/24 <-veth-> server ${SERVER}/24, server nftables input \`tcp dport 1-${ALL} drop\`. Trace: ` +
      'client 192.0.2.2 - router 192.0.2.1 / 203.0.113.1 - router 203.0.113.2 / 198.51.100.1 - server ' +
      `${TRACE_SERVER}, router 2 forward chain \`tcp dport ${TRACE_PORT} drop\`, ICMP rate limits off on the routers. ` +
      `Each side ${reps} runs (trace: at least 5), alternating; median; stdout to a file; /usr/bin/time for peak RSS.`,
    commands: {
      reachgate: [loopbackArgs, dropArgs, [...traceArgs, '--trace']]
        .map((args) => `node bin/reachgate ${args.join(' ')}`)
        .join(' ; '),
      peer: [
        `nmap ${loopbackNmap.join(' ')}`,
        `nmap ${dropNmap.join(' ')}`,
        `node bin/reachgate ${traceArgs.join(' ')}`,
      ].join(' ; '),
    },
    peer: 'nmap -sS',
    rows,
    samples,
    notes,
  };
}
