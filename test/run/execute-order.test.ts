import t from 'tap';
import type { ProbeContext, ProbeSpec } from '../../src/core/probe-kind.js';
import type { Observation } from '../../src/core/result.js';
import { runPlan } from '../../src/core/runner.js';
import { executePlan, sweepShare } from '../../src/run/execute.js';
import { testKind } from '../helpers/test-kind.js';

// The phase rule of src/run/execute.ts: a sweep starts once no named row needs the host (each has settled or only
// waits on silence), never while one is still in its handshake, and keeps the total in flight within --concurrency.

/** How a fake probe behaves: its role in the plan decides it (the options carry it). */
type Role = 'waits' | 'handshake' | 'sweep';

function spec(id: string, role: Role, address: string): ProbeSpec {
  return {
    id,
    kind: 'fake',
    target: { host: 'h', address, port: 1, protocol: 'tcp' },
    expect: role === 'waits' ? 'blocked' : 'reachable',
    options: { role },
    timeoutMs: 400,
    attempts: 1,
    ...(role === 'sweep' ? { sweep: true } : {}),
  };
}

/** Settles at the probe's deadline: silence. */
function silence(context: ProbeContext): Promise<Observation> {
  return new Promise((resolve) => {
    const done = (): void => resolve({ state: 'filtered', reason: 'no answer', attempts: 1 });
    if (context.signal.aborted) done();
    else context.signal.addEventListener('abort', done, { once: true });
  });
}

/** A plan run with a log of what happened in which order, and the most probes in flight at once. */
async function runLogged(
  plan: ProbeSpec[],
  concurrency: number,
  gates: { handshake?: Promise<void> } = {},
): Promise<{ log: string[]; peak: number; states: string[] }> {
  const log: string[] = [];
  let inFlight = 0;
  let peak = 0;
  const kind = testKind({
    async observe(probe, context) {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      const { role } = probe.options as { role: Role };
      log.push(`start ${probe.id}`);
      try {
        if (role === 'handshake') {
          // Connected; its TLS handshake works until the test lets it finish. It never says it waits.
          await gates.handshake;
          return { state: 'open', reason: 'handshake done', attempts: 1 };
        }
        if (role === 'sweep') return { state: 'open', reason: 'answered', attempts: 1 };
        context.waiting?.(true);
        return await silence(context);
      } finally {
        inFlight -= 1;
        log.push(`settled ${probe.id}`);
      }
    },
  });
  const results = await executePlan(plan, () => kind, { concurrency, warn: (message) => t.fail(message) });
  return { log, peak, states: results.map((result) => `${result.id} ${result.state}`) };
}

t.test('the sweep starts while every named row only waits on silence, and its results are the same', async (t) => {
  const plan = [
    spec('canary-1', 'waits', '127.0.0.3'),
    spec('canary-2', 'waits', '127.0.0.3'),
    spec('sweep-1', 'sweep', '127.0.0.2'),
    spec('sweep-2', 'sweep', '127.0.0.2'),
  ];
  const { log, states } = await runLogged(plan, 8);
  t.ok(log.indexOf('start sweep-1') < log.indexOf('settled canary-1'), 'the sweep starts before the canary settles');
  t.ok(log.indexOf('start canary-2') < log.indexOf('start sweep-1'), 'but after every named row has started');
  t.same(states, ['canary-1 filtered', 'canary-2 filtered', 'sweep-1 open', 'sweep-2 open']);
});

t.test('the sweep does not start while a named row is in its handshake', async (t) => {
  let finish: () => void = () => {};
  const handshake = new Promise<void>((resolve) => (finish = resolve));
  const plan = [
    spec('canary', 'waits', '127.0.0.3'),
    spec('viewer', 'handshake', '127.0.0.2'),
    spec('sweep-1', 'sweep', '127.0.0.2'),
  ];
  // The handshake ends only after the canary has gone quiet and some turns have passed: the sweep must wait for it.
  setTimeout(finish, 50);
  const { log } = await runLogged(plan, 8, { handshake });
  const sweep = log.indexOf('start sweep-1');
  t.ok(log.indexOf('settled viewer') < sweep, 'the sweep starts after the handshake is done');
  t.ok(sweep < log.indexOf('settled canary'), 'and before the canary, which only waits, settles');
});

t.test('the runner tells how many probes still need the host, and a probe that answers counts again', async (t) => {
  const told: string[] = [];
  const kind = testKind({
    async observe(probe, context) {
      if (probe.id === 'quick') return { state: 'open', reason: 'answered', attempts: 1 };
      context.waiting?.(true);
      await new Promise((resolve) => setTimeout(resolve, 10));
      // An answer: the probe works again (its handshake) until it settles.
      context.waiting?.(false);
      context.waiting?.(false);
      await new Promise((resolve) => setTimeout(resolve, 10));
      return { state: 'open', reason: 'answered late', attempts: 1 };
    },
  });
  const plan = [spec('late', 'handshake', '127.0.0.2'), spec('quick', 'sweep', '127.0.0.2')];
  await runPlan(
    plan,
    () => kind,
    { icmp: null, icmpNote: undefined },
    {
      concurrency: 1,
      onBusy: (busy, inFlight) => told.push(`${busy}/${inFlight}`),
    },
  );
  // 'late' starts and waits at once (only the unstarted 'quick' needs the host), answers (both), settles ('quick'
  // in flight), then 'quick' settles: nothing left.
  t.same(told, ['1/1', '2/1', '1/1', '0/0']);
});

t.test('the sweep keeps in flight only what the waiting named rows leave of the concurrency', async (t) => {
  const plan = [
    spec('canary-1', 'waits', '127.0.0.3'),
    spec('canary-2', 'waits', '127.0.0.3'),
    spec('canary-3', 'waits', '127.0.0.3'),
    ...Array.from({ length: 12 }, (_, i) => spec(`sweep-${i}`, 'sweep', '127.0.0.2')),
  ];
  const { log, peak } = await runLogged(plan, 4);
  t.ok(log.indexOf('start sweep-0') < log.indexOf('settled canary-1'), 'the sweep ran beside the waiting rows');
  t.ok(peak <= 4, `at most 4 in flight at once (saw ${peak})`);
  t.equal(peak, 4, 'and the sweep used the slot left');
});

t.test('the sweep lane beside waiting named rows takes whole waves, the lane after them the tail', async (t) => {
  // 1,204 ports, 235 slots beside 21 waiting rows, 1 s windows, the rows free their slots within 0.94 s: five waves
  // beside them (1,175), the 29 left after them, instead of a sixth wave.
  t.equal(sweepShare(1204, 235, 21, 1000, 940), 1175);
  t.equal(sweepShare(1175, 235, 21, 1000, 940), 1175, 'whole waves: no second lane');
  t.equal(sweepShare(1204, 235, 0, 1000, 940), 1204, 'no named row in flight: one lane');
  // A long tail is no good to a few slots that free late: one more wave of the first lane ends sooner.
  t.equal(sweepShare(1400, 235, 21, 1000, 940), 1400);
  t.equal(sweepShare(12, 1, 3, 400, 400), 4);
});

t.test('waiting rows that fill the concurrency hold the sweep until they settle', async (t) => {
  const plan = [spec('canary', 'waits', '127.0.0.3'), spec('sweep-1', 'sweep', '127.0.0.2')];
  const { log, peak } = await runLogged(plan, 1);
  t.ok(log.indexOf('settled canary') < log.indexOf('start sweep-1'), 'the sweep starts after the canary');
  t.equal(peak, 1, 'never more than --concurrency 1 in flight');
});
