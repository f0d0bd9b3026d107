// Benchmark: all 65,535 TCP ports of 127.0.0.1 inside a fresh network namespace (lo up, nothing
// listening, so every port answers with a reset and nothing on the host is touched).
//
// reachgate at its default --concurrency (256) and at 1024 (an extra line), each alternated
// with nmap -sT, REPS times; medians of wall time and peak RSS (GNU time, or VmHWM polling).
// Every port must come back `closed`: an `open` here is a TCP self-connect (the kernel picked
// the probed port as the ephemeral source port), which is a wrong answer.
import { addNamespace, deleteNamespace, netnsUnavailable } from './lib/netns.mjs';
import { REACHGATE, ROOT, median, row, rotate, rssMethod, timed } from './lib/measure.mjs';
import { join } from 'node:path';

const PORTS = 65535;
const RUN_TIMEOUT_MS = 300_000;
const RSS_GOAL_MIB = 100;

export const title = 'TCP sweep of all 65,535 ports of 127.0.0.1 (all closed), in an empty namespace';

const reachgateArgs = (concurrency) => [
  'probe',
  'tcp',
  `127.0.0.1:1-${PORTS}`,
  '--expect',
  'blocked',
  '--json',
  ...(concurrency === 256 ? [] : ['--concurrency', String(concurrency)]),
];
const nmapArgs = ['-sT', '-Pn', '-n', `-p1-${PORTS}`, '127.0.0.1'];

function reachgateAnswer(run) {
  if (run.timedOut) return { wrong: `killed after ${RUN_TIMEOUT_MS} ms`, states: {} };
  let report;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    return { wrong: `no JSON on stdout (exit ${run.code}): ${run.stderr.trim().slice(0, 200)}`, states: {} };
  }
  const states = {};
  const notClosed = [];
  for (const result of report.results ?? []) {
    states[result.state] = (states[result.state] ?? 0) + 1;
    if (result.state !== 'closed') notClosed.push(`${result.target.port}: ${result.state}`);
  }
  const count = (report.results ?? []).length;
  if (count !== PORTS) return { wrong: `expected ${PORTS} results, got ${count}`, states, notClosed };
  return {
    wrong: notClosed.length ? `${notClosed.length} not closed (${notClosed.slice(0, 3).join(', ')})` : null,
    states,
    notClosed,
  };
}

function nmapAnswer(run) {
  if (run.timedOut) return { wrong: `killed after ${RUN_TIMEOUT_MS} ms` };
  if (run.code !== 0) return { wrong: `nmap exit ${run.code}: ${run.stderr.trim().slice(0, 200)}` };
  const closed = Number(/(\d+) closed tcp ports/.exec(run.stdout)?.[1] ?? 0);
  return {
    wrong: closed === PORTS ? null : `nmap reported ${closed} of ${PORTS} ports closed`,
    notClosedCount: PORTS - closed,
  };
}

