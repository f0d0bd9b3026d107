import t from 'tap';
import { FinalResults } from '../../src/run/final-results.js';
import type { ProbeSpec } from '../../src/core/probe-kind.js';
import type { ProbeResult } from '../../src/core/result.js';
import { tcpResult } from '../helpers/probe-results.js';

const ROUTE = { source: '192.0.2.2', dev: 'eth0' };

/** A blocked-path result of row `r` at `address:port`, named by host `h`, as the runner judges it. */
function blocked(address: string, port: number, fields: Partial<ProbeResult> = {}): ProbeResult {
  const base = tcpResult('r', address, port, {
    expect: 'blocked',
    state: 'filtered',
    verdict: 'pass',
    reason: 'no answer within 1 s',
    ...fields,
  });
  return { ...base, target: { ...base.target, host: 'h' } };
}

const asPlan = (results: ProbeResult[], sweep = false): ProbeSpec[] =>
  results.map((result) => ({ ...result, sweep }) as unknown as ProbeSpec);

t.test('results that come before the routes are known wait for them, then go out with their route', async (t) => {
  const results = [blocked('192.0.2.10', 1), blocked('198.51.100.10', 1)];
  const out: Array<[string, number]> = [];
  const finals = new FinalResults(asPlan(results), (result, index) =>
    out.push([JSON.stringify(result.evidence ?? {}), index]),
  );
  finals.take(results[1]!, 1);
  t.same(out, [], 'nothing goes out before the routes');
  finals.routesKnown(new Map([['192.0.2.10', ROUTE]]));
  finals.take(results[0]!, 0);
  t.same(out, [
    ['{}', 1],
    [JSON.stringify({ route: ROUTE }), 0],
  ]);
});

t.test("a sweep's route goes to its first probe in plan order, whichever probe finishes first", async (t) => {
  const results = [1, 2, 3].map((port) => blocked('192.0.2.10', port));
  const out: ProbeResult[] = [];
  const finals = new FinalResults(asPlan(results, true), (result, index) => (out[index] = result));
  finals.routesKnown(new Map([['192.0.2.10', ROUTE]]));
  for (const index of [2, 0, 1]) finals.take(results[index]!, index);
  t.same(
    out.map((result) => result.evidence?.route !== undefined),
    [true, false, false],
  );
});

t.test('one result of a family pair waits for the other, then both name how the families differed', async (t) => {
  const v4 = blocked('192.0.2.10', 22);
  const v6 = blocked('2001:db8::10', 22, { state: 'closed', reason: 'refused' });
  const alone = blocked('192.0.2.10', 23);
  const out: ProbeResult[] = [];
  const finals = new FinalResults(asPlan([v4, v6, alone]), (result, index) => (out[index] = result));
  finals.routesKnown(new Map());
  finals.take(v6, 1);
  t.equal(out.length, 0, 'the IPv6 result waits for its IPv4 partner');
  finals.take(alone, 2);
  finals.take(v4, 0);
  t.equal(out[0]!.reason, 'no answer within 1 s; IPv4 dropped, IPv6 rejected with a TCP reset');
  t.equal(out[1]!.reason, 'refused; IPv4 dropped, IPv6 rejected with a TCP reset');
  t.equal(out[2], alone, 'a probe without a partner goes out as it came');
});
