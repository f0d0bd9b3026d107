/** How a finding stands: fine, works with a limit, broken, or not checked for want of input. */
export type FindingStatus = 'ok' | 'warn' | 'fail' | 'skip';

interface FindingBase {
  /** Which check found it: `raw-socket`, `open-files`, `resolvers`, `route`, `clock`, `coordinator`, `token`, `spool`. */
  check: string;
  /** What the finding is about, when a check has several (a route's target). */
  subject?: string;
  /** One line: what was found. */
  message: string;
  /** What was observed, as data (limits, addresses, counts). */
  evidence?: Record<string, unknown>;
}

/** One thing `reachgate doctor` found about this host; every finding that is not ok says what to do. */
export type Finding =
  | (FindingBase & { status: 'ok'; fix?: undefined })
  | (FindingBase & { status: Exclude<FindingStatus, 'ok'>; /** One line: what to do. */ fix: string });

/** A check that did not run for want of input or a tool: what was not checked, and how to have it checked. */
export function skipped(check: string, message: string, fix: string, subject?: string): Finding {
  return { check, ...(subject === undefined ? {} : { subject }), status: 'skip', message, fix };
}
