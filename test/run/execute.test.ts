import t from 'tap';
import type { ProbeSpec } from '../../src/core/probe-kind.js';
import { executePlan } from '../../src/run/execute.js';
import { testKind } from '../helpers/test-kind.js';

function spec(id: string, sweep: boolean, options: object): ProbeSpec {
  return {
    id,
    kind: 'fake',
    target: { host: 'h', address: null, port: 1, protocol: 'tcp' },
    expect: 'reachable',
    options,
    timeoutMs: 1000,
    attempts: 1,
    ...(sweep ? { sweep: true } : {}),
  };
}

t.test('named rows run before sweeps, and results keep plan order', async (t) => {
  const started: string[] = [];
  const prepared: unknown[] = [];
  const kind = testKind({
    prepare: (options) => {
      prepared.push(options);
      return Promise.resolve();
    },
    async observe(probe) {
      started.push(probe.id);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { state: 'open', reason: 'ok', attempts: 1 };
    },
  });
  const shared = { tls: true };
  const plan = [
    spec('sweep-1', true, shared),
    spec('viewer', false, shared),
    spec('sweep-2', true, shared),
    spec('sftp', false, {}),
  ].map((probe) => ({ ...probe, target: { ...probe.target, address: '127.0.0.1' } }));
  const seen: number[] = [];
  const results = await executePlan(plan, () => kind, {
    concurrency: 8,
    onResult: (_, index) => seen.push(index),
    warn: (message) => t.fail(message),
  });
  t.same(started.slice(0, 2).sort(), ['sftp', 'viewer'], 'both named rows start before any sweep probe');
  t.same(
    results.map((result) => result.id),
    ['sweep-1', 'viewer', 'sweep-2', 'sftp'],
  );
  t.same(seen.sort(), [0, 1, 2, 3], 'onResult gets plan indexes');
  t.equal(prepared.length, 2, 'each distinct options object is prepared once');
});

t.test('a concurrency above the open-files limit is a warning for the caller, not a line on stderr', async (t) => {
  const kind = testKind({
    observe: async () => ({ state: 'open', reason: 'ok', attempts: 1 }),
  });
  const warnings: string[] = [];
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const viewer = spec('viewer', false, {});
    const plan = [{ ...viewer, target: { ...viewer.target, address: '127.0.0.1' } }];
    const warn = (message: string): number => warnings.push(message);
    await executePlan(plan, () => kind, { concurrency: Number.MAX_SAFE_INTEGER, warn });
  } finally {
    process.stderr.write = write;
  }
  const text = /^--concurrency \d+ is above what the open-files limit allows; using \d+ \(raise it with ulimit -n\)$/;
  t.match(warnings, [text]);
  t.same(written, [], 'nothing on stderr');
});