export default async function tcpSweepLoopback({ reps = 5 } = {}) {
  const unavailable = netnsUnavailable();
  if (unavailable) return { title, skipped: `needs root and network namespaces: ${unavailable}` };
  const ns = addNamespace('l');
  try {
    const reachgate = (concurrency) => async () => {
      const run = await timed([process.execPath, REACHGATE, ...reachgateArgs(concurrency)], {
        ns,
        timeoutMs: RUN_TIMEOUT_MS,
      });
      const answer = reachgateAnswer(run);
      return { wallMs: run.timedOut ? NaN : run.wallMs, rssKiB: run.maxRssKiB, cpuMs: run.cpuMs, ...answer };
    };
    const nmap = async () => {
      const run = await timed(['nmap', ...nmapArgs], { ns, timeoutMs: RUN_TIMEOUT_MS });
      return { wallMs: run.timedOut ? NaN : run.wallMs, rssKiB: run.maxRssKiB, cpuMs: run.cpuMs, ...nmapAnswer(run) };
    };
    const [rg256, nmapA] = await rotate(reps, [reachgate(256), nmap]);
    const [rg1024, nmapB] = await rotate(reps, [reachgate(1024), nmap]);
    // Reference: the same sweep as a bare Node loop (net.Socket per port, no reachgate), 3 runs.
    const floorRuns = [];
    for (let i = 0; i < 3; i++) {
      const run = await timed(
        [process.execPath, join(ROOT, 'bench', 'tools', 'node-floor.mjs'), '127.0.0.1', '1', String(PORTS), '256'],
        { ns, timeoutMs: RUN_TIMEOUT_MS },
      );
      floorRuns.push({ wallMs: run.wallMs, rssKiB: run.maxRssKiB });
    }

    const med = (samples, key) => median(samples.map((s) => s[key]));
    const mib = (kib) => kib / 1024;
    const wrongRuns = (samples) => samples.filter((s) => s.wrong);
    const invalidOf = (samples) => {
      const wrong = wrongRuns(samples);
      return wrong.length ? `wrong answer in ${wrong.length}/${samples.length} runs: ${wrong[0].wrong}` : undefined;
    };
    const wrongPorts = (samples) => samples.reduce((sum, s) => sum + (s.notClosed?.length ?? 0), 0);
    const nmapAll = [...nmapA, ...nmapB];
    const pairedRatio = (a, b) => median(a.map((s, i) => s.wallMs / b[i].wallMs)).toFixed(2);
    const notes = [
      `Median of the per-repetition ratios (each reachgate run against the nmap run next to it, less ` +
        `sensitive to other load on the machine): --concurrency 256 ${pairedRatio(rg256, nmapA)}, --concurrency 1024 ${pairedRatio(rg1024, nmapB)}.`,
      `Peak RSS is measured with ${rssMethod}.`,
      `Reference, not a goal: the same sweep as a bare Node loop (bench/tools/node-floor.mjs, one ` +
        `net.Socket per port, concurrency 256, no results kept): median ` +
        `${Math.round(median(floorRuns.map((s) => s.wallMs)))} ms, peak RSS ` +
        `${mib(median(floorRuns.map((s) => s.rssKiB))).toFixed(1)} MiB (${floorRuns.length} runs).`,
      `Wrong answers: reachgate@256 reported ${wrongPorts(rg256)} non-closed ports over ${reps} ` +
        `runs, reachgate@1024 ${wrongPorts(rg1024)}; nmap ${wrongRuns(nmapAll).length} wrong runs ` +
        `of ${nmapAll.length}. In an empty namespace every port is closed; an \`open\` is a TCP ` +
        `self-connect (source port == probed port, which nmap detects and discards).`,
    ];
    const examples = [...rg256, ...rg1024].flatMap((s) => s.notClosed ?? []).slice(0, 5);
    if (examples.length) notes.push(`Examples of reachgate's wrong answers: ${examples.join('; ')}.`);
    return {
      title,
      setup:
        `A fresh namespace with only \`lo\` up; both tools run in it (\`ip netns exec\`), stdout to ` +
        `a file, under /usr/bin/time. Each reachgate setting alternates with its own nmap runs, ${reps} each; medians.`,
      commands: {
        reachgate: `node bin/reachgate ${reachgateArgs(256).join(' ')}   (extra line: --concurrency 1024)`,
        peer: `nmap ${nmapArgs.join(' ')}`,
      },
      peer: 'nmap',
      rows: [
        row({
          metric: 'wall time, --concurrency 256 (default)',
          unit: 'ms',
          reachgate: med(rg256, 'wallMs'),
          peer: med(nmapA, 'wallMs'),
          goal: 'ratio <= 1.0',
          goalRatio: 1.0,
          invalid: invalidOf(rg256),
        }),
        row({
          metric: 'peak RSS, --concurrency 256 (default)',
          unit: 'MiB',
          reachgate: mib(med(rg256, 'rssKiB')),
          peer: mib(med(nmapA, 'rssKiB')),
          goal: `<= ${RSS_GOAL_MIB} MiB`,
          goalMax: RSS_GOAL_MIB,
        }),
        row({
          metric: 'wall time, --concurrency 1024 (extra)',
          unit: 'ms',
          reachgate: med(rg1024, 'wallMs'),
          peer: med(nmapB, 'wallMs'),
          goal: 'ratio <= 1.0',
          goalRatio: 1.0,
          invalid: invalidOf(rg1024),
        }),
        row({
          metric: 'peak RSS, --concurrency 1024 (extra)',
          unit: 'MiB',
          reachgate: mib(med(rg1024, 'rssKiB')),
          peer: mib(med(nmapB, 'rssKiB')),
          goal: `<= ${RSS_GOAL_MIB} MiB`,
          goalMax: RSS_GOAL_MIB,
        }),
        row({
          metric: 'CPU time user+sys, --concurrency 256 (reference)',
          unit: 'ms',
          reachgate: med(rg256, 'cpuMs'),
          peer: med(nmapA, 'cpuMs'),
        }),
        row({
          metric: `ports wrongly reported not closed (sum over all ${2 * reps} runs of each)`,
          unit: 'count',
          reachgate: wrongPorts(rg256) + wrongPorts(rg1024),
          peer: nmapAll.reduce((sum, s) => sum + (s.notClosedCount ?? 0), 0),
          goal: '0',
          goalMax: 0,
        }),
      ],
      samples: {
        'reachgate@256 wall ms': rg256.map((s) => s.wallMs),
        'nmap (vs 256) wall ms': nmapA.map((s) => s.wallMs),
        'reachgate@1024 wall ms': rg1024.map((s) => s.wallMs),
        'nmap (vs 1024) wall ms': nmapB.map((s) => s.wallMs),
        'reachgate@256 peak RSS KiB': rg256.map((s) => s.rssKiB),
        'reachgate@1024 peak RSS KiB': rg1024.map((s) => s.rssKiB),
        'nmap peak RSS KiB': nmapAll.map((s) => s.rssKiB),
        'reachgate@256 CPU ms': rg256.map((s) => s.cpuMs),
        'reachgate@1024 CPU ms': rg1024.map((s) => s.cpuMs),
        'nmap CPU ms': nmapAll.map((s) => s.cpuMs),
      },
      notes,
    };
  } finally {
    deleteNamespace(ns);
  }
}
