import type { ProbeKind } from '../../src/core/probe-kind.js';

/** A probe kind for runner tests: `fake`, over TCP, no options; the test gives what it observes (and may override more). */
export function testKind(parts: Partial<ProbeKind> & Pick<ProbeKind, 'observe'>): ProbeKind {
  return {
    name: 'fake',
    summary: 'test double',
    protocol: 'tcp',
    defaultAttempts: 1,
    cliOptions: {},
    examples: [],
    parseOptions: () => ({}),
    ...parts,
  };
}
