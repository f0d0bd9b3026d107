// The site's counts (the matrix summary, the overview's counts per role and row, /metrics' cell series) kept per
// state of the database. Every report changes the state, and counting means judging every cell (a negative
// probe's control, confirmations, staleness, drift): seconds for 2 million cells. So:
//
//   - a small site (at most EXACT_AGENTS agents) is counted before the answer whenever its state changed: its
//     counts are always those of the current state; so is a site that has no count yet, or more than twice the
//     agents of its last count; a site whose last count took at most EXACT_MS is counted before the answer too,
//     but only once GAP_FACTOR x that count's duration has passed since it ended (meanwhile it is answered with
//     that count, as below): under ingest every read would otherwise count again;
//   - a large site is answered at once with the last count and its time (`summary.as_of`, `current: false`)
//     while one count at a time runs in the background, on one consistent snapshot of the database, at most
//     one count per max(MIN_GAP_MS, GAP_FACTOR x its last duration) so that counting never takes more than a
//     fifth of the database's time from ingest;
//   - every count is kept in the database (matrix_counts) with its time: the first view after a start, and
//     every coordinator sharing the database, serve the newest count at once instead of counting first.
import { agentsOfVersion, matrixVersion, readMatrixWhole, type KeptCounts, type MatrixWhole } from './cells.js';
import type { Store } from './store.js';

/** A site of at most this many agents (20,000 cells of 40 rows) is counted before any answer that needs its counts. */
export const EXACT_AGENTS = 500;
/** A count that took at most this long (ms) is waited for, whatever the size. */
const EXACT_MS = 250;
/** Background counts start at most this often, and at most once per GAP_FACTOR times the last one's duration. */
const MIN_GAP_MS = 5000;
const GAP_FACTOR = 4;

/** When answers wait for a count and how often counts run: the defaults above where not given. */
export interface CountThresholds {
  exactAgents?: number;
  exactMs?: number;
  minGapMs?: number;
  gapFactor?: number;
}

/** The counts an answer shows: of the current state (`current`), or of the state `as_of` (ISO time). */
export interface ShownCounts {
  whole: MatrixWhole;
  /** The state counted (its matrixVersion). */
  version: string;
  as_of: string;
  current: boolean;
}

/** No count to show yet: the first count of a large site runs since `since` (ISO time); `agents` in the state. */
export interface PendingCounts {
  pending: true;
  since: string;
  agents: number;
}

interface Counted {
  version: string;
  asOf: string;
  ms: number;
  whole: MatrixWhole;
  /** When (Date.now()) the count ended: background counts keep their gap from it. */
  ended: number;
  /** The count's place in this coordinator's counts (0: read from the database). */
  number: number;
}

/** Counts kept per database state for one coordinator (see the file's head). */
export class CountKeeper {
  private last: Counted | null = null;
  private running: Promise<Counted> | null = null;
  private started = 0;
  /** When (Date.now()) the running or last count started. */
  private startedAt = 0;
  private adoptedAsOf: string | null = null;

  private readonly exactAgents: number;
  private readonly exactMs: number;
  private readonly minGapMs: number;
  private readonly gapFactor: number;

  constructor(
    private readonly store: Store,
    private readonly now: () => Date,
    /** A background count or a save that failed (logged; the last count stays served). */
    private readonly onError: (error: unknown) => void,
    /** The thresholds (tests): EXACT_AGENTS, EXACT_MS, MIN_GAP_MS and GAP_FACTOR by default. */
    options: CountThresholds = {},
  ) {
    this.exactAgents = options.exactAgents ?? EXACT_AGENTS;
    this.exactMs = options.exactMs ?? EXACT_MS;
    this.minGapMs = options.minGapMs ?? MIN_GAP_MS;
    this.gapFactor = options.gapFactor ?? GAP_FACTOR;
  }

