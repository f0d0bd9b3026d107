// Benchmark: a full workstation acceptance run (`reachgate run tightgate/workstation`) behind a
// drop rule, 1 s deadline: the common sweep of tightgate (about 1,200 ports), no-direct-internet
// to two canaries (TCP, DNS, NTP, ICMP echo) and the viewer row, the way an engineer runs it.
//
// Three namespaces: workstation 192.0.2.10/24 - router (nftables) - far end holding tightgate
// 198.51.100.10 (a TLS listener on 5900) and the canaries 203.0.113.80/.81. The router lets the
// workstation reach tightgate:5900 only and silently drops everything else, so every other probe
// waits out its whole deadline. Goal (issue 4): wall time < 1.5 x deadline x ceil(probes / concurrency).
// A run whose answer is wrong (not exit 0, or a probe that did not pass) does not count.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNamespace, assertSafeAddress, deleteNamespace, must, netnsUnavailable, nft } from './lib/netns.mjs';
import { REACHGATE, median, row, timed } from './lib/measure.mjs';

const WORKSTATION = '192.0.2.10';
export const TIGHTGATE = '198.51.100.10';
const CANARIES = ['203.0.113.80', '203.0.113.81'];
const ROUTER = { workstation: '192.0.2.1', far: '198.51.100.1', internet: '203.0.113.1' };
const DEADLINE_MS = 1000;
/** reachgate's default --concurrency, which an acceptance run uses. */
const CONCURRENCY = 256;
const RUN_TIMEOUT_MS = 120_000;
const READY_TIMEOUT_MS = 10_000;

export const title = 'Workstation acceptance run: tightgate/workstation, common sweep behind a drop rule, 1 s deadline';

/** The site file: tightgate and the canaries, 1 s deadline, the given sweep set. */
export const siteYaml = (sweep) => `site: bench
features: []
sweep: ${sweep}
hosts:
  tightgate: [${TIGHTGATE}]
  internet-canaries: [${CANARIES.join(', ')}]
settings:
  timeout: 1s
`;

/** `reachgate run` of a workstation profile as the benchmark's agent, JSON out. */
export const reachgateArgs = (siteFile, profile = 'tightgate/workstation') => [
  'run',
  profile,
  '--site',
  siteFile,
  '--format',
  'json',
  '--agent',
  'bench-workstation',
];

// The viewer: a TLS listener on tightgate:5900 that greets like an RFB server; ends itself after 10 minutes.
const VIEWER = `
const tls = require('node:tls'), fs = require('node:fs');
const [address, cert, key] = process.argv.slice(1);
setTimeout(() => process.exit(0), 600000);
const greet = (socket) => { socket.on('error', () => {}); socket.write('RFB 003.008\\n'); socket.resume(); };
tls.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, greet)
  .listen(5900, address, () => console.log('ready'));
`;

/** Check the RunReport: exit 0, every probe passed, the viewer open, everything else filtered. */
export function answerOf(run) {
  if (run.timedOut) return { wrong: `killed after ${RUN_TIMEOUT_MS} ms` };
  let report;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    return { wrong: `no JSON on stdout (exit ${run.code}): ${run.stderr.trim().slice(0, 200)}` };
  }
  const results = report.results ?? [];
  const states = {};
  for (const result of results) states[result.state] = (states[result.state] ?? 0) + 1;
  const failed = results.filter((result) => result.verdict !== 'pass');
  const viewer = results.find((result) => result.row === 'viewer');
  let wrong = null;
  if (run.code !== 0) wrong = `exit ${run.code}`;
  if (failed.length > 0)
    wrong = `${failed.length} probes did not pass, e.g. ${failed[0].id}: ${failed[0].state}: ${failed[0].reason}`;
  else if (viewer?.state !== 'open') wrong = `the viewer row is ${viewer?.state ?? 'missing'}`;
  else if (states.filtered !== results.length - 1)
    wrong = `expected every probe but the viewer filtered, got ${JSON.stringify(states)}`;
  return { wrong, probes: results.length, states };
}

