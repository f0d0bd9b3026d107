// Benchmark: --trace of one blocked row at 3 hops for a UDP kind (DNS), against the same probe without it.
//
// The chain of bench/syn-sweep.mjs: client 192.0.2.2 - router 192.0.2.1 / 203.0.113.1 - router 203.0.113.2 /
// 198.51.100.1 - server 198.51.100.10; router 2's forward chain drops udp/7204. The traced probes carry the
// probe's own DNS query (same protocol, port and payload) with TTL 1..12; the trace runs inside the probe's
// deadline, so the wall time should not grow. Section 11 has the same figure for a TCP SYN row.
// Network safety: traffic goes only to the namespaces created here (documentation addresses).
import { chain, compare, traceWrong } from './syn-sweep.mjs';
import { deleteNamespace, netnsUnavailable } from './lib/netns.mjs';
import { REACHGATE, row } from './lib/measure.mjs';

const SERVER = '198.51.100.10';
const PORT = 7204;
const args = ['probe', 'dns', `${SERVER}:${PORT}`, '--timeout', '1s', '--json'];

export const title = "--trace of a dropped DNS row at 3 hops (UDP with the probe's own query)";

export default async function traceUdp({ reps = 5 } = {}) {
  const unavailable = netnsUnavailable();
  if (unavailable) return { title, skipped: `needs root and network namespaces: ${unavailable}` };
  const lab = chain([`udp dport ${PORT} drop`]);
  try {
    const [traced, plain] = await compare(reps, [
      { argv: [process.execPath, REACHGATE, ...args, '--trace'], ns: lab.client, wrong: (r) => traceWrong(r, true) },
      { argv: [process.execPath, REACHGATE, ...args], ns: lab.client, wrong: (r) => traceWrong(r, false) },
    ]);
    const invalid =
      traced.wrong.length + plain.wrong.length > 0
        ? `wrong answers: ${[...traced.wrong, ...plain.wrong][0]}`
        : undefined;
    return {
      title,
      setup:
        'client 192.0.2.2 - router 192.0.2.1 / 203.0.113.1 - router 203.0.113.2 / 198.51.100.1 - server ' +
        `${SERVER}, router 2 forward chain \`udp dport ${PORT} drop\`, ICMP rate limits off on the routers. ` +
        `Each side ${reps} runs, alternating; median.`,
      commands: {
        reachgate: `node bin/reachgate ${args.join(' ')} --trace`,
        peer: `node bin/reachgate ${args.join(' ')}`,
      },
      peer: 'without --trace',
      rows: [
        row({
          metric: 'wall time of one dropped DNS row with --trace at 3 hops (peer: the same probe without --trace)',
          unit: 'ms',
          reachgate: traced.wallMs,
          peer: plain.wallMs,
          goal: 'ratio <= 1.1 (the trace runs inside the deadline)',
          goalRatio: 1.1,
          invalid,
        }),
        row({ metric: 'CPU user+sys (reference)', unit: 'ms', reachgate: traced.cpuMs, peer: plain.cpuMs }),
      ],
      samples: { 'with --trace wall ms': traced.walls, 'without --trace wall ms': plain.walls },
      notes: [
        'The DNS probe makes 3 attempts within its 1 s deadline (its default); the trace starts halfway while the ' +
          'probe is silent and ends at the deadline.',
      ],
    };
  } finally {
    for (const ns of lab.namespaces) deleteNamespace(ns);
  }
}