  /** Resolves when no count runs (tests, closing). */
  async idle(): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
  }

  /** The counts to show with an answer about the state `version`, read at `at`. */
  async counts(version: string, at: Date): Promise<ShownCounts> {
    return (await this.countsOrPending(version, at, true)) as ShownCounts;
  }

  /**
   * The counts to show, as counts(); but with `wait` false, a large site that has no count to serve (never
   * counted, or more than doubled since) is not waited for: the count starts (or goes on) in the background and
   * the answer is when it started (the page says "counting" and serves cells meanwhile).
   */
  async countsOrPending(version: string, at: Date, wait: boolean): Promise<ShownCounts | PendingCounts> {
    if (this.last?.version !== version) await this.adoptKept();
    const last = this.last;
    if (last?.version === version) return { whole: last.whole, version, as_of: at.toISOString(), current: true };
    const agents = agentsOfVersion(version);
    const none = !last || 2 * last.whole.summary.agents < agents;
    if (!wait && none && agents > this.exactAgents) {
      this.start().catch(this.onError);
      return { pending: true, since: new Date(this.startedAt).toISOString(), agents };
    }
    // A quick count is waited for only once its gap has passed: at most a 1/(1 + gapFactor) share of the time, or
    // every read under ingest would count again (5,000 agents: 100-250 ms of PostgreSQL and event-loop time per read).
    const quick = !!last && last.ms <= this.exactMs && Date.now() >= last.ended + this.gapFactor * Math.max(last.ms, 1);
    if (none || agents <= this.exactAgents || quick) {
      // A count that started after this request read its version counts a state at least as new.
      const since = this.started;
      let counted = await this.start();
      if (counted.version !== version && counted.number <= since) counted = await this.start();
      const same = counted.version === version;
      return {
        whole: counted.whole,
        version: counted.version,
        as_of: same ? at.toISOString() : counted.asOf,
        current: true,
      };
    }
    this.refresh();
    return { whole: last.whole, version: last.version, as_of: last.asOf, current: false };
  }

  /** Start a background count unless one runs or the last ended too recently. */
  private refresh(): void {
    const last = this.last;
    if (this.running || (last && Date.now() < last.ended + Math.max(this.minGapMs, this.gapFactor * last.ms))) return;
    this.start().catch(this.onError);
  }

  /** Count on one snapshot, keep the result (here and in the database); one count at a time per coordinator. */
  private start(): Promise<Counted> {
    if (this.running) return this.running;
    const number = ++this.started;
    this.startedAt = Date.now();
    const promise = this.store
      .snapshot(async (read, slices) => {
        const began = performance.now();
        const at = this.now();
        const version = await matrixVersion(read, at);
        const whole = await readMatrixWhole(read, at, slices);
        const ms = Math.round(performance.now() - began);
        return { version, asOf: at.toISOString(), ms, whole, ended: Date.now(), number };
      })
      .then(async (counted) => {
        if (!this.last || this.last.asOf <= counted.asOf) this.last = counted;
        const kept: KeptCounts = {
          version: counted.version,
          as_of: counted.asOf,
          counted_ms: counted.ms,
          json: JSON.stringify(counted.whole),
        };
        await this.store.saveCounts(kept).catch(this.onError);
        return counted;
      })
      .finally(() => {
        if (this.running === promise) this.running = null;
      });
    this.running = promise;
    return promise;
  }

  /** Take the count kept in the database when it is newer than this coordinator's (a start, another coordinator). */
  private async adoptKept(): Promise<void> {
    // Its time first: the counts themselves (tens of kB) only when they are newer than this coordinator's.
    const [newer] = await this.store.read<{ as_of: string }>('SELECT as_of FROM matrix_counts WHERE singleton = 1', []);
    if (!newer || newer.as_of === this.adoptedAsOf || (this.last && this.last.asOf >= newer.as_of)) return;
    const [kept] = await this.store.read<KeptCounts>(
      'SELECT version, as_of, counted_ms, json FROM matrix_counts WHERE singleton = 1',
      [],
    );
    if (!kept) return;
    this.adoptedAsOf = kept.as_of;
    try {
      const ms = Number(kept.counted_ms);
      const whole = JSON.parse(kept.json) as MatrixWhole;
      this.last = { version: kept.version, asOf: kept.as_of, ms, whole, ended: Date.parse(kept.as_of) + ms, number: 0 };
    } catch (error) {
      this.onError(error);
    }
  }
}
