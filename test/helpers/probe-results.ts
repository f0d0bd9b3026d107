import type { ProbeResult } from '../../src/core/result.js';

/** A passing TCP result of `row` at `address:port`, as an agent reports it; `fields` change any part of it. */
export function tcpResult(row: string, address: string, port: number, fields: Partial<ProbeResult> = {}): ProbeResult {
  return {
    id: `${row}/${address}:${port}`,
    row,
    kind: 'tcp',
    target: { host: address, address, port, protocol: 'tcp' },
    expect: 'reachable',
    state: 'open',
    verdict: 'pass',
    reason: 'connected in 0.4 ms',
    attempts: 1,
    started_at: '2026-11-26T11:59:00.000Z',
    ...fields,
  };
}
