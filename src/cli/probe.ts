import { isIP } from 'node:net';
import type { Argv } from 'yargs';
import type { ProbeKind } from '../core/probe-kind.js';
import { BLOCKED_MODES, type BlockedMode, type Expectation, type ProbeResult, type Summary } from '../core/result.js';
import { parseDuration } from '../core/duration.js';
import { inPlanOrder } from '../core/runner.js';
import { JsonReportWriter } from '../report/json-stream.js';
import { exitCodeOf } from '../core/verdict.js';
import { parseTarget } from '../net/target.js';
import { parseResolver } from '../net/resolve.js';
import { kindNames, loadKind } from '../profile/kinds.js';
import { executePlan } from '../run/execute.js';
import { planProbes } from '../run/plan.js';
import { noteFamilyDifferences } from '../run/families.js';
import { parseRate, RUN_OPTIONS, warnOnStderr, wholeNumber } from './run-options.js';
import { exitOnClosedPipe } from './entry.js';
import { formatResultLine, formatSummary } from '../report/table.js';

/** Options of `probe` that every kind shares; the fast path parses these too. */
export const PROBE_OPTIONS = {
  expect: {
    choices: ['reachable', 'blocked'],
    default: 'reachable',
    describe: 'What must be true of the path',
    group: 'Probe:',
  },
  blocked: {
    choices: BLOCKED_MODES,
    default: 'any',
    describe: 'With --expect blocked: a silent drop, a reject, or either proves it (judged per address family)',
    group: 'Probe:',
    requiresArg: true,
  },
  timeout: {
    type: 'string',
    default: '2s',
    describe: 'Deadline of each probe, all attempts included (e.g. 500ms, 2s)',
    group: 'Probe:',
    requiresArg: true,
  },
  attempts: {
    type: 'number',
    describe: "Attempts within the deadline (default: the kind's)",
    group: 'Probe:',
    requiresArg: true,
  },
  ...RUN_OPTIONS,
  json: { type: 'boolean', default: false, describe: 'Print one RunReport as JSON on stdout', group: 'Output:' },
} as const;

/** The parsed arguments of `probe`, from yargs or the fast path. */
export interface ProbeArgs {
  kind: string;
  target: string[];
  expect: Expectation;
  blocked?: BlockedMode;
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
        .positional('kind', { type: 'string', choices: kindNames(), describe: 'Probe kind' })
        .positional('target', {
          type: 'string',
          array: true,
          describe: 'HOST[:PORTS], e.g. 198.51.100.10:22,5900,8000-8100 or [2001:db8::10]:443',
        })
        .options(PROBE_OPTIONS);
      if (kind) {
        command.options(
          Object.fromEntries(
            Object.entries(kind.cliOptions).map(([name, option]) => [
              name,
              { ...option, group: `${kind.name} options:` },
            ]),
          ),
        );
        for (const [example, description] of kind.examples) command.example(example, description);
      } else {
        command
          .example(
            'reachgate probe tcp 198.51.100.10:5900 --tls',
            'is the viewer port open, and what certificate does it show?',
          )
          .example(
            'reachgate probe tcp 198.51.100.10:22,25,3389 --expect blocked',
            'prove these ports blocked, and say how',
          )
          .example('reachgate probe dns 192.0.2.53 --name tg.example', 'does this DNS server answer for the name?')
          .example('reachgate probe tcp --help', "the tcp kind's own options and examples (likewise for every kind)");
      }
      return command;
    },
    async (argv) => {
      process.exitCode = await probe(kind as ProbeKind, argv);
    },
  );
}

/** Probe what the arguments name and print the results; returns the exit code. */
export async function probe(kind: ProbeKind, argv: ProbeArgs): Promise<number> {
  const options = kind.parseOptions(argv);
  const request = {
    kind,
    targets: argv.target.map((text) => (kind.parseTarget ? kind.parseTarget(text, options) : parseTarget(text))),
    expect: argv.expect,
    blocked: argv.blocked ?? 'any',
    options,
    timeoutMs: parseDuration(argv.timeout, '--timeout'),
    attempts: wholeNumber(argv.attempts ?? kind.defaultAttempts, '--attempts', 1, 20),
    ...(argv.resolver === undefined ? {} : { resolver: parseResolver(argv.resolver) }),
  };
  const concurrency = wholeNumber(argv.concurrency, '--concurrency', 1, 65_535);
  const ratePerSecond = argv.rate === undefined ? undefined : parseRate(argv.rate);
  const startedAt = new Date();
  const plan = await planProbes(request);
  // Nothing touches stdout or makes the report head (crypto for its id, os for the host name) before the probes are
  // on their way: a dropped port's deadline starts when its probe does, not after them.
  let colour: boolean | undefined;
  const write = (text: string): void => {
    exitOnClosedPipe();
    process.stdout.write(text);
  };
  // Results stream out in plan order and are not kept: a full port sweep stays small in memory.
  const json = argv.json ? new JsonReportWriter(write) : undefined;
  // stdout's stream is made here too, while the probes run: a sweep's first write comes after its deadlines.
  const head = afterLaunch(async () => {
    exitOnClosedPipe();
    if (json) json.open((await import('../core/run-report.js')).reportHead({ startedAt }));
  });
  const summary: Summary = { pass: 0, fail: 0, inconclusive: 0, error: 0 };
  const show = (result: ProbeResult): void => {
    summary[result.verdict] += 1;
    if (json) json.add(result);
    else write(`${formatResultLine(result, (colour ??= isColourTerminal()))}\n`);
  };
  const families = argv.expect === 'blocked' ? new FamilyBuffer(show) : undefined;
  await executePlan(plan, () => kind, {
    concurrency,
    ...(ratePerSecond === undefined ? {} : { ratePerSecond }),
    onResult: inPlanOrder(families ? (result) => families.add(result) : show),
    retain: false,
    warn: warnOnStderr,
  });
  families?.flush();
  await head;
  if (json) json.end(new Date(), summary);
  else write(`${formatSummary(summary, plan.length)}\n`);
  return exitCodeOf(summary);
}

/** Whether the table may be coloured: stdout is a terminal and NO_COLOR is not set. */
function isColourTerminal(): boolean {
  return process.stdout.isTTY === true && !process.env.NO_COLOR;
}

/**
 * Run `task` once the work started in this tick is under way: after the microtasks that launch a plan's probes (they
 * start with no wait on I/O), so what `task` costs overlaps their deadlines.
 */
function afterLaunch(task: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => setImmediate(() => task().then(resolve, reject)));
}

/** Holds one target's results (its addresses follow each other in plan order) so IPv4 and IPv6 can be compared. */
class FamilyBuffer {
  private held: ProbeResult[] = [];

  constructor(private readonly show: (result: ProbeResult) => void) {}

  add(result: ProbeResult): void {
    if (this.held.length > 0 && this.held[0]!.target.host !== result.target.host) this.flush();
    // A target given as an address has one family: nothing to compare, so nothing is held (a sweep of 65,535
    // ports would otherwise wait whole in memory for its end).
    if (isIP(result.target.host) !== 0) this.show(result);
    else this.held.push(result);
  }

  flush(): void {
    for (const result of noteFamilyDifferences(this.held)) this.show(result);
    this.held = [];
  }
}
