// The baseline's history: each accepted baseline is a link that names the digest of the one before it,
// so that a changed, removed or inserted link breaks the chain where it happened.
//
//   cells digest  sha-256 over the cells sorted by agent then row, one `agent\trow\tverdict\n` line each
//   link digest   sha-256 over the JSON of [version, cells digest, approver, change, accepted_at, previous]
//                 (an array: no key order to agree on), `previous` the digest before it or null for the first
import { createHash } from 'node:crypto';
import type { Baseline } from '../core/matrix.js';

/** The version of the link serialization; part of every digest. */
export const LINK_FORMAT = 'reachgate-baseline-link/1';
/** Longest approver and change reference accepted (characters). */
export const MAX_LINK_TEXT = 200;

/** Who accepted a baseline and why, as the client gives it. */
export interface BaselineApproval {
  approver: string;
  change: string;
}

/** One link of the chain as the store keeps it (without its cells). */
export interface BaselineLink extends BaselineApproval {
  /** Position in the chain, 1 for the first link. */
  seq: number;
  digest: string;
  /** The digest of the link before, or null for the first. */
  previous: string | null;
  accepted_at: string;
  /** The id of the viewer token that accepted it. */
  accepted_by: string | null;
  /** How many cells it holds. */
  cells: number;
}

/** A link as the log lists it: with the digest of its cells as the store holds them now. */
export interface LoggedLink extends BaselineLink {
  cells_digest: string;
}

/**
 * The chain's table, the same SQL for SQLite and PostgreSQL (schema version 4). `previous` is '' for
 * the first link; being unique, it lets one link follow each digest, so two accepts at once cannot fork it.
 */
export const CHAIN_SCHEMA = `
  CREATE TABLE baseline_links (
    seq INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    previous TEXT NOT NULL UNIQUE,
    approver TEXT NOT NULL,
    change_ref TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    accepted_by TEXT,
    cells INTEGER NOT NULL,
    json TEXT NOT NULL
  );`;

/** The digest of a baseline's cells (canonical: sorted, one tab-separated line per cell). */
export function cellsDigest(baseline: Baseline): string {
  const hash = createHash('sha256');
  for (const key of Object.keys(baseline).sort()) {
    const split = key.lastIndexOf('|');
    hash.update(`${key.slice(0, split)}\t${key.slice(split + 1)}\t${baseline[key]}\n`);
  }
  return hash.digest('hex');
}

/** The digest of a link from its parts. */
export function linkDigest(parts: {
  cells_digest: string;
  approver: string;
  change: string;
  accepted_at: string;
  previous: string | null;
}): string {
  const canonical = JSON.stringify([
    LINK_FORMAT,
    parts.cells_digest,
    parts.approver,
    parts.change,
    parts.accepted_at,
    parts.previous,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** What is wrong with a link of the chain. */
export interface ChainBreak {
  seq: number;
  digest: string;
  problem: string;
}

/**
 * Check a chain given oldest first: every link's digest must match its parts and name the link before
 * it (the first link of the list may follow links not listed, when `complete` is false).
 */
export function verifyChain(links: readonly LoggedLink[], complete: boolean): ChainBreak[] {
  const breaks: ChainBreak[] = [];
  links.forEach((link, index) => {
    const expected = linkDigest(link);
    if (expected !== link.digest)
      breaks.push({
        seq: link.seq,
        digest: link.digest,
        problem: `its digest does not match its cells, approver, change, time and previous link (computed ${expected})`,
      });
    const before = links[index - 1];
    if (before) {
      if (link.previous !== before.digest)
        breaks.push({
          seq: link.seq,
          digest: link.digest,
          problem: `it names ${link.previous ?? 'no link'} as the previous link, but the link before it is ${before.digest}`,
        });
      if (link.seq !== before.seq + 1)
        breaks.push({ seq: link.seq, digest: link.digest, problem: `link ${before.seq + 1} is missing before it` });
    } else if (complete && (link.previous !== null || link.seq !== 1)) {
      breaks.push({
        seq: link.seq,
        digest: link.digest,
        problem: `it is the first link kept, but ${link.previous === null ? `its number is ${link.seq}` : `it names ${link.previous} as the previous link`}`,
      });
    }
  });
  return breaks;
}

/** Check the approver and change of a request body; the message names the field (for a 422). */
export function approvalProblem(body: unknown): { field: string; message: string } | undefined {
  const value =
    body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  for (const field of ['approver', 'change'] as const) {
    const text = value[field];
    if (text === undefined)
      return {
        field,
        message: `\`${field}\` is required: ${field === 'approver' ? 'who accepts this baseline' : 'the change reference (ticket) it belongs to'}`,
      };
    if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_LINK_TEXT || /\p{Cc}/u.test(text))
      return {
        field,
        message: `\`${field}\` must be text of 1 to ${MAX_LINK_TEXT} characters without control characters`,
      };
  }
  return undefined;
}

/** The link that follows `last` (null: the first) for a baseline accepted now. */
export function nextLink(
  last: { seq: number | string; digest: string } | undefined,
  accepted: { baseline: Baseline; accepted_at: string; accepted_by: string | null } & BaselineApproval,
): BaselineLink {
  const previous = last?.digest ?? null;
  return {
    seq: Number(last?.seq ?? 0) + 1,
    digest: linkDigest({ ...accepted, cells_digest: cellsDigest(accepted.baseline), previous }),
    previous,
    approver: accepted.approver,
    change: accepted.change,
    accepted_at: accepted.accepted_at,
    accepted_by: accepted.accepted_by,
    cells: Object.keys(accepted.baseline).length,
  };
}

/** A baseline_links row as both stores read it. */
export interface LinkRow {
  seq: number | string;
  digest: string;
  previous: string;
  approver: string;
  change_ref: string;
  accepted_at: string;
  accepted_by: string | null;
  cells: number | string;
  json: string;
}

/** The columns of LinkRow, for SELECT. */
export const LINK_COLUMNS = 'seq, digest, previous, approver, change_ref, accepted_at, accepted_by, cells, json';

/** A link's values in LINK_COLUMNS order: seq, digest, previous ('' for none), approver, change, accepted_at, accepted_by, cells, json. */
export type LinkValues = [number, string, string, string, string, string, string | null, number, string];

/** A link's values for INSERT (LINK_COLUMNS order); `json` is the accepted baseline as stored. */
export function linkValues(link: BaselineLink, json: string): LinkValues {
  return [
    link.seq,
    link.digest,
    link.previous ?? '',
    link.approver,
    link.change,
    link.accepted_at,
    link.accepted_by,
    link.cells,
    json,
  ];
}

/** A stored link as the log lists it, its cells hashed as they are stored now. */
export function loggedLinkOf(row: LinkRow): LoggedLink {
  return {
    seq: Number(row.seq),
    digest: row.digest,
    previous: row.previous === '' ? null : row.previous,
    approver: row.approver,
    change: row.change_ref,
    accepted_at: row.accepted_at,
    accepted_by: row.accepted_by,
    cells: Number(row.cells),
    cells_digest: cellsDigest(JSON.parse(row.json) as Baseline),
  };
}
