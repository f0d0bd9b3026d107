// Runs inside the lab's client namespace, started once by silence-loss.test.ts: for each line on stdin (the scan
// mode: `connect` or `syn`) it sweeps a port range of the lab server RUNS times in this one process (no CLI start
// per sweep), prints one JSON line per sweep, then `done`. It ends with its stdin.
import { createInterface } from 'node:readline';
import tcp from '../../probes/tcp.js';
import { executePlan } from '../../src/run/execute.js';
import { planProbes } from '../../src/run/plan.js';
import { parseTarget } from '../../src/net/target.js';

const [target, open, runs, timeoutMs] = process.argv.slice(2);
const openPort = Number(open);
/** Sweeps at once: each waits out its rounds' deadlines, so a few side by side share the waiting. */
const SIDE_BY_SIDE = 4;

for await (const line of createInterface({ input: process.stdin })) {
  const scan = line.trim() === 'syn' ? 'syn' : 'connect';
  let next = 0;
  const lines: string[] = [];
  await Promise.all(
    Array.from({ length: SIDE_BY_SIDE }, async () => {
      while (next < Number(runs)) {
        next += 1;
        lines.push(await sweep(scan));
      }
    }),
  );
  process.stdout.write(`${lines.join('')}done\n`);
}

/** One sweep in the given mode, summed up in one JSON line. */
async function sweep(scan: 'connect' | 'syn'): Promise<string> {
  const started = performance.now();
  const plan = await planProbes({
    kind: tcp,
    targets: [parseTarget(target!)],
    expect: 'blocked',
    options: tcp.parseOptions({ scan }),
    timeoutMs: Number(timeoutMs),
    attempts: 1,
  });
  const results = await executePlan(plan, () => tcp, {
    concurrency: 128,
    warn: (message) => process.stderr.write(`${message}\n`),
  });
  const opened = results.find((result) => result.target.port === openPort)!;
  const filtered = results.filter((result) => result.state === 'filtered');
  const silence = (result: (typeof results)[number]): Record<string, unknown> =>
    (result.evidence?.silence ?? {}) as Record<string, unknown>;
  const line = {
    // The modes that ran (evidence.scan of each result; connect mode's results carry none).
    scans: [...new Set(results.map((result) => String(result.evidence?.scan ?? 'connect')))].sort(),
    ports: results.length,
    open: { state: opened.state, verdict: opened.verdict, attempts: opened.attempts, reason: opened.reason },
    falseOpen: results.filter((result) => result.state === 'open' && result !== opened).map((r) => r.target.port),
    states: Object.fromEntries(
      ['open', 'closed', 'filtered'].map((state) => [state, results.filter((r) => r.state === state).length]),
    ),
    verdicts: Object.fromEntries(
      ['pass', 'fail', 'inconclusive', 'error'].map((v) => [v, results.filter((r) => r.verdict === v).length]),
    ),
    filteredWithoutEvidence: filtered
      .filter((result) => typeof silence(result).attempts !== 'number' || typeof silence(result).loss !== 'number')
      .map((result) => result.target.port),
    filteredAttemptsMismatch: filtered.filter((result) => silence(result).attempts !== result.attempts).length,
    inconclusiveWithoutLoss: results
      .filter(
        (result) => result.verdict === 'inconclusive' && !/the path is lossy: loss to \S+ measured/.test(result.reason),
      )
      .map((result) => result.reason),
    maxAttempts: Math.max(...filtered.map((result) => result.attempts), 0),
    loss: filtered.length > 0 ? silence(filtered[0]!).loss : null,
    sample: filtered[0]?.reason,
    errors: results
      .filter((result) => result.verdict === 'error')
      .slice(0, 3)
      .map((result) => result.reason),
    ms: Math.round(performance.now() - started),
  };
  return `${JSON.stringify(line)}\n`;
}
