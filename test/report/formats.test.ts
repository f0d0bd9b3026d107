import t from 'tap';
import type { ProbeResult, RunReport } from '../../src/core/result.js';
import { formatJunit } from '../../src/report/junit.js';
import { formatTap } from '../../src/report/tap.js';
import { formatNagios, nagiosStatus } from '../../src/report/nagios.js';
import { formatRunTable } from '../../src/report/run-table.js';
import { summarize } from '../../src/core/verdict.js';

function result(
  row: string,
  port: number,
  state: ProbeResult['state'],
  verdict: ProbeResult['verdict'],
  reason: string,
): ProbeResult {
  return {
    id: `${row}/${port}`,
    row,
    kind: 'tcp',
    target: { host: 'tightgate', address: '198.51.100.10', port, protocol: 'tcp' },
    expect: row === 'viewer' ? 'reachable' : 'blocked',
    state,
    verdict,
    reason,
    attempts: 1,
    started_at: '2026-11-26T10:00:00.000Z',
  };
}

function report(results: ProbeResult[]): RunReport {
  return {
    id: 'r1',
    agent: 'ws-01 <b>',
    role: 'workstation',
    site: 'lab & co',
    profile: { name: 'tightgate/workstation', hash: 'ab'.repeat(32) },
    version: '0.1.0',
    started_at: '2026-11-26T10:00:00.000Z',
    finished_at: '2026-11-26T10:00:02.500Z',
    results,
    summary: summarize(results.map((r) => r.verdict)),
  };
}

const sweep = Array.from({ length: 10 }, (_, i) =>
  result('tightgate-only-intended', 100 + i, 'filtered', 'pass', 'no answer within 1 s (1 attempt): silently dropped'),
);
const mixed = report([
  result('viewer', 5900, 'filtered', 'fail', 'no answer within 1 s <dropped> & "quoted" | piped'),
  ...sweep,
  result('tightgate-only-intended', 22, 'open', 'fail', 'connected in 0.4 ms'),
]);

t.test('JUnit has a testsuite per row, a testcase per probe, and the reason as failure message, escaped', async (t) => {
  const xml = formatJunit(mixed);
  t.match(
    xml,
    /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="reachgate lab &amp; co workstation" tests="12" failures="2" errors="0" time="2.500">/,
  );
  t.equal(xml.match(/<testsuite /g)?.length, 2);
  t.equal(xml.match(/<testcase /g)?.length, 12);
  t.match(
    xml,
    /<failure type="fail" message="filtered: no answer within 1 s &lt;dropped&gt; &amp; &quot;quoted&quot; \| piped"\/>/,
  );
  t.match(xml, /hostname="ws-01 &lt;b&gt;"/);
  t.notMatch(xml, /<b>/);
});

t.test('TAP 14 has a plan that matches its test points and YAML diagnostics', async (t) => {
  const tap = formatTap(mixed);
  const lines = tap.split('\n');
  t.equal(lines[0], 'TAP version 14');
  t.equal(lines[1], '1..12');
  t.equal(lines.filter((line) => /^(not )?ok \d+ - /.test(line)).length, 12);
  t.match(
    tap,
    /^not ok 1 - viewer: tcp tightgate 198\.51\.100\.10:5900\/tcp expect reachable\n  ---\n  verdict: fail\n  state: filtered\n/m,
  );
});

t.test('Nagios prints one status line with counts and perfdata, and the plugin status', async (t) => {
  const text = formatNagios(mixed);
  const [status] = text.split('\n');
  t.match(
    status,
    /^REACHGATE CRITICAL - 10 of 12 pass, 2 fail, 0 inconclusive, 0 error \(lab & co workstation\); first: viewer .* \| pass=10;;;0;12 fail=2;;1;0;12 inconclusive=0;1;;0;12 error=0;;;0;12 duration=2\.500s;;;0;$/,
  );
  t.equal(status!.split('|').length, 2, "the reason's own pipe is not taken for perfdata");
  t.equal(nagiosStatus(mixed), 'critical');
  t.equal(nagiosStatus(report(sweep)), 'ok');
  t.equal(nagiosStatus(report([{ ...sweep[0]!, verdict: 'inconclusive' }])), 'warning');
  t.equal(nagiosStatus(report([{ ...sweep[0]!, verdict: 'error' }])), 'unknown');
});

t.test("the table groups by row and folds a sweep's alike results into one line with port ranges", async (t) => {
  const table = formatRunTable(mixed, false);
  t.match(
    table,
    /^site lab & co · role workstation · agent ws-01 <b> · profile tightgate\/workstation \(sha256 abababababab\)/,
  );
  t.match(table, /\nviewer  \(1 probe, 1 not passed\)\n  FAIL/);
  t.match(table, /\ntightgate-only-intended  \(11 probes, 1 not passed\)\n/);
  t.match(table, /PASS        filtered    tcp tightgate 198\.51\.100\.10\/tcp .* \[10 ports: 100-109\]/);
  t.match(table, /FAIL        open        tcp tightgate 198\.51\.100\.10:22\/tcp/);
  t.match(table, /12 probes: 10 pass, 2 fail\n$/);
});
