import type { Test } from 'tap';
import type { RunReport } from '../../src/core/result.js';

/** The claim of a loss test: all `probes` probes found the server open, and some needed every one of `attempts`. */
export function assertOpenThroughLoss(t: Test, report: RunReport, probes: number, attempts: number): void {
  t.equal(report.results.length, probes);
  t.same(
    report.results.filter((result) => result.state !== 'open').map((result) => result.reason),
    [],
    'every probe open',
  );
  t.ok(
    report.results.some((result) => result.attempts === attempts),
    `some probes needed all ${attempts} attempts`,
  );
}
