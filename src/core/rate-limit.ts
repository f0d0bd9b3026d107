/** Spaces probe starts evenly at `perSecond`; shared by every worker of a run. */
export class RateLimit {
  readonly #intervalMs: number;
  #nextStart = 0;

  constructor(perSecond: number) {
    this.#intervalMs = 1000 / perSecond;
  }

  /** Resolve when the caller may start its probe. */
  async take(): Promise<void> {
    const now = performance.now();
    // Reserve the slot synchronously so concurrent workers never share one.
    const start = Math.max(now, this.#nextStart);
    this.#nextStart = start + this.#intervalMs;
    if (start > now) await new Promise((resolve) => setTimeout(resolve, start - now));
  }
}
