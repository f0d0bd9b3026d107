import { monotonicMs } from './clock.js';

/** Spaces probe starts evenly at `perSecond`; shared by every probe of a run. */
export class RateLimit {
  readonly #intervalMs: number;
  #nextStart = 0;

  constructor(perSecond: number) {
    this.#intervalMs = 1000 / perSecond;
  }

  /** Reserve the next start: how many milliseconds from now the caller may start its probe (0: at once). */
  reserve(): number {
    const now = monotonicMs();
    const start = Math.max(now, this.#nextStart);
    this.#nextStart = start + this.#intervalMs;
    return start - now;
  }
}
