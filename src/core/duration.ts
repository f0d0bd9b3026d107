import { UsageError } from './usage-error.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** Parse a duration such as `2s`, `500ms`, `1.5s`, `1m` (a bare number is seconds) into milliseconds. */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(text).trim());
  if (!match) {
    throw new UsageError(`Expected the \`${option}\` option to be a duration like 2s or 500ms, got \`${text}\``);
  }
  const ms = Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1000);
  if (ms <= 0 || ms > 3_600_000) {
    throw new UsageError(`Expected the \`${option}\` option to be more than 0 and at most 1h, got \`${text}\``);
  }
  return Math.round(ms);
}

/** Format milliseconds for a reason line: `0.4 ms`, `12 ms`, `2 s`. */
export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}
