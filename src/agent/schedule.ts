/** Milliseconds until the next run: the interval, moved earlier or later by up to the jitter so agents spread out. */
export function nextRunDelay(intervalMs: number, jitterMs: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(intervalMs + (random() * 2 - 1) * jitterMs));
}

/**
 * Milliseconds to wait after `failures` failed deliveries in a row: doubling from `minMs` up to `maxMs`,
 * with half of it random so that agents cut off together do not all come back at once.
 */
export function retryDelay(failures: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Wait `ms`, or less when the signal aborts; never rejects. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
