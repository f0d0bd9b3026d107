/**
 * Milliseconds on a monotonic clock, for deadlines and round trips on a probe's path. process.hrtime needs no
 * module; the global `performance` loads perf_hooks on first use, ~2.5 ms of a `probe tcp` cold start's CPU.
 */
export function monotonicMs(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1e3 + nanoseconds / 1e6;
}
