import t from 'tap';
import { HeldRun } from '../../src/report/held-run.js';
import { formatRunTable } from '../../src/report/run-table.js';
import type { ProbeResult, RunReport } from '../../src/core/result.js';
import type { ReportHead } from '../../src/core/run-report.js';
import { tcpResult } from '../helpers/probe-results.js';

const HEAD: ReportHead = {
  id: 'r-1',
  agent: 'ws-1',
  role: 'workstation',
  site: 'lab',
  profile: { name: 'tightgate/workstation', hash: 'a'.repeat(64) },
  version: '0.1.0',
  started_at: '2026-11-30T09:00:00.000Z',
  host: 'ws-1',
  overlaps: [],
  not_proven: [],
};
const FINISHED = new Date('2026-11-30T09:02:00.000Z');

/** A sweep of silent ports (enough to write the JSON in several chunks), one open port and a named row. */
function results(): ProbeResult[] {
  const swept = Array.from({ length: 600 }, (_, i) =>
    tcpResult('sweep', '198.51.100.10', i + 1, {
      expect: 'blocked',
      state: 'filtered',
      reason: `no answer within 1 s; silent to 5 attempts in 5 rounds ${'x'.repeat(100)}`,
    }),
  );
  return [tcpResult('viewer', '198.51.100.10', 5900), ...swept, tcpResult('sweep', '198.51.100.10', 5900)];
}

t.test('a held run writes the JSON report of its results in plan order, byte for byte', async (t) => {
  const all = results();
  const held = new HeldRun();
  // In completion order: last first.
  for (let index = all.length - 1; index >= 0; index -= 1) held.add(all[index]!, index);
  const summary = { pass: all.length, fail: 0, inconclusive: 0, error: 0 };
  held.end(HEAD, FINISHED, summary);
  const report: RunReport = { ...HEAD, finished_at: FINISHED.toISOString(), results: all, summary };
  const chunks: string[] = [];
  held.writeJson((chunk) => chunks.push(chunk));
  t.ok(chunks.length > 1, 'written in chunks');
  t.equal(chunks.join(''), `${JSON.stringify(report)}\n`);
  t.same(held.report(), report);
  t.equal(held.table(false), formatRunTable(report, false));
  t.match(held.table(false), /\[600 ports: 1-600\]/);
});
