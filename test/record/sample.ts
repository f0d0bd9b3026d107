import type { ProbeResult, RunReport } from '../../src/core/result.js';
import { summarize } from '../../src/core/verdict.js';
import { tcpResult } from '../helpers/probe-results.js';

/** A workstation's and a tightgate's reports of site hq: open rows, a blocked row met by its control, one not met. */
export function sampleReports(finishedAt = new Date('2026-11-30T05:00:02.000Z')): RunReport[] {
  const started = new Date(finishedAt.getTime() - 2000).toISOString();
  const report = (agent: string, role: string, results: ProbeResult[]): RunReport => ({
    id: `report-${agent}`,
    agent,
    role,
    site: 'hq',
    profile: { name: `tightgate/${role}`, hash: (role === 'tightgate' ? 'a1' : 'b2').repeat(32) },
    version: '0.1.0',
    started_at: started,
    finished_at: finishedAt.toISOString(),
    results,
    summary: summarize(results.map((result) => result.verdict)),
    site_hash: 'cd'.repeat(32),
    edition: 'standard',
    host: `${agent}.hq.example`,
    overlaps: [
      {
        row: 'viewer-tls',
        kept: 'viewer',
        target: 'tightgate',
        port: 5900,
        protocol: 'tcp',
        reason: 'same port as viewer',
      },
    ],
    not_proven: [{ row: 'syslog', text: 'UDP syslog never answers: needs a responder' }],
  });
  return [
    report('ws-01', 'workstation', [
      tcpResult('viewer', '198.51.100.10', 5900, { evidence: { banner: 'RFB 003.008' }, started_at: started }),
      tcpResult('no-direct-internet', '203.0.113.80', 443, {
        expect: 'blocked',
        state: 'prohibited',
        reason: 'rejected by 192.0.2.1: ICMP admin-prohibited after 0.4 ms',
        icmp: { type: 3, code: 13, from: '192.0.2.1' },
        control: 'tightgate',
        started_at: started,
      }),
      tcpResult('no-direct-internet', '203.0.113.99', 443, {
        expect: 'blocked',
        state: 'filtered',
        reason: 'no answer within 2 s',
        control: 'tightgate',
        started_at: started,
      }),
    ]),
    report('tg-01', 'tightgate', [
      tcpResult('web', '203.0.113.80', 443, { evidence: { tls: { protocol: 'TLSv1.3' } }, started_at: started }),
    ]),
  ];
}
