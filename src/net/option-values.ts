import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { optionalString } from '../core/option-values.js';
import { UsageError } from '../core/usage-error.js';

// Option validators that need the host: an address check and a file read (the pure ones are in core/option-values).

/** An IP address option. */
export function optionalAddress(raw: Record<string, unknown>, name: string): string | undefined {
  const text = optionalString(raw, name);
  if (text !== undefined && !isIP(text))
    throw new UsageError(`Expected the \`--${name}\` option to be an IP address, got \`${text}\``);
  return text;
}

/** A file option, read now so a missing file is a usage error before anything is sent. */
export function optionalFileText(raw: Record<string, unknown>, name: string): string | undefined {
  const path = optionalString(raw, name);
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `Cannot read the \`--${name}\` file \`${path}\`: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}
