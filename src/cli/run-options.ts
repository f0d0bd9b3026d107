import { UsageError } from '../core/usage-error.js';
import { DEFAULT_CONCURRENCY, type RunWarning } from '../run/execute.js';

/** Validate a whole-number option. */
export function wholeNumber(value: unknown, option: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(
      `Expected the \`${option}\` option to be a whole number from ${min} to ${max}, got \`${String(value)}\``,
    );
  }
  return value;
}

/** Parse `--rate` as probe starts per second: `100/s` or `100`. */
export function parseRate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(?:\/s)?$/.exec(text.trim());
  const rate = match ? Number(match[1]) : NaN;
  if (!(rate > 0))
    throw new UsageError(`Expected the \`--rate\` option to be probes per second like 100/s, got \`${text}\``);
  return rate;
}

/** Options every probing command shares. */
export const RUN_OPTIONS = {
  concurrency: {
    type: 'number',
    default: DEFAULT_CONCURRENCY,
    describe: 'Probes in flight at once',
    group: 'Probe:',
    requiresArg: true,
  },
  rate: { type: 'string', describe: 'Most probe starts per second, e.g. 100/s', group: 'Probe:', requiresArg: true },
  resolver: {
    type: 'string',
    describe: 'DNS server to resolve targets with, IP[:port] (default: the system resolver)',
    group: 'Probe:',
    requiresArg: true,
  },
} as const;

/** Print a run's warning on stderr, as every probing command does. */
export const warnOnStderr: RunWarning = (message) => {
  process.stderr.write(`reachgate: ${message}\n`);
};
