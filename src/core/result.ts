/** What the network showed for one probe (DESIGN.md "Result model"). */
export type State = 'open' | 'closed' | 'filtered' | 'prohibited' | 'unreachable' | 'unresolved' | 'error';

/** The judgement of a state and check against the expectation. */
export type Verdict = 'pass' | 'fail' | 'inconclusive' | 'error';

/** What the probe author expects of the path. */
export type Expectation = 'reachable' | 'blocked';

/** How a blocked path must be blocked: silently dropped, rejected with an answer, or either. */
export type BlockedMode = 'drop' | 'reject' | 'any';

/** Every blocked mode, the default last. */
export const BLOCKED_MODES: readonly BlockedMode[] = ['drop', 'reject', 'any'];

/** Every state, in the order the result model lists them. */
export const STATES: readonly State[] = [
  'open',
  'closed',
  'filtered',
  'prohibited',
  'unreachable',
  'unresolved',
  'error',
];

/** Every verdict, in the order the result model lists them. */
export const VERDICTS: readonly Verdict[] = ['pass', 'fail', 'inconclusive', 'error'];

/** The application check, present only when the port answered. */
export interface Check {
  ok: boolean;
  detail: string;
}

/** An ICMP error that was matched to the probe. */
export interface IcmpEvidence {
  type: number;
  code: number;
  /** Address of the host or router that sent the ICMP error. */
  from: string;
}

/** The concrete endpoint a probe is about: one address, one port. */
export interface Target {
  host: string;
  /** The resolved address; null when the name did not resolve. */
  address: string | null;
  port: number | null;
  protocol: 'tcp' | 'udp' | 'icmp';
}

/** What a probe kind observed: the data a ProbeResult is made of before it is judged. */
export interface Observation {
  state: State;
  check?: Check;
  /** One line for a human: how the path answered. */
  reason: string;
  rtt_ms?: number;
  attempts: number;
  icmp?: IcmpEvidence;
  evidence?: Record<string, unknown>;
  /** The protocol never answers (syslog over UDP): silence proves neither open nor blocked. */
  silenceExpected?: boolean;
}

/** One probe's outcome, judged: data, never an exception. */
export interface ProbeResult {
  id: string;
  row?: string;
  kind: string;
  target: Target;
  expect: Expectation;
  /** How the path must be blocked, when the expectation names more than `blocked` (drop or reject). */
  blocked?: Exclude<BlockedMode, 'any'>;
  state: State;
  check?: Check;
  verdict: Verdict;
  reason: string;
  rtt_ms?: number;
  attempts: number;
  icmp?: IcmpEvidence;
  started_at: string;
  evidence?: Record<string, unknown>;
  /** For a negative probe: the role whose reaching the same target proves the block. */
  control?: string;
  /** The responder role whose receipt of the probe's nonce proves (or whose silence disproves) delivery. */
  confirm?: string;
  note?: string;
}

/** A probe left out because another row covers the same target, port and transport. */
export interface Overlap {
  row: string;
  kept: string;
  target: string;
  port: number | null;
  protocol: string;
  reason: string;
}

/** Verdict counts of a run. */
export interface Summary {
  pass: number;
  fail: number;
  inconclusive: number;
  error: number;
}

/** Everything one run produced: the document agents deliver and `--json` prints. */
export interface RunReport {
  id: string;
  agent: string;
  role: string | null;
  site: string | null;
  profile: { name: string; hash: string } | null;
  version: string;
  started_at: string;
  finished_at: string;
  results: ProbeResult[];
  summary: Summary;
  /** The site file's content hash, when run from a profile. */
  site_hash?: string;
  /** The site's edition, when run from a profile. */
  edition?: string;
  /** The host name of the machine that ran the probes (the agent name may differ). */
  host?: string;
  /** Probes left out because another row covers the same target, port and transport. */
  overlaps?: Overlap[];
  /** Parts of the port table this run cannot prove, and why. */
  not_proven?: Array<{ row: string; text: string }>;
  /** Seconds between an agent's runs (at most a day): the coordinator marks the agent stale after twice this. */
  interval_s?: number;
}
