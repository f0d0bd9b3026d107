import t from 'tap';
import type { ProbeSpec } from '../../src/core/probe-kind.js';
import { eachProbe } from '../../src/core/runner.js';
import { parseTarget } from '../../src/net/target.js';
import { planProbes } from '../../src/run/plan.js';
import { testKind } from '../helpers/test-kind.js';

// A probe plan's port runs (what a pass over a sweep of 65,535 ports reads instead of 65,535 specs): every probe
// once, in order, with its own port, and a spec that is the probe's but for its port and id.
const kind = testKind({ observe: () => Promise.reject(new Error('not probed here')) });

async function plan() {
  return planProbes({
    kind,
    targets: ['127.0.0.1:1-300,443', '[::1]:22,80', '127.0.0.2:7'].map(parseTarget),
    expect: 'blocked',
    blocked: 'drop',
    options: {},
    timeoutMs: 1000,
    attempts: 2,
  });
}

const withoutPort = (spec: ProbeSpec): unknown => ({ ...spec, id: undefined, target: { ...spec.target, port: 0 } });

t.test(
  'a plan visited by its port runs gives each probe, in order, with its port and its spec but for the port',
  async (t) => {
    const probes = await plan();
    const visits: Array<[number, ProbeSpec, number | null]> = [];
    eachProbe(probes, (index, spec, port) => visits.push([index, spec, port]));
    t.equal(visits.length, 304, 'every probe once');
    t.equal(new Set(visits.map(([, spec]) => spec)).size, 3, 'one spec per run');
    const wrong = visits.filter(([index, spec, port]) => {
      const own = probes.at(index)!;
      return port !== own.target.port || JSON.stringify(withoutPort(spec)) !== JSON.stringify(withoutPort(own));
    });
    t.same(wrong, [], "each probe's port, and its spec but for the port");
    t.same(
      visits.map(([index]) => index),
      Array.from({ length: 304 }, (_, index) => index),
      'in plan order',
    );
  },
);

t.test('a plan without port runs (a list of specs) is visited spec by spec', async (t) => {
  const probes = await plan();
  const list = Array.from({ length: probes.length }, (_, index) => probes.at(index)!);
  const visits: Array<[number, string, number | null]> = [];
  eachProbe(list, (index, spec, port) => visits.push([index, spec.id, port]));
  t.same(
    visits,
    list.map((spec, index) => [index, spec.id, spec.target.port]),
  );
});
