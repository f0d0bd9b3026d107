import t from 'tap';
import type { ProbeSpec } from '../../src/core/probe-kind.js';
import type { Observation, ProbeResult } from '../../src/core/result.js';
import { resultOf, type PlanList } from '../../src/core/runner.js';
import { SilenceRounds, type RoundPace } from '../../src/core/silence-rounds.js';
import { MAX_SILENT_ATTEMPTS } from '../../src/core/path-loss.js';

// The round planner in process, against a fake prober: no sockets, no clock. The fake path answers on port 5900
// (open) and port 113 (closed, when asked for), loses each attempt with a seeded probability, and never answers
// ports from 10000 (dropped), except `late`, which answers from its second attempt on.
const ADDRESS = '198.51.100.10';
const DROPPED = 10_000;

function spec(port: number, options: Record<string, unknown> = {}): ProbeSpec {
  return {
    id: `fake:${ADDRESS}:${port}`,
    kind: 'fake',
    target: { host: ADDRESS, address: ADDRESS, port, protocol: 'tcp' },
    expect: port < DROPPED ? 'reachable' : 'blocked',
    options,
    timeoutMs: 1000,
    attempts: 1,
  };
}

interface Call {
  specs: ProbeSpec[];
  pace: RoundPace | undefined;
  trial: boolean;
}

/** A fake path and a runner over it that records every call (its specs and pace). */
function fakePath({ loss = 0, late = -1, holdTrials = false } = {}) {
  let seed = 4242;
  const draw = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const calls: Call[] = [];
  const tried = new Map<number, number>();
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const observe = (probe: ProbeSpec): Observation => {
    const port = probe.target.port!;
    const attempt = (tried.get(port) ?? 0) + 1;
    tried.set(port, attempt);
    const answers = port < DROPPED || (port === late && attempt >= 2);
    if (!answers || draw() < loss) return { state: 'filtered', reason: 'no answer within 1 s', attempts: 1 };
    return port === 113
      ? { state: 'closed', reason: 'refused', attempts: 1 }
      : { state: 'open', reason: 'connected', attempts: 1 };
  };
  const run = async (
    plan: PlanList,
    onResult: (result: ProbeResult, index: number) => void,
    pace?: RoundPace,
  ): Promise<void> => {
    const specs = Array.from({ length: plan.length }, (_, i) => plan.at(i)!);
    // Loss probes go to the answering ports only.
    const trial = specs.every((probe) => probe.target.port! < DROPPED);
    calls.push({ specs, pace, trial });
    await Promise.resolve();
    if (trial && holdTrials) await released;
    if (!trial && holdTrials) {
      // The first retry round lets the held loss probes come back, before its own results.
      release();
      await new Promise((resolve) => setImmediate(resolve));
    }
    specs.forEach((probe, index) => onResult(resultOf(probe, new Date(0).toISOString(), observe(probe)), index));
  };
  return { run, calls };
}

/** The first pass as a runner would hand it over: answering ports, then `silent` dropped ports from 10000. */
function firstPass(
  path: ReturnType<typeof fakePath>,
  {
    silent = 1200,
    answering = [5900],
    budget = 100_000,
    concurrency = 256,
    trialOf = (probe: ProbeSpec): ProbeSpec | undefined => ({ ...probe, options: { trial: true } }),
    sharesAnswers = undefined as ((probe: ProbeSpec) => boolean) | undefined,
    series = undefined as object | undefined,
  } = {},
) {
  const plan = [
    ...answering.map((port) => spec(port, { tls: true })),
    ...Array.from({ length: silent }, (_, i) => spec(DROPPED + i)),
  ];
  const delivered = new Map<number, ProbeResult>();
  const rounds = new SilenceRounds(
    (result, index) => delivered.set(index, result),
    (index) => plan[index]!,
    {
      run: path.run,
      concurrency,
      budget,
      // The loss probe of a port: its spec without TLS (marked), as a kind's lossTrial makes it.
      trialOf,
      ...(sharesAnswers ? { sharesAnswers } : {}),
      ...(series ? { series } : {}),
    },
  );
  plan.forEach((probe, index) => {
    const answers = probe.target.port! < DROPPED;
    const observation: Observation = answers
      ? { state: probe.target.port === 113 ? 'closed' : 'open', reason: 'answered', attempts: 1 }
      : { state: 'filtered', reason: 'no answer within 1 s', attempts: 1 };
    rounds.take(resultOf(probe, new Date(0).toISOString(), observation), index);
  });
  return { plan, delivered, rounds };
}

