// Benchmark: cold start of one TCP probe against `node -e 0` (Node's own start-up floor).
//
// A listener started here on 127.0.0.1 (ephemeral port, host loopback, killed by PID afterwards);
// `node bin/reachgate probe tcp 127.0.0.1:PORT`, `node -e 0` and, for reference,
// `node bin/reachgate --version` run in rotation, REPS times each; median wall time.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { REACHGATE, median, row, rotate, timed } from './lib/measure.mjs';

const LISTENER_LIFETIME_MS = 120_000;
const RUN_TIMEOUT_MS = 30_000;

export const title = 'Cold start: one TCP probe to a loopback listener, against `node -e 0`';

// Accepts and closes connections on 127.0.0.1; exits by itself after its lifetime.
const LISTENER = `
const net = require('node:net');
const server = net.createServer((c) => c.destroy());
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
setTimeout(() => process.exit(0), ${LISTENER_LIFETIME_MS}).unref();
process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
`;

async function startListener() {
  const child = spawn(process.execPath, ['-e', LISTENER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const kill = () => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.once('exit', kill);
  const port = await Promise.race([
    once(child.stdout, 'data').then(([chunk]) => Number(String(chunk).trim())),
    new Promise((_, reject) => setTimeout(() => reject(new Error('listener did not start within 5 s')), 5000).unref()),
  ]);
  return {
    port,
    async stop() {
      process.removeListener('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(kill, 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export default async function coldStart({ reps = 20 } = {}) {
  const listener = await startListener();
  try {
    const target = `127.0.0.1:${listener.port}`;
    const probeArgs = [REACHGATE, 'probe', 'tcp', target];
    const [probe, bare, version] = await rotate(reps, [
      async () => {
        const run = await timed([process.execPath, ...probeArgs], { timeoutMs: RUN_TIMEOUT_MS, rss: false });
        const ok = run.code === 0 && /\bopen\b/.test(run.stdout);
        return {
          wallMs: run.wallMs,
          wrong: ok ? null : `exit ${run.code}: ${(run.stdout + run.stderr).trim().slice(0, 200)}`,
        };
      },
      async () => {
        const run = await timed([process.execPath, '-e', '0'], { timeoutMs: RUN_TIMEOUT_MS, rss: false });
        return { wallMs: run.wallMs, wrong: run.code === 0 ? null : `exit ${run.code}` };
      },
      async () => {
        const run = await timed([process.execPath, REACHGATE, '--version'], { timeoutMs: RUN_TIMEOUT_MS, rss: false });
        return { wallMs: run.wallMs, wrong: run.code === 0 ? null : `exit ${run.code}` };
      },
    ]);
    const wrong = probe.filter((s) => s.wrong);
    const probeMs = median(probe.map((s) => s.wallMs));
    const bareMs = median(bare.map((s) => s.wallMs));
    const versionMs = median(version.map((s) => s.wallMs));
    return {
      title,
      setup:
        `A listener on host loopback (127.0.0.1, ephemeral port) started by the benchmark. The three ` +
        `commands run in rotation, ${reps} times each, stdout to a file; median wall time from spawn to exit, measured in the parent.`,
      commands: {
        reachgate: `node bin/reachgate probe tcp 127.0.0.1:PORT`,
        peer: 'node -e 0',
        reference: 'node bin/reachgate --version',
      },
      peer: 'node -e 0',
      rows: [
        row({
          metric: 'wall time, probe tcp (one open port)',
          unit: 'ms',
          reachgate: probeMs,
          peer: bareMs,
          goal: 'ratio <= 1.4',
          goalRatio: 1.4,
          invalid: wrong.length ? `probe failed in ${wrong.length}/${reps} runs: ${wrong[0].wrong}` : undefined,
        }),
        row({ metric: 'wall time, --version (reference)', unit: 'ms', reachgate: versionMs, peer: bareMs }),
      ],
      samples: {
        'probe tcp wall ms': probe.map((s) => s.wallMs),
        'node -e 0 wall ms': bare.map((s) => s.wallMs),
        '--version wall ms': version.map((s) => s.wallMs),
      },
      notes: [
        `Median of the per-repetition ratios (probe run / the \`node -e 0\` run next to it): ` +
          `${median(probe.map((s, i) => s.wallMs / bare[i].wallMs)).toFixed(2)}.`,
        `The probe answered \`open\` with exit 0 in ${reps - wrong.length}/${reps} runs.`,
      ],
    };
  } finally {
    await listener.stop();
  }
}
