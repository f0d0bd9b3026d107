import type { Test } from 'tap';
import { labUnavailable } from '../../src/lab/lab.js';

export * from '../../src/lab/lab.js';

/**
 * Skip (outside CI) or fail (when process.env.CI === 'true') a test that needs the lab.
 * Returns true when the caller must return.
 */
export function needsLab(t: Test): boolean {
  const reason = labUnavailable();
  if (reason === null) return false;
  const message = `needs root and network namespaces (ip netns, nft): ${reason}`;
  // A skipped lab test must not let CI pass unnoticed.
  if (process.env.CI === 'true') t.fail(message);
  else t.plan(0, message);
  return true;
}