/** Workstation - router - far end, the router dropping all but workstation -> tightgate:5900. */
export function buildTopology() {
  const workstation = addNamespace('w');
  const router = addNamespace('r');
  const far = addNamespace('f');
  const namespaces = [workstation, router, far];
  try {
    must('ip', ['netns', 'exec', router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    // Two links on the router: linkNamespaces names both ends veth0, so the links are made here.
    for (const [name, peer] of [
      ['ws', workstation],
      ['far', far],
    ]) {
      must('ip', ['-n', router, 'link', 'add', name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
      must('ip', ['-n', router, 'link', 'set', name, 'up']);
      must('ip', ['-n', peer, 'link', 'set', 'eth0', 'up']);
    }
    const address = (ns, dev, cidr) => must('ip', ['-n', ns, 'addr', 'add', assertSafeAddress(cidr), 'dev', dev]);
    address(router, 'ws', `${ROUTER.workstation}/24`);
    address(router, 'far', `${ROUTER.far}/24`);
    address(router, 'far', `${ROUTER.internet}/24`);
    address(workstation, 'eth0', `${WORKSTATION}/24`);
    address(far, 'eth0', `${TIGHTGATE}/24`);
    for (const canary of CANARIES) address(far, 'eth0', `${canary}/24`);
    must('ip', ['-n', workstation, 'route', 'add', 'default', 'via', ROUTER.workstation]);
    must('ip', ['-n', far, 'route', 'add', 'default', 'via', ROUTER.far]);
    nft(
      router,
      [
        'table ip rgbench {',
        '  chain forward {',
        '    type filter hook forward priority filter; policy drop;',
        '    ct state established,related accept',
        `    ip saddr ${WORKSTATION} ip daddr ${TIGHTGATE} tcp dport 5900 accept`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    return { workstation, far, namespaces };
  } catch (error) {
    for (const ns of namespaces) deleteNamespace(ns);
    throw error;
  }
}

/** Start the TLS viewer in the far namespace; resolves with the child once it listens. */
export function startViewer(ns, dir) {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  must('openssl', [
    'req',
    '-x509',
    '-nodes',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=tightgate.bench.test',
    '-addext',
    `subjectAltName=IP:${TIGHTGATE}`,
  ]);
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', VIEWER, TIGHTGATE, cert, key], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`the viewer listener was not ready after ${READY_TIMEOUT_MS} ms: ${output}`)),
      READY_TIMEOUT_MS,
    );
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      output += chunk;
      if (output.includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      output += chunk;
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the viewer listener exited (${code}): ${output}`));
    });
  });
}

/** Measure `reps` full workstation acceptance runs; returns the figures for BENCHMARKS.md. */
export async function run({ reps = 3 } = {}) {
  const unavailable = netnsUnavailable();
  if (unavailable) return { title, skipped: `needs root and network namespaces: ${unavailable}` };
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-bench-acceptance-'));
  const siteFile = join(dir, 'site.yaml');
  writeFileSync(siteFile, siteYaml('common'));
  const { workstation, far, namespaces } = buildTopology();
  let viewer;
  try {
    viewer = await startViewer(far, dir);
    const samples = [];
    for (let i = 0; i < reps; i++) {
      const measured = await timed([process.execPath, REACHGATE, ...reachgateArgs(siteFile)], {
        ns: workstation,
        timeoutMs: RUN_TIMEOUT_MS,
      });
      samples.push({
        wallMs: measured.timedOut ? NaN : measured.wallMs,
        rssKiB: measured.maxRssKiB,
        cpuMs: measured.cpuMs,
        ...answerOf(measured),
      });
    }
    const probes = samples.find((sample) => sample.probes)?.probes ?? NaN;
    const waves = Math.ceil(probes / CONCURRENCY);
    const budgetMs = 1.5 * DEADLINE_MS * waves;
    const wrong = samples.filter((sample) => sample.wrong);
    const invalid = wrong.length > 0 ? `wrong answer in ${wrong.length}/${reps} runs: ${wrong[0].wrong}` : undefined;
    const wallMs = median(samples.map((sample) => sample.wallMs));
    return {
      title,
      setup:
        `Namespaces: workstation ${WORKSTATION}/24 <-veth-> router <-veth-> far end (tightgate ` +
        `${TIGHTGATE} with a TLS listener on 5900; canaries ${CANARIES.join(', ')}). Router nftables: ` +
        `forward policy drop, only workstation -> ${TIGHTGATE}:5900 accepted. Site: no features, ` +
        `\`sweep: common\`, \`timeout: 1s\`. reachgate runs in the workstation namespace at its ` +
        `default --concurrency ${CONCURRENCY}, stdout to a file; ${reps} runs; median wall time from spawn to exit (Node start-up included).`,
      commands: {
        reachgate: `node bin/reachgate ${reachgateArgs('site.yaml').join(' ')}`,
        peer: `1.5 x ${DEADLINE_MS / 1000} s x ceil(${probes} probes / ${CONCURRENCY})`,
      },
      peer: 'budget',
      rows: [
        row({
          metric: 'wall time, full acceptance run',
          unit: 'ms',
          reachgate: wallMs,
          peer: budgetMs,
          goal: `< 1.5 x 1 s x ceil(${probes} / ${CONCURRENCY}) = ${(budgetMs / 1000).toFixed(1)} s`,
          goalMax: budgetMs,
          invalid,
        }),
        row({ metric: 'probes in the plan (reference)', unit: 'count', reachgate: probes }),
        row({ metric: 'peak RSS (reference)', unit: 'KiB', reachgate: median(samples.map((sample) => sample.rssKiB)) }),
        row({
          metric: 'CPU time user+sys (reference)',
          unit: 'ms',
          reachgate: median(samples.map((sample) => sample.cpuMs)),
        }),
      ],
      samples: { 'reachgate wall ms': samples.map((sample) => sample.wallMs) },
      notes: [
        `Floor: ${waves} waves of ${CONCURRENCY} probes, each waiting out the ${DEADLINE_MS / 1000} ` +
          `s deadline, is ${waves} s; median ${(wallMs / 1000).toFixed(2)} s is ${(wallMs / (waves * DEADLINE_MS)).toFixed(2)}x that floor.`,
        `Correctness: every probe passed (viewer open, the other ${Number.isFinite(probes) ? probes - 1 : '?'} ` +
          `filtered) in ${reps - wrong.length}/${reps} runs.`,
        ...(wrong.length ? [`Wrong answers: ${[...new Set(wrong.map((sample) => sample.wrong))].join('; ')}`] : []),
      ],
    };
  } finally {
    viewer?.kill('SIGKILL');
    for (const ns of namespaces) deleteNamespace(ns);
    rmSync(dir, { recursive: true, force: true });
  }
}

export default run;