/** Let the fake runner's chained runs (the early loss probes) go their course. */
async function drain(): Promise<void> {
  for (let i = 0; i < 100; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

const silence = (result: ProbeResult): Record<string, unknown> =>
  (result.evidence?.silence ?? {}) as Record<string, unknown>;

t.test('loss probes start in the first pass, go to the answering port as its trial, paced and bounded', async (t) => {
  const path = fakePath();
  const { rounds } = firstPass(path);
  await drain();
  const early = path.calls.filter((call) => call.trial);
  t.ok(early.length > 0 && early.length === path.calls.length, 'only loss probes before the rounds');
  t.ok(
    early.every((call) =>
      call.specs.every(
        (probe) => probe.target.port === 5900 && probe.attempts === 1 && (probe.options as { trial?: boolean }).trial,
      ),
    ),
    'each is one attempt to the open port, as its trial (without TLS)',
  );
  t.ok(
    early.every((call) => call.pace?.concurrency === 32 && call.pace.ratePerSecond === 500),
    'an open port takes at most 32 at once and 500 a second',
  );
  t.equal(
    early.reduce((sum, call) => sum + call.specs.length, 0),
    512,
    'and at most 512 in the first pass',
  );
  await rounds.settle();
});

t.test('a round adds the attempts still needed, all in one round, spread and above the concurrency', async (t) => {
  const path = fakePath({ late: DROPPED + 500 });
  const { delivered, rounds } = firstPass(path);
  await drain();
  const before = path.calls.length;
  await rounds.settle();
  const retries = path.calls.slice(before).filter((call) => !call.trial);
  t.equal(retries.length, 1, 'one retry round');
  const round = retries[0]!;
  t.equal(round.specs.length, 2 * 1200, 'two more attempts per silent port');
  t.equal(round.specs[0], round.specs[1200], "copy-major: a port's second copy starts after every port's first");
  t.equal(round.pace?.concurrency, 2400, 'all in flight at once: above the run concurrency of 256');
  t.equal(round.pace?.ratePerSecond, 9600, 'started over a quarter of the 1 s window');
  const dropped = [...delivered.values()].filter(
    (result) => result.target.port! >= DROPPED && result.target.port !== DROPPED + 500,
  );
  t.equal(dropped.length, 1199);
  t.ok(
    dropped.every((result) => result.state === 'filtered' && result.verdict === 'pass' && result.attempts === 3),
    'every dropped port filtered after 3 attempts',
  );
  t.match(silence(dropped[0]!), { attempts: 3, rounds: 2, attempts_needed: 3, loss: 0, bound: 0.001 });
  t.ok((silence(dropped[0]!).loss_probes as { sent: number }).sent >= 512, 'judged on the early loss probes');
  const found = [...delivered.values()].find((result) => result.target.port === DROPPED + 500)!;
  t.match(found, { state: 'open', verdict: 'fail' }, 'a port silent once, then answering, is open');
  t.ok(found.attempts >= 2, `with its attempts (${found.attempts})`);
});

t.test('a port without a cheap trial takes only a round of its own probes in the first pass', async (t) => {
  const path = fakePath();
  const { rounds } = firstPass(path, { trialOf: () => undefined });
  await drain();
  const early = path.calls.filter((call) => call.trial);
  t.ok(
    early.every((call) => call.specs.every((probe) => (probe.options as { tls?: boolean }).tls === true)),
    "the port's own probe",
  );
  t.equal(
    early.reduce((sum, call) => sum + call.specs.length, 0),
    32,
  );
  await rounds.settle();
});

t.test('loss probes never have more in flight than the run', async (t) => {
  const path = fakePath();
  const { rounds } = firstPass(path, { silent: 100, concurrency: 16 });
  await drain();
  t.ok(path.calls.length > 0 && path.calls.every((call) => call.pace?.concurrency === 16));
  await rounds.settle();
});

t.test("a round's concurrency stays within the open-files budget, but for SYN mode", async (t) => {
  const path = fakePath();
  const { rounds } = firstPass(path, { budget: 1000 });
  await drain();
  const before = path.calls.length;
  await rounds.settle();
  const round = path.calls.slice(before).find((call) => !call.trial)!;
  t.equal(round.pace?.concurrency, 1000);
  t.equal(round.pace?.socketless, 2400, 'but SYN mode, which holds no socket per probe, has them all in flight');
});

t.test("retry copies run in the first pass's series, loss probes never", async (t) => {
  // SYN mode shares a key across a series, so that a late answer to an earlier attempt counts for the copy that now
  // probes the port; a loss probe must not take one (the loss would read lower than it is).
  const series = {};
  const path = fakePath({ loss: 0.2 });
  const { rounds } = firstPass(path, { silent: 50, series, sharesAnswers: () => true });
  await rounds.settle();
  const retries = path.calls.filter((call) => !call.trial);
  const trials = path.calls.filter((call) => call.trial);
  t.ok(retries.length > 1, `copy after copy: ${retries.length} runs`);
  t.ok(
    retries.every((call) => call.pace?.series === series),
    'every retry copy in the series',
  );
  t.ok(trials.length > 0 && trials.every((call) => call.pace?.series === undefined), 'no loss probe in it');
});

t.test('closed ports take the loss probes when there are any, 256 at once and without a rate', async (t) => {
  const path = fakePath();
  const { rounds } = firstPass(path, { answering: [5900, 113] });
  await drain();
  const early = path.calls.filter((call) => call.trial);
  t.ok(
    early.every((call) => call.specs.every((probe) => probe.target.port === 113)),
    'every loss probe to the closed port',
  );
  t.ok(early.every((call) => call.pace?.concurrency === 256 && call.pace.ratePerSecond === undefined));
  t.equal(
    early.reduce((sum, call) => sum + call.specs.length, 0),
    2048,
    'at most 2048 in the first pass',
  );
  await rounds.settle();
});

t.test(
  'while the loss probes are still out, a round adds one attempt, then what the settled measure needs',
  async (t) => {
    const path = fakePath({ holdTrials: true });
    const { delivered, rounds } = firstPass(path, { silent: 100 });
    await rounds.settle();
    const retries = path.calls.filter((call) => !call.trial);
    t.equal(retries[0]!.specs.length, 100, 'one attempt per silent port while nothing measured the path yet');
    t.equal(retries.length, 2, 'then one more round');
    t.equal(retries[1]!.specs.length % 100, 0, 'which adds what the measure needs, the same to every port');
    const result = delivered.get(1)!;
    t.match(result, { state: 'filtered', verdict: 'pass' });
    t.ok(result.attempts >= (silence(result).attempts_needed as number), `${result.attempts} attempts, as needed`);
  },
);

t.test('a path too lossy for the cap gets every attempt up to it in one round, then is inconclusive', async (t) => {
  const path = fakePath({ loss: 0.5 });
  const { delivered, rounds } = firstPass(path, { silent: 300 });
  await drain();
  const before = path.calls.length;
  await rounds.settle();
  const retries = path.calls.slice(before).filter((call) => !call.trial);
  t.equal(retries.length, 1, 'one round');
  t.equal(retries[0]!.specs.length, 300 * (MAX_SILENT_ATTEMPTS - 1), 'to the cap at once');
  const dropped = [...delivered.values()].filter((result) => result.target.port! >= DROPPED);
  t.ok(dropped.every((result) => result.verdict === 'inconclusive' && result.attempts === MAX_SILENT_ATTEMPTS));
  t.match(dropped[0]!.reason, /silent to 10 attempts in 2 rounds, but the path is lossy: loss to 198\.51\.100\.10/);
});

t.test('a runner fault in the loss probes comes out of settle', async (t) => {
  const path = fakePath();
  const failing = {
    ...path,
    run: (plan: PlanList, onResult: (result: ProbeResult, index: number) => void, pace?: RoundPace) =>
      pace?.ratePerSecond === 500 ? Promise.reject(new Error('engine fault')) : path.run(plan, onResult, pace),
  };
  const { rounds } = firstPass(failing, { silent: 10 });
  await t.rejects(rounds.settle(), /engine fault/);
});

t.test('silent ports of an address nothing answered go out as they came, with no spec made again', async (t) => {
  const path = fakePath();
  const plan = Array.from({ length: 300 }, (_, i) => spec(DROPPED + i));
  const delivered: Array<[number, ProbeResult]> = [];
  let specsAsked = 0;
  const rounds = new SilenceRounds(
    (result, index) => delivered.push([index, result]),
    (index) => {
      specsAsked += 1;
      return plan[index]!;
    },
    { run: path.run, concurrency: 256, budget: 100_000 },
  );
  const firsts = plan.map((probe) =>
    resultOf(probe, new Date(0).toISOString(), {
      state: 'filtered',
      reason: 'no answer within 1 s',
      attempts: 1,
      evidence: { engine: 'native' },
    }),
  );
  const before = firsts.map((result) => JSON.stringify(result));
  firsts.forEach((result, index) => rounds.take(result, index));
  t.equal(delivered.length, 0, 'held until the first pass is over');
  await rounds.settle();
  t.equal(path.calls.length, 0, 'no round and no loss probe: nothing there answers');
  t.equal(specsAsked, 0, 'no spec is made again for a held port');
  t.same(
    delivered.map(([index]) => index),
    plan.map((_, index) => index),
    'every port once, in plan order',
  );
  const note = { attempts: 1, rounds: 1, loss: null, loss_note: `nothing sent to ${ADDRESS} answered in this run` };
  delivered.forEach(([index, result]) => {
    const first = JSON.parse(before[index]!) as ProbeResult;
    const expected = { ...first, evidence: { ...first.evidence, silence: note } };
    if (JSON.stringify(result) !== JSON.stringify(expected)) t.fail(`port ${index}: ${JSON.stringify(result)}`);
  });
  t.pass('each the first result with its silence evidence, key for key, the configured attempts standing');
});

t.test('where one answer settles every probe of its port (SYN mode), no run holds a port twice', async (t) => {
  /** The runs (loss probes and rounds) that hold some port more than once. */
  const doubled = (calls: Call[]): Call[] =>
    calls.filter((call) => new Set(call.specs.map((probe) => probe.target.port)).size !== call.specs.length);
  const shared = fakePath({ loss: 0.1 });
  const { rounds, delivered } = firstPass(shared, { silent: 300, sharesAnswers: () => true });
  await rounds.settle();
  t.equal(delivered.size, 301, 'every probe judged');
  t.same(doubled(shared.calls), [], 'no run holds a port twice');
  const retries = shared.calls.filter((call) => !call.trial);
  t.ok(retries.length >= 2, `a port's added attempts ran as runs of their own (${retries.length})`);
  // Without it (connect mode: a socket per attempt) the same rounds put a port's copies, and loss probes to the one
  // answering port, side by side in one run.
  const apart = fakePath({ loss: 0.1 });
  await firstPass(apart, { silent: 300 }).rounds.settle();
  t.ok(doubled(apart.calls).length > 0, 'connect mode keeps them side by side');
});
