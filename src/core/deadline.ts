/**
 * A probe's deadline as a hot path watches it: one watcher, no AbortSignal and no listener list. The runner hands
 * one to every probe (ProbeContext.deadline); a sweep's connects watch it instead of the signal, so a probe that
 * never asks for its signal never makes one.
 */
export interface Deadline {
  /** True once the deadline has passed and the probe was told to stop. */
  readonly expired: boolean;
  /** Call `fn` once when the deadline expires; one watcher at a time (a later call replaces it, null removes it). */
  onExpiry(fn: (() => void) | null): void;
  /** The same deadline as an AbortSignal, made on first use, for APIs that take one. */
  readonly signal: AbortSignal;
}

/** A Deadline over an AbortSignal: for a context the runner did not make (a kind that narrows its signal, a test). */
export function signalDeadline(signal: AbortSignal): Deadline {
  let watcher: (() => void) | null = null;
  const onAbort = (): void => {
    const fn = watcher;
    watcher = null;
    fn?.();
  };
  return {
    get expired() {
      return signal.aborted;
    },
    onExpiry(fn) {
      if (watcher) signal.removeEventListener('abort', onAbort);
      watcher = fn;
      if (fn) signal.addEventListener('abort', onAbort, { once: true });
    },
    signal,
  };
}
