import { UsageError } from '../core/usage-error.js';

// What one agent may send and how much of the coordinator it may hold: the bounds that keep one
// hostile or broken agent from slowing the page, the matrix or other agents' ingest.

/** Longest name in a report: agent, role, site, row, kind, host, address, evidence key. */
export const NAME_MAX = 256;
/** Longest result id: it joins role, row, kind and host:port, each a name. */
export const RESULT_ID_MAX = 1024;
/** Longest free text in a report (a reason, a check's detail, a note, any evidence string). */
export const TEXT_MAX = 4096;
/** Largest evidence object of one result, as compact JSON (UTF-16 code units). */
export const EVIDENCE_SIZE_MAX = 16 * 1024;
/** Deepest evidence object of one result: `{a: {b: [..]}}` is 3 levels. */
export const EVIDENCE_DEPTH_MAX = 8;
/** Most results in one report (a full 65,535-port sweep is summarized into fewer results). */
export const RESULTS_MAX = 4096;
/** Longest interval an agent may claim (seconds); agents run at most hourly, this leaves room. */
export const INTERVAL_MAX_S = 86_400;

/** The coordinator's limits on clients; every one an option of `reachgate coordinator`. */
export interface CoordinatorLimits {
  /** Reports per second one agent token may post on average (any answer counts). */
  ratePerSecond: number;
  /** Reports one agent token may post at once after a quiet spell (the bucket's size). */
  rateBurst: number;
  /** Bytes of stored reports one agent may add per day: refilled evenly over 24 h, an hour's share at once at most. */
  agentBytesPerDay: number;
  /** Open connections at most; more are closed at once by the kernel-facing server. */
  maxConnections: number;
  /** Milliseconds a client has to send its request headers. */
  headersTimeoutMs: number;
  /** Milliseconds a client has to send its whole request. */
  requestTimeoutMs: number;
  /** An agent whose latest results are older than this is stale whatever interval it claims (hours). */
  staleAfterHours: number;
  /**
   * Seconds after a one-way probe started within which its nonce's receipt counts, and after which a fresh
   * responder without it turns the row to fail. Every coordinator sharing a database must use the same.
   */
  confirmWindowSeconds: number;
}

/** The defaults: a 40-result report is ~16 KiB; an agent at a 1-minute interval sends ~23 MiB a day. */
export const DEFAULT_LIMITS: Readonly<CoordinatorLimits> = {
  ratePerSecond: 2,
  rateBurst: 60,
  agentBytesPerDay: 64 * 1024 * 1024,
  maxConnections: 4096,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  staleAfterHours: 24,
  confirmWindowSeconds: 60,
};

/** The body limit the limits must leave room for (one report must fit in a day's byte budget). */
export const ONE_REPORT_MAX = 1024 * 1024;

const RANGES: Record<keyof CoordinatorLimits, { option: string; min: number; max: number; integer: boolean }> = {
  ratePerSecond: { option: '--rate-limit', min: 0.001, max: 100_000, integer: false },
  rateBurst: { option: '--rate-burst', min: 1, max: 1_000_000, integer: true },
  agentBytesPerDay: { option: '--agent-bytes-per-day', min: ONE_REPORT_MAX, max: 2 ** 50, integer: true },
  maxConnections: { option: '--max-connections', min: 1, max: 1_000_000, integer: true },
  headersTimeoutMs: { option: 'headersTimeoutMs', min: 100, max: 600_000, integer: true },
  requestTimeoutMs: { option: 'requestTimeoutMs', min: 100, max: 600_000, integer: true },
  staleAfterHours: { option: '--stale-after-hours', min: 0.001, max: 87_600, integer: false },
  confirmWindowSeconds: { option: '--confirm-window', min: 5, max: 3600, integer: true },
};

/** The defaults with `given` over them, each checked against its range; a bad value is a UsageError naming the option. */
export function resolveLimits(given: Partial<CoordinatorLimits> = {}): CoordinatorLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(given) as Array<[keyof CoordinatorLimits, number | undefined]>) {
    if (value === undefined) continue;
    const range = RANGES[key];
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value < range.min ||
      value > range.max ||
      (range.integer && !Number.isInteger(value))
    ) {
      throw new UsageError(
        `Expected \`${range.option}\` to be ${range.integer ? 'a whole number' : 'a number'} from ${range.min} to ${range.max}, got \`${String(value)}\``,
      );
    }
    limits[key] = value;
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs)
    throw new UsageError('the headers timeout must not be longer than the request timeout');
  return limits;
}
