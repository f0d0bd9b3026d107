import t from 'tap';
import type { ProbeResult, RunReport, Summary } from '../../src/core/result.js';
import type { ReportHead } from '../../src/core/run-report.js';
import { JsonReportWriter } from '../../src/report/json-stream.js';

// The streamed RunReport of `probe --json`: the document JSON.stringify would make of the report, whether its head
// comes first or after the first results (the probe command opens it once the probes are on their way).
const head: ReportHead = {
  id: 'a1b2',
  agent: 'ws-1',
  role: null,
  site: null,
  profile: null,
  version: '0.1.0',
  started_at: '2026-11-30T11:00:00.000Z',
  host: 'ws-1',
};
const result = (port: number): ProbeResult => ({
  id: `tcp:127.0.0.1:${port}`,
  kind: 'tcp',
  target: { host: '127.0.0.1', address: '127.0.0.1', port, protocol: 'tcp' },
  expect: 'reachable',
  state: 'closed',
  verdict: 'fail',
  reason: `refused (TCP reset) after 0.1 ms: nothing listens, or a filter answers with a reset ${'.'.repeat(port % 7)}`,
  rtt_ms: 0.1,
  attempts: 1,
  started_at: '2026-11-30T11:00:00.001Z',
  evidence: { scan: 'syn', engine: 'native' },
});
const summary: Summary = { pass: 0, fail: 0, inconclusive: 0, error: 0 };
const finishedAt = new Date('2026-11-30T11:00:01.000Z');

/** Write `count` results with the head opened after `openAfter` of them; the chunks written. */
function written(count: number, openAfter: number): string[] {
  const chunks: string[] = [];
  const writer = new JsonReportWriter((text) => chunks.push(text), openAfter === 0 ? head : undefined);
  for (let port = 1; port <= count; port += 1) {
    writer.add(result(port));
    if (port === openAfter) writer.open(head);
  }
  writer.end(finishedAt, { ...summary, fail: count });
  return chunks;
}

function expected(count: number): RunReport {
  const results = Array.from({ length: count }, (_, index) => result(index + 1));
  return { ...head, results, finished_at: finishedAt.toISOString(), summary: { ...summary, fail: count } };
}

t.test('a report opened before, amid or after thousands of results is the JSON of the whole report', async (t) => {
  for (const openAfter of [0, 1, 500, 2000]) {
    const chunks = written(2000, openAfter);
    t.ok(chunks.length > 1, `written in chunks (head after ${openAfter})`);
    t.ok(chunks[0]!.startsWith('{"id":"a1b2"'), 'the head comes first');
    t.same(JSON.parse(chunks.join('')), expected(2000), `the same document (head after ${openAfter})`);
  }
});

t.test('nothing is written before the head is known, and a report without a head cannot end', async (t) => {
  const chunks: string[] = [];
  const writer = new JsonReportWriter((text) => chunks.push(text));
  for (let port = 1; port <= 1000; port += 1) writer.add(result(port));
  t.equal(chunks.length, 0, 'the results wait for the head');
  t.throws(() => writer.end(finishedAt, summary), /no head/);
  writer.open(head);
  t.ok(chunks.length > 0, 'the head lets them out');
  t.throws(() => writer.open(head), /set already/);
});

t.test('an empty report is the JSON of a report without results', async (t) => {
  t.same(JSON.parse(written(0, 0).join('')), expected(0));
});
