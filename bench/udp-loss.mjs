// Benchmark: accuracy of UDP application probes under random packet loss, reachgate beside nmap.
//
// Three namespaces: client 192.0.2.2/24 <-> router (192.0.2.1, 198.51.100.1, forwarding) <->
// server 198.51.100.10/24 (and 198.51.100.20, on which nothing listens). On the server: dnsmasq
// (DNS, 53), chronyd with `local stratum 8` (NTP, 123), snmpd v2c community `public` (SNMP, 161),
// bound to 198.51.100.10 only. The router's nftables forward chain drops at random
// (`numgen random mod 100 < N drop`) the requests to the service's UDP port (and, in one variant,
// the replies from it too), and drops everything to 198.51.100.20 (the silent target).
// For every protocol and loss level: 100 probes with 4 attempts and a 2 s deadline from reachgate
// (one invocation, the same target 100 times, --concurrency 10) and 100 nmap runs
// (`nmap -sU -Pn -n -p PORT --max-retries 3`, 10 at a time), alternating which tool goes first.
// Figures: the share of the 100 that came back `open`, and the median time per probe.
// Network safety: traffic goes only to the namespaces created here (documentation addresses).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNamespace, assertSafeAddress, deleteNamespace, must, netnsUnavailable, nft } from './lib/netns.mjs';
import { REACHGATE, median, row, timed } from './lib/measure.mjs';

const CLIENT = '192.0.2.2';
const ROUTER_CLIENT_SIDE = '192.0.2.1';
const ROUTER_SERVER_SIDE = '198.51.100.1';
const SERVER = '198.51.100.10';
const SILENT = '198.51.100.20';
const PROBES = 100;
const ATTEMPTS = 4;
const DEADLINE_MS = 2000;
const RG_CONCURRENCY = 10;
const NMAP_CONCURRENCY = 10;
const RG_RUN_TIMEOUT_MS = 120_000;
const NMAP_RUN_TIMEOUT_MS = 30_000;
const DAEMON_READY_MS = 10_000;
/** The whole benchmark gives up (and tears down) past this, whatever is left. */
const BUDGET_MS = 12 * 60_000;

export const title =
  `UDP under random loss: DNS, NTP and SNMP, ${PROBES} probes each, ${ATTEMPTS} attempts, ` +
  `2 s deadline, share that comes back open`;

const PROTOCOLS = [
  { name: 'DNS', kind: 'dns', port: 53, daemon: 'dnsmasq', args: ['--name', 'rg.test', '--expect-address', SERVER] },
  { name: 'NTP', kind: 'ntp', port: 123, daemon: 'chronyd (local stratum 8)', args: [] },
  { name: 'SNMP', kind: 'snmp', port: 161, daemon: 'snmpd v2c', args: ['--community', 'public'] },
];

const CONDITIONS = [
  { label: '0 % loss', target: SERVER, requestLoss: 0, replyLoss: 0 },
  { label: '10 % request loss', target: SERVER, requestLoss: 10, replyLoss: 0 },
  { label: '30 % request loss', target: SERVER, requestLoss: 30, replyLoss: 0 },
  { label: '30 % loss both ways', target: SERVER, requestLoss: 30, replyLoss: 30 },
  { label: 'silent port (nothing listening, drop rule)', target: SILENT, requestLoss: 0, replyLoss: 0, silent: true },
];

/** When attempt i of n is sent (the exchange engine's schedule, src/net/udp-exchange.ts sendTimes). */
function sendTime(attempt, attempts, timeoutMs) {
  return (timeoutMs * (2 ** attempt - 1)) / 2 ** attempts;
}

function reachgateArgs(protocol, target) {
  return [
    'probe',
    protocol.kind,
    ...Array(PROBES).fill(target),
    ...protocol.args,
    '--attempts',
    String(ATTEMPTS),
    '--timeout',
    `${DEADLINE_MS / 1000}s`,
    '--concurrency',
    String(RG_CONCURRENCY),
    '--json',
  ];
}

function nmapArgs(protocol, target) {
  return ['-sU', '-Pn', '-n', '-p', String(protocol.port), '--max-retries', String(ATTEMPTS - 1), '-oG', '-', target];
}

// ---------------------------------------------------------------------------------------------
// Topology and daemons

