import type { Argv } from 'yargs';
import type { ProbeKind } from '../core/probe-kind.js';
import type { Expectation, ProbeResult } from '../core/result.js';
import { kindNames, loadKind } from '../core/kinds.js';
import { UsageError } from '../core/usage-error.js';
import { parseDuration } from '../core/duration.js';
import { planProbes } from '../core/plan.js';
import { inPlanOrder, runPlan } from '../core/runner.js';
import { buildRunReport } from '../core/run-report.js';
import { exitCodeOf } from '../core/verdict.js';
import { socketBudget } from '../core/fd-limit.js';
import { parseTarget } from '../net/target.js';
import { parseResolver } from '../net/resolve.js';
import { startIcmpListener } from '../net/icmp-listener.js';
import { formatResultLine, formatSummary } from '../report/table.js';

interface ProbeArgs {
  kind: string;
  target: string[];
  expect: Expectation;
  timeout: string;
  attempts?: number;
  json: boolean;
  concurrency: number;
  rate?: string;
  resolver?: string;
  [option: string]: unknown;
}

/** Add `reachgate probe <kind> <target..>`; the named kind's own options are loaded only for that kind. */
export async function probeCommand(parser: Argv, args: string[]): Promise<Argv> {
  const kindName = args[0] === 'probe' && args[1] && !args[1].startsWith('-') ? args[1] : undefined;
  const kind = kindName === undefined ? undefined : await loadKind(kindName);
  return parser.command<ProbeArgs>(
    'probe <kind> <target..>',
    'Probe one path now and say how it answered',
    (command) => {
      command
        .positional('kind', { type: 'string', describe: `Probe kind: ${kindNames().join(', ')}` })
        .positional('target', { type: 'string', array: true, describe: 'HOST[:PORTS], e.g. 198.51.100.10:22,5900,8000-8100 or [2001:db8::10]:443' })
        .options({
          expect: { choices: ['reachable', 'blocked'], default: 'reachable', describe: 'What must be true of the path', group: 'Probe:' },
          timeout: { type: 'string', default: '2s', describe: 'Deadline of each probe, all attempts included (e.g. 500ms, 2s)', group: 'Probe:', requiresArg: true },
          attempts: { type: 'number', describe: 'Attempts within the deadline (default: the kind\'s)', group: 'Probe:', requiresArg: true },
          resolver: { type: 'string', describe: 'DNS server to resolve the target with, IP[:port] (default: the system resolver)', group: 'Probe:', requiresArg: true },
          concurrency: { type: 'number', default: 256, describe: 'Probes in flight at once', group: 'Probe:', requiresArg: true },
          rate: { type: 'string', describe: 'Most probe starts per second, e.g. 100/s', group: 'Probe:', requiresArg: true },
          json: { type: 'boolean', default: false, describe: 'Print one RunReport as JSON on stdout', group: 'Output:' },
        });
      if (kind) {
        command.options(Object.fromEntries(Object.entries(kind.cliOptions).map(([name, option]) => [name, { ...option, group: `${kind.name} options:` }])));
        for (const [example, description] of kind.examples) command.example(example, description);
      }
      return command;
    },
    async (argv) => {
      process.exitCode = await probe(kind as ProbeKind, argv);
    },
  );
}

async function probe(kind: ProbeKind, argv: ProbeArgs): Promise<number> {
  const request = {
    kind,
    targets: argv.target.map(parseTarget),
    expect: argv.expect,
    options: kind.parseOptions(argv),
    timeoutMs: parseDuration(argv.timeout, '--timeout'),
    attempts: wholeNumber(argv.attempts ?? kind.defaultAttempts, '--attempts', 1, 20),
    ...(argv.resolver === undefined ? {} : { resolver: parseResolver(argv.resolver) }),
  };
  const concurrency = wholeNumber(argv.concurrency, '--concurrency', 1, 65_535);
  const ratePerSecond = argv.rate === undefined ? undefined : parseRate(argv.rate);
  const startedAt = new Date();
  const plan = await planProbes(request);
  const budget = socketBudget();
  if (concurrency > budget) {
    process.stderr.write(`reachgate: --concurrency ${concurrency} is above what the open-files limit allows; using ${budget} (raise it with ulimit -n)\n`);
  }
  const icmp = kind.protocol === 'icmp' || plan.some((spec) => !spec.unresolved) ? startIcmpListener() : { listener: null, note: undefined };
  const colour = !argv.json && process.stdout.isTTY === true && !process.env.NO_COLOR;
  const show = (result: ProbeResult): void => {
    if (!argv.json) process.stdout.write(`${formatResultLine(result, colour)}\n`);
  };
  let results: ProbeResult[];
  try {
    results = await runPlan(plan, () => kind, { icmp: icmp.listener, icmpNote: icmp.note }, {
      concurrency: Math.min(concurrency, budget),
      ...(ratePerSecond === undefined ? {} : { ratePerSecond }),
      onResult: inPlanOrder(show),
    });
  } finally {
    icmp.listener?.close();
  }
  const report = buildRunReport(results, { startedAt });
  process.stdout.write(argv.json ? `${JSON.stringify(report)}\n` : `${formatSummary(report)}\n`);
  return exitCodeOf(report.summary);
}

function wholeNumber(value: unknown, option: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`Expected the \`${option}\` option to be a whole number from ${min} to ${max}, got \`${String(value)}\``);
  }
  return value;
}

function parseRate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(?:\/s)?$/.exec(text.trim());
  const rate = match ? Number(match[1]) : NaN;
  if (!(rate > 0)) throw new UsageError(`Expected the \`--rate\` option to be probes per second like 100/s, got \`${text}\``);
  return rate;
}
