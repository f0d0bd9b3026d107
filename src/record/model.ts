import type { MatrixResult, MatrixSummary } from '../core/matrix.js';
import type { Overlap, Verdict } from '../core/result.js';

// The acceptance record: what a site's agents showed at sign-off, who accepted it and why (docs/acceptance-record.md).

/** The `type` every acceptance record carries. */
export const RECORD_TYPE = 'reachgate-acceptance-record';
/** The record format this reachgate writes and reads. */
export const RECORD_FORMAT = 1;

/** A profile the agents ran, by its content digest, and how many agents ran it. */
export interface RecordProfile {
  name: string;
  /** SHA-256 (hex) of the profile file's text, as the agents reported it. */
  sha256: string;
  agents: number;
}

/** One negative probe's control as the record judged it: which role had to reach the target, and who did. */
export interface RecordControl {
  row: string;
  /** The role whose reaching the target proves the block. */
  control: string;
  /** address:port/protocol of the blocked target. */
  target: string;
  /** Blocked results that name this control. */
  results: number;
  /** Of those, how many an agent of the control role met (saw the target open). */
  met: number;
  /** The first agents of the control role that saw the target open. */
  seen_by: string[];
}

/** One agent as the record holds it: who and what it ran, its latest report, its cells and every result. */
export interface RecordAgent {
  name: string;
  role: string | null;
  version: string;
  /** The host name the agent ran on, when its report says. */
  host: string | null;
  profile: { name: string; sha256: string } | null;
  /** SHA-256 (hex) of the site file the agent ran against, when its report says. */
  site_sha256: string | null;
  edition: string | null;
  /** The report the agent's results come from: its id, its RFC 8785 SHA-256 (hex), and its times. */
  report: { id: string; sha256: string; started_at: string; finished_at: string; received_at: string };
  /** The agent's latest report was older than twice its interval when the record was made. */
  stale: boolean;
  /** The agent's verdict per row. */
  cells: Record<string, Verdict>;
  overlaps: Overlap[];
  not_proven: Array<{ row: string; text: string }>;
  /** Every result, as the matrix judged it (a negative probe's control applied), with its evidence. */
  results: MatrixResult[];
}

/** Where the record's reports came from. */
export type RecordSource = { kind: 'coordinator'; url: string } | { kind: 'reports'; files: string[] };

/** The statement an approver signs: a site's matrix at sign-off, in full. */
export interface AcceptanceRecord {
  type: typeof RECORD_TYPE;
  format: typeof RECORD_FORMAT;
  site: string | null;
  /** The site's edition(s) the agents reported, joined; null when none did. */
  edition: string | null;
  /** Each distinct site-file SHA-256 (hex) the agents reported, and how many agents ran against it. */
  site_files: Array<{ sha256: string; agents: number }>;
  profiles: RecordProfile[];
  /** From the earliest report's start to the latest report's end. */
  window: { from: string; to: string };
  /** Who accepted the site. */
  approver: string;
  /** The change (ticket) the acceptance belongs to. */
  change: string;
  created_at: string;
  generator: { name: 'reachgate'; version: string };
  source: RecordSource;
  /** The worst cell verdict: pass only when every cell passed. */
  verdict: Verdict;
  summary: MatrixSummary;
  rows: string[];
  controls: RecordControl[];
  agents: RecordAgent[];
}

/** What the signature covers (the JWS payload): the RFC 8785 SHA-256 of each part of the record. */
export interface RecordDigests {
  typ: 'reachgate-acceptance-record-digests';
  format: typeof RECORD_FORMAT;
  canonicalization: 'RFC 8785';
  digest: 'sha-256';
  /** Each top-level member of the record but `agents`, by name. */
  parts: Record<string, string>;
  /** Each agent: its name, each member but `results` by name, and each result in order. */
  agents: Array<{ name: string; members: Record<string, string>; results: string[] }>;
}

/** A JWS in the flattened JSON serialization (RFC 7515 section 7.2.2). */
export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

/** A record file: the record in clear, and the JWS over its digests. */
export interface SignedRecord {
  record: AcceptanceRecord;
  jws: FlattenedJws;
}
