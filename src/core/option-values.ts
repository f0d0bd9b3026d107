import { UsageError } from './usage-error.js';

// Validators shared by probe kinds: each names the option, the expected form and what it got.

function received(value: unknown): string {
  return `\`${String(value)}\` (${typeof value})`;
}

/** An optional string option. */
export function optionalString(raw: Record<string, unknown>, name: string): string | undefined {
  const value = raw[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '')
    throw new UsageError(`Expected the \`--${name}\` option to be a non-empty string, got ${received(value)}`);
  return value;
}

/** A boolean flag. */
export function flag(raw: Record<string, unknown>, name: string): boolean {
  const value = raw[name];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean')
    throw new UsageError(`Expected the \`--${name}\` option to be true or false, got ${received(value)}`);
  return value;
}

/** A regular expression option, compiled. */
export function optionalRegex(raw: Record<string, unknown>, name: string): RegExp | undefined {
  const text = optionalString(raw, name);
  if (text === undefined) return undefined;
  try {
    return new RegExp(text);
  } catch (error) {
    throw new UsageError(
      `Expected the \`--${name}\` option to be a regular expression, got \`${text}\`: ${(error as Error).message}`,
    );
  }
}

/** Request bytes from `--send TEXT` (with \r \n \t \0 \\ \xHH escapes) or `--send-hex HEX`. */
export function requestBytes(raw: Record<string, unknown>): Buffer | undefined {
  const text = optionalString(raw, 'send');
  const hex = optionalString(raw, 'send-hex');
  if (text !== undefined && hex !== undefined) throw new UsageError('Use either `--send` or `--send-hex`, not both');
  if (hex !== undefined) {
    const digits = hex.replace(/[\s:]/g, '');
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(digits)) {
      throw new UsageError(
        `Expected the \`--send-hex\` option to be pairs of hex digits, got \`${hex}\``,
        'e.g. --send-hex "16 03 01" or --send-hex 160301',
      );
    }
    return Buffer.from(digits, 'hex');
  }
  return text === undefined ? undefined : Buffer.from(unescapeText(text), 'latin1');
}

function unescapeText(text: string): string {
  return text.replace(/\\(x[0-9a-fA-F]{2}|[rnt0\\])/g, (_, code: string) => {
    switch (code) {
      case 'r':
        return '\r';
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case '0':
        return '\0';
      case '\\':
        return '\\';
      default:
        return String.fromCharCode(parseInt(code.slice(1), 16));
    }
  });
}