/** client <-> router <-> server, with routes through the router; documentation addresses only. */
function buildTopology(client, router, server) {
  const tmpA = `rgb${process.pid}ua`;
  const tmpB = `rgb${process.pid}ub`;
  for (const address of [CLIENT, ROUTER_CLIENT_SIDE, ROUTER_SERVER_SIDE, SERVER, SILENT]) assertSafeAddress(address);
  must('ip', ['-n', client, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', tmpA, 'netns', router]);
  must('ip', ['-n', router, 'link', 'set', tmpA, 'name', 'to-client']);
  must('ip', ['-n', server, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', tmpB, 'netns', router]);
  must('ip', ['-n', router, 'link', 'set', tmpB, 'name', 'to-server']);
  must('ip', ['-n', client, 'addr', 'add', `${CLIENT}/24`, 'dev', 'eth0']);
  must('ip', ['-n', router, 'addr', 'add', `${ROUTER_CLIENT_SIDE}/24`, 'dev', 'to-client']);
  must('ip', ['-n', router, 'addr', 'add', `${ROUTER_SERVER_SIDE}/24`, 'dev', 'to-server']);
  must('ip', ['-n', server, 'addr', 'add', `${SERVER}/24`, 'dev', 'eth0']);
  must('ip', ['-n', server, 'addr', 'add', `${SILENT}/24`, 'dev', 'eth0']);
  for (const [ns, dev] of [
    [client, 'eth0'],
    [router, 'to-client'],
    [router, 'to-server'],
    [server, 'eth0'],
  ])
    must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  must('ip', ['-n', client, 'route', 'add', 'default', 'via', ROUTER_CLIENT_SIDE]);
  must('ip', ['-n', server, 'route', 'add', 'default', 'via', ROUTER_SERVER_SIDE]);
  must('ip', ['netns', 'exec', router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  // The silent target: whatever goes to it is dropped on the router (nothing listens there either).
  nft(
    router,
    [
      'table inet rgbase {',
      '  chain forward {',
      '    type filter hook forward priority 0; policy accept;',
      `    ip daddr ${SILENT} drop`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
}

/** Start a daemon in the foreground inside `ns`; resolves with its PID once it printed `ready`. */
function startDaemon(ns, argv, ready, { env } = {}) {
  return new Promise((resolve, reject) => {
    // `ip netns exec` execs the command: the child's PID is the daemon's.
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ? { ...process.env, ...env } : process.env,
    });
    let output = '';
    let done = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) {
        stopDaemon(child);
        reject(error);
      } else resolve(child);
    };
    const timer = setTimeout(
      () => finish(new Error(`${argv[0]} not ready after ${DAEMON_READY_MS} ms: ${output.slice(-300)}`)),
      DAEMON_READY_MS,
    );
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8').on('data', (chunk) => {
        // Keep draining after it is ready, so a chatty daemon never blocks on a full pipe.
        if (done) return;
        output += chunk;
        if (output.includes(ready)) finish();
      });
    }
    child.once('error', (error) => finish(error));
    child.once('exit', (code, signal) =>
      finish(new Error(`${argv[0]} exited (${code ?? signal}) before it was ready: ${output.slice(-300)}`)),
    );
  });
}

/** SIGTERM the daemon by its PID; SIGKILL after 3 s. */
async function stopDaemon(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, 3000);
  await exited;
  clearTimeout(timer);
}

