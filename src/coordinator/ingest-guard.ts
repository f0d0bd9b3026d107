import { ONE_REPORT_MAX, type CoordinatorLimits } from './limits.js';

// Per-token request rate and per-agent stored bytes, both token buckets kept in this process's
// memory. A refusal is a 429 with Retry-After: the report stays in the agent's spool and is sent
// again later, so nothing is lost and nothing already acknowledged is dropped to make room.

/** A refused request: how long until it would pass, and a message for the agent's log. */
export interface Refusal {
  retryAfterS: number;
  message: string;
}

/** Calls between two sweeps that forget full buckets (a full bucket is the same as none). */
const SWEEP_EVERY = 1024;

/** A token bucket: up to `capacity` units, refilled at `perSecond`; starts full. */
export class TokenBucket {
  readonly capacity: number;
  readonly perSecond: number;
  private units: number;
  private at: number;

  constructor(capacity: number, perSecond: number, nowMs: number) {
    this.capacity = capacity;
    this.perSecond = perSecond;
    this.units = capacity;
    this.at = nowMs;
  }

  /** Take `units` now and return 0, or take nothing and return the seconds until they are there. */
  take(units: number, nowMs: number): number {
    const wait = this.wait(units, nowMs);
    if (wait === 0) this.units -= units;
    return wait;
  }

  /** The seconds until `units` are there (0: now), taking nothing. */
  wait(units: number, nowMs: number): number {
    this.refill(nowMs);
    return this.units >= units ? 0 : (units - this.units) / this.perSecond;
  }

  /** Give back units taken for something that did not happen. */
  giveBack(units: number, nowMs: number): void {
    this.refill(nowMs);
    this.units = Math.min(this.capacity, this.units + units);
  }

  /** Whether the bucket is full at `nowMs`. */
  isFull(nowMs: number): boolean {
    this.refill(nowMs);
    return this.units >= this.capacity;
  }

  private refill(nowMs: number): void {
    // A clock that went backwards refills nothing.
    const elapsed = Math.max(0, nowMs - this.at) / 1000;
    this.units = Math.min(this.capacity, this.units + elapsed * this.perSecond);
    this.at = Math.max(this.at, nowMs);
  }
}

/** Buckets by key, made on first use with the same size and rate, full ones forgotten now and then. */
class BucketMap {
  private readonly buckets = new Map<string, TokenBucket>();
  private calls = 0;

  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
  ) {}

  bucket(key: string, nowMs: number): TokenBucket {
    if (++this.calls % SWEEP_EVERY === 0) {
      for (const [known, bucket] of this.buckets) if (bucket.isFull(nowMs)) this.buckets.delete(known);
    }
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new TokenBucket(this.capacity, this.perSecond, nowMs)));
    return bucket;
  }
}

/** An hour's share of a daily byte budget, or one largest report if that is more: what an agent may send at once. */
export function burstBytes(perDay: number): number {
  return Math.max(Math.ceil(perDay / 24), ONE_REPORT_MAX);
}

/** The coordinator's ingest limits: reports a second per agent token, and stored bytes a day per agent. */
export class IngestGuard {
  private readonly requests: BucketMap;
  private readonly bytes: BucketMap;
  private readonly limits: CoordinatorLimits;
  private readonly nowMs: () => number;

  constructor(limits: CoordinatorLimits, nowMs: () => number = () => performance.now()) {
    this.limits = limits;
    this.nowMs = nowMs;
    this.requests = new BucketMap(limits.rateBurst, limits.ratePerSecond);
    this.bytes = new BucketMap(burstBytes(limits.agentBytesPerDay), limits.agentBytesPerDay / 86_400);
  }

  /** Count one request of an agent token, whatever it turns out to be; a refusal when it is over its rate. */
  admitRequest(tokenId: string): Refusal | null {
    const now = this.nowMs();
    const wait = this.requests.bucket(tokenId, now).take(1, now);
    if (wait === 0) return null;
    const { ratePerSecond, rateBurst } = this.limits;
    const retryAfterS = Math.max(1, Math.ceil(wait));
    return {
      retryAfterS,
      message:
        `too many requests from this agent token: at most ${ratePerSecond} a second on average and ${rateBurst} ` +
        `at once (the coordinator's --rate-limit and --rate-burst); retry after ${retryAfterS} s`,
    };
  }

  /** Reserve `size` bytes of an agent's daily budget for a report about to be stored; a refusal when it is spent. */
  reserveBytes(agent: string, size: number): Refusal | null {
    const now = this.nowMs();
    return this.bytesRefusal(agent, size, this.bytes.bucket(agent, now).take(size, now));
  }

  /** The refusal reserveBytes would give now, reserving nothing (a body about to be parsed). */
  checkBytes(agent: string, size: number): Refusal | null {
    const now = this.nowMs();
    return this.bytesRefusal(agent, size, this.bytes.bucket(agent, now).wait(size, now));
  }

  private bytesRefusal(agent: string, size: number, wait: number): Refusal | null {
    if (wait === 0) return null;
    const retryAfterS = Math.max(1, Math.ceil(wait));
    return {
      retryAfterS,
      message:
        `agent ${JSON.stringify(agent)} has used its budget of ${this.limits.agentBytesPerDay} bytes of stored ` +
        `reports a day, spent at most an hour's share at once (the coordinator's --agent-bytes-per-day); ` +
        `this report of ${size} bytes fits in ${retryAfterS} s; the agent keeps it spooled until then`,
    };
  }

  /** Give a reservation back: the report was not stored (already there, or the store failed). */
  releaseBytes(agent: string, size: number): void {
    const now = this.nowMs();
    this.bytes.bucket(agent, now).giveBack(size, now);
  }
}