async function startDaemons(server, dir) {
  const daemons = [];
  try {
    daemons.push(
      await startDaemon(
        server,
        [
          'dnsmasq',
          '--no-daemon',
          '--conf-file=/dev/null',
          '--no-resolv',
          '--no-hosts',
          '--no-poll',
          '--log-facility=-',
          `--listen-address=${SERVER}`,
          '--bind-interfaces',
          '--port=53',
          '--local=/test/',
          `--host-record=rg.test,${SERVER}`,
        ],
        'started, version',
      ),
    );
    const chronyConf = join(dir, 'chrony.conf');
    writeFileSync(
      chronyConf,
      [
        'port 123',
        `bindaddress ${SERVER}`,
        'allow',
        'local stratum 8',
        `driftfile ${join(dir, 'chrony.drift')}`,
        `pidfile ${join(dir, 'chronyd.pid')}`,
        'cmdport 0',
        'bindcmdaddress /',
        '',
      ].join('\n'),
    );
    // -d: foreground, log to stderr; -x: never touch the system clock.
    daemons.push(
      await startDaemon(
        server,
        ['chronyd', '-d', '-x', '-u', 'root', '-f', chronyConf],
        'Running with root privileges',
      ),
    );
    const snmpConf = join(dir, 'snmpd.conf');
    writeFileSync(snmpConf, ['rocommunity public default', ''].join('\n'));
    daemons.push(
      await startDaemon(
        server,
        [
          'snmpd',
          '-f',
          '-Lo',
          '-C',
          '-M',
          join(dir, 'no-mibs'),
          '-m',
          '',
          '-c',
          snmpConf,
          '-p',
          join(dir, 'snmpd.pid'),
          `udp:${SERVER}:161`,
        ],
        'NET-SNMP version',
        { env: { SNMP_PERSISTENT_DIR: join(dir, 'snmp-state') } },
      ),
    );
    return daemons;
  } catch (error) {
    for (const daemon of daemons) await stopDaemon(daemon);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Loss rules and their counters

/** (Re)load the loss table: fresh counters for every tool run. */
function setLoss(router, port, condition) {
  const { target, requestLoss, replyLoss } = condition;
  const request = `ip daddr ${target} udp dport ${port}`;
  const reply = `ip saddr ${target} udp sport ${port}`;
  nft(
    router,
    [
      // Create-if-missing, delete, define: one atomic transaction whether or not it existed.
      'table inet rgloss',
      'delete table inet rgloss',
      'table inet rgloss {',
      '  counter requests { }',
      '  counter requests_dropped { }',
      '  counter replies { }',
      '  counter replies_dropped { }',
      '  chain forward {',
      '    type filter hook forward priority -10; policy accept;',
      `    ${request} counter name "requests"`,
      ...(requestLoss > 0
        ? [`    ${request} numgen random mod 100 < ${requestLoss} counter name "requests_dropped" drop`]
        : []),
      `    ${reply} counter name "replies"`,
      ...(replyLoss > 0
        ? [`    ${reply} numgen random mod 100 < ${replyLoss} counter name "replies_dropped" drop`]
        : []),
      '  }',
      '}',
      '',
    ].join('\n'),
  );
}

function readCounters(router) {
  const json = JSON.parse(must('ip', ['netns', 'exec', router, 'nft', '-j', 'list', 'table', 'inet', 'rgloss']));
  const counters = {};
  for (const item of json.nftables ?? []) if (item.counter) counters[item.counter.name] = item.counter.packets;
  return counters;
}

// ---------------------------------------------------------------------------------------------
// The two sides

/** One reachgate invocation with the same target PROBES times. */
async function runReachgate(client, protocol, target) {
  const run = await timed([process.execPath, REACHGATE, ...reachgateArgs(protocol, target)], {
    ns: client,
    timeoutMs: RG_RUN_TIMEOUT_MS,
    rss: false,
  });
  if (run.timedOut)
    return { invalid: `reachgate killed after ${RG_RUN_TIMEOUT_MS} ms`, probes: [], wallMs: run.wallMs };
  let report;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    return {
      invalid: `reachgate printed no JSON (exit ${run.code}): ${run.stderr.trim().slice(0, 200)}`,
      probes: [],
      wallMs: run.wallMs,
    };
  }
  const probes = (report.results ?? []).map((result) => {
    const open = result.state === 'open';
    // Time from the probe's start: the answered attempt's send time plus its RTT. On this path (well
    // under a millisecond) a reply always comes before the next attempt goes, so the answered attempt
    // is the last one sent. A probe that did not answer took the whole deadline.
    const ms =
      open && Number.isFinite(result.rtt_ms)
        ? sendTime(result.attempts - 1, ATTEMPTS, DEADLINE_MS) + result.rtt_ms
        : DEADLINE_MS;
    return { state: result.state, open, ms, attempts: result.attempts, verdict: result.verdict, reason: result.reason };
  });
  const invalid = probes.length === PROBES ? undefined : `reachgate reported ${probes.length} results, not ${PROBES}`;
  return { probes, wallMs: run.wallMs, invalid };
}

/** One nmap run: its state for the port and the time it says it scanned for. */
async function runNmapOnce(client, protocol, target) {
  const run = await timed(['nmap', ...nmapArgs(protocol, target)], {
    ns: client,
    timeoutMs: NMAP_RUN_TIMEOUT_MS,
    rss: false,
  });
  if (run.timedOut) return { state: 'killed', open: false, ms: NMAP_RUN_TIMEOUT_MS, wallMs: run.wallMs };
  const state =
    new RegExp(`Ports: ${protocol.port}/([^/]+)/udp`).exec(run.stdout)?.[1] ?? `no port line (exit ${run.code})`;
  const scanned = /scanned in ([\d.]+) seconds/.exec(run.stdout);
  return { state, open: state === 'open', ms: scanned ? Number(scanned[1]) * 1000 : run.wallMs, wallMs: run.wallMs };
}

/** PROBES nmap runs, NMAP_CONCURRENCY at a time (a bounded pool: PROBES runs, each bounded in time). */
async function runNmap(client, protocol, target) {
  const probes = new Array(PROBES);
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < PROBES) {
      const i = next++;
      probes[i] = await runNmapOnce(client, protocol, target);
    }
  };
  await Promise.all(Array.from({ length: NMAP_CONCURRENCY }, worker));
  return { probes, wallMs: performance.now() - started };
}

// ---------------------------------------------------------------------------------------------

function tally(probes, key = 'state') {
  const counts = {};
  for (const probe of probes) counts[probe[key]] = (counts[probe[key]] ?? 0) + 1;
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

/** ln(k!) for k up to 2 * PROBES. */
const LN_FACTORIAL = [0];
for (let k = 1; k <= 2 * PROBES; k++) LN_FACTORIAL[k] = LN_FACTORIAL[k - 1] + Math.log(k);
const lnChoose = (n, k) => LN_FACTORIAL[n] - LN_FACTORIAL[k] - LN_FACTORIAL[n - k];

/**
 * One-sided Fisher exact test: the chance of reachgate getting `a` or fewer opens of PROBES when both
 * tools had the same success rate and together got `a + b` opens of 2 * PROBES. A small value means
 * reachgate really finds the service less often; a large one, that the difference is chance.
 */
function fisherLower(a, b) {
  const total = a + b;
  const lnAll = lnChoose(2 * PROBES, PROBES);
  let p = 0;
  for (let x = Math.max(0, total - PROBES); x <= a; x++)
    p += Math.exp(lnChoose(total, x) + lnChoose(2 * PROBES - total, PROBES - x) - lnAll);
  return Math.min(1, p);
}

function perProbe(counters, n) {
  const f = (v) => ((v ?? 0) / n).toFixed(2);
  return (
    `${f(counters.requests)} requests (${f(counters.requests_dropped)} dropped), ${f(counters.replies)} ` +
    `replies (${f(counters.replies_dropped)} dropped)`
  );
}

export default async function udpLoss() {
  const unavailable = netnsUnavailable();
  if (unavailable) return { title, skipped: `needs root and network namespaces: ${unavailable}` };
  for (const tool of ['nmap', 'dnsmasq', 'chronyd', 'snmpd']) {
    const which = spawnSyncQuiet('sh', ['-c', `command -v ${tool}`]);
    if (!which) return { title, skipped: `${tool} is not installed` };
  }
  const began = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-bench-udp-loss-'));
  const client = addNamespace('c');
  const router = addNamespace('r');
  const server = addNamespace('s');
  let daemons = [];
  try {
    buildTopology(client, router, server);
    daemons = await startDaemons(server, dir);
    const rows = [];
    const notes = [];
    const traffic = [];
    const states = [];
    const attemptsUsed = [];
    const chance = [];
    const walls = [];
    const nmapUnloaded = [];
    const samples = {};
    let cell = 0;
    for (const protocol of PROTOCOLS) {
      for (const condition of CONDITIONS) {
        const sides = {};
        const order = cell++ % 2 === 0 ? ['reachgate', 'nmap'] : ['nmap', 'reachgate'];
        for (const side of order) {
          if (performance.now() - began > BUDGET_MS)
            throw new Error(`over the ${BUDGET_MS / 60_000} min budget at ${protocol.name}, ${condition.label}`);
          setLoss(router, protocol.port, condition);
          const result =
            side === 'reachgate'
              ? await runReachgate(client, protocol, condition.target)
              : await runNmap(client, protocol, condition.target);
          result.counters = readCounters(router);
          sides[side] = result;
          process.stderr.write(
            `  ${protocol.name}, ${condition.label}, ${side}: ${tally(result.probes)} (${(result.wallMs / 1000).toFixed(1)} s)\n`,
          );
        }
        const rg = sides.reachgate;
        const nm = sides.nmap;
        const rgOpen = rg.probes.filter((p) => p.open).length;
        const nmOpen = nm.probes.filter((p) => p.open).length;
        const nmKilled = nm.probes.filter((p) => p.state === 'killed').length;
        const label = `${protocol.name}, ${condition.label}`;
        const rgMs = median(rg.probes.map((p) => p.ms));
        const nmMs = median(nm.probes.map((p) => p.ms));
        if (condition.silent) {
          const r = row({
            metric: `${label}: false \`open\` of ${PROBES}`,
            unit: 'count',
            reachgate: rgOpen,
            peer: nmOpen,
            goal: 'reachgate 0',
            goalMax: 0,
            invalid: rg.invalid,
          });
          rows.push(r);
        } else {
          const invalid =
            rg.invalid ?? (nmKilled ? `${nmKilled} nmap runs killed after ${NMAP_RUN_TIMEOUT_MS} ms` : undefined);
          const r = row({
            metric: `${label}: share \`open\``,
            unit: '%',
            reachgate: rgOpen * (100 / PROBES),
            peer: nmOpen * (100 / PROBES),
            goal: 'reachgate >= nmap (higher is better)',
            invalid,
          });
          // Higher is better for a share: met when reachgate's is at least nmap's.
          r.met = !rg.invalid && rgOpen >= nmOpen;
          rows.push(r);
          if (rgOpen < nmOpen)
            chance.push(
              `${label}: reachgate ${rgOpen}, nmap ${nmOpen}; one-sided Fisher exact p = ` +
                `${fisherLower(rgOpen, nmOpen).toFixed(2)} (the chance of a gap this large or larger if both had the same success rate).`,
            );
        }
        if (condition.requestLoss === 0 && !condition.silent)
          nmapUnloaded.push(`${protocol.name} ${Math.round(nmMs)} ms`);
        if (condition.requestLoss === 30) {
          samples[`reachgate ms, ${label}`] = rg.probes.map((p) => p.ms);
          samples[`nmap ms, ${label}`] = nm.probes.map((p) => p.ms);
        }
        rows.push(
          row({ metric: `${label}: median time per probe (reference)`, unit: 'ms', reachgate: rgMs, peer: nmMs }),
        );
        traffic.push(
          `${label}: reachgate ${perProbe(rg.counters, PROBES)}; nmap ${perProbe(nm.counters, PROBES)} per probe.`,
        );
        states.push(`${label}: reachgate ${tally(rg.probes)}; nmap ${tally(nm.probes)}.`);
        walls.push(
          `${label}: reachgate ${(rg.wallMs / 1000).toFixed(1)} s (one process), nmap ` +
            `${(nm.wallMs / 1000).toFixed(1)} s (${PROBES} processes, ${NMAP_CONCURRENCY} at a time).`,
        );
        if (!condition.silent)
          attemptsUsed.push(
            `${label}: ${tally(
              rg.probes.filter((p) => p.open),
              'attempts',
            )}.`,
          );
        if (rg.invalid) notes.push(`${label}: reachgate's run does not count: ${rg.invalid}`);
        const wrong = rg.probes.filter((p) => !p.open && !condition.silent).map((p) => p.reason);
        if (wrong.length)
          notes.push(
            `${label}: why reachgate's ${wrong.length} non-open probes failed: ${[...new Set(wrong)].join('; ')}.`,
          );
      }
    }
    return {
      title,
      setup: [
        `Namespaces: client ${CLIENT}/24 <-> router (${ROUTER_CLIENT_SIDE}, ${ROUTER_SERVER_SIDE}, ` +
          `IPv4 forwarding) <-> server ${SERVER}/24 and ${SILENT}/24.`,
        `On the server, bound to ${SERVER} only: ${PROTOCOLS.map((p) => `${p.daemon} on ${p.port}`).join(', ')}.`,
        "Loss: the router's nftables forward chain drops at random, `ip daddr SERVER udp dport PORT numgen random mod 100 < N drop`,",
        'requests only (replies are not subject to loss) at 0, 10 and 30 %; the "both ways" variant ' +
          'adds the same rule at 30 % on the replies (`ip saddr SERVER udp sport PORT`).',
        `The silent target is ${SILENT}, on which nothing listens, behind a router rule \`ip daddr ` +
          `${SILENT} drop\`; same ports, so nmap sends the same payloads.`,
        `reachgate: one invocation per protocol and loss level with the target ${PROBES} times, ` +
          `--concurrency ${RG_CONCURRENCY} (each probe has its own socket and ids);`,
        `nmap: ${PROBES} runs, ${NMAP_CONCURRENCY} at a time, each killed after ${NMAP_RUN_TIMEOUT_MS / 1000} ` +
          `s. The two alternate which goes first, with fresh nftables counters each.`,
        `Time per probe: reachgate, the send time of the answered attempt in its backoff schedule ` +
          `plus that attempt's rtt_ms (${DEADLINE_MS} ms for a probe that did not answer);`,
        'nmap, the "scanned in" time it prints (process start-up excluded on both sides). --reps does not apply: 100 probes per tool and level.',
      ].join(' '),
      commands: {
        reachgate:
          `node bin/reachgate probe dns|ntp|snmp ${SERVER} (x${PROBES}) [--name rg.test --expect-address ` +
          `${SERVER} | --community public] --attempts ${ATTEMPTS} --timeout 2s --concurrency ${RG_CONCURRENCY} --json`,
        peer: `nmap ${nmapArgs({ port: 'PORT' }, SERVER).join(' ')}   (${PROBES} runs per level, ${NMAP_CONCURRENCY} at a time)`,
      },
      peer: 'nmap',
      rows,
      samples,
      notes: [
        'Replies: in the request-loss rows only requests are dropped and every reply gets through; ' +
          'in the "both ways" rows each request and each reply is dropped with 30 % chance independently, ' +
          'so one attempt succeeds with 0.7 x 0.7 = 49 %.',
        'nmap has no 2 s deadline (it waits as its own timing decides; --host-timeout would drop the host from the output).',
        'Packets per try differ, packets per probe do not: nmap sends every payload nmap-payloads ' +
          'lists for the port on each try (two for 53, 123 and 161), but for a one-port scan it makes only 2 tries whatever --max-retries says ' +
          '(scan_engine.cc allowedTryno: at most max(1, max_successful_tryno + 1) retransmissions, ' +
          'and nothing has answered a later try yet), so a silent port costs both tools 4 requests (the counters below).',
        `Under independent loss that makes the chance of a miss the same for both: 0.3^4 = 0.81 % ` +
          `for reachgate and (0.3^2)^2 = 0.81 % for nmap at 30 % request loss, 0.51^4 = (0.51^2)^2 = 6.8 % at 30 % both ways.`,
        `So at 30 % the share rows compare two draws of the same odds: with ${PROBES} probes a gap ` +
          `of a few points either way is chance, and the strict goal (reachgate >= nmap) can be missed by luck alone.`,
        ...(chance.length
          ? ['Rows where reachgate came out lower, and whether that is more than chance:', ...chance]
          : []),
        "Requests and replies per probe, from the router's nftables counters (requests counted before the random drop, replies before theirs):",
        ...traffic,
        'States of the 100 probes:',
        ...states,
        'Attempts reachgate used for its open probes (attempts N count):',
        ...attemptsUsed,
        `Median time per probe: reachgate's is the path's round trip plus the backoff before the ` +
          `attempt that was answered; nmap's "scanned in" carries a cost of its own per run even ` +
          `when its first try is answered (its median at 0 % loss: ${nmapUnloaded.join(', ')}).`,
        'Wall time for all 100 probes (reference, start-up included):',
        ...walls,
        ...notes,
      ],
    };
  } finally {
    for (const daemon of daemons) await stopDaemon(daemon);
    deleteNamespace(client);
    deleteNamespace(router);
    deleteNamespace(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

function spawnSyncQuiet(cmd, args) {
  try {
    return must(cmd, args).trim();
  } catch {
    return null;
  }
}
