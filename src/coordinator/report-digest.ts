import { createHash } from 'node:crypto';

/**
 * The SHA-256 of a JSON value's canonical form: object keys sorted, no whitespace, numbers and
 * strings as JSON.stringify writes them. Two posts of one report compare equal however their
 * text was spaced or ordered; any change of a value does not.
 */
export function canonicalDigest(value: unknown): string {
  const hash = createHash('sha256');
  // Nesting is bounded (MAX_JSON_DEPTH) before a body is parsed, so recursion is safe here.
  const write = (current: unknown): void => {
    if (Array.isArray(current)) {
      hash.update('[');
      current.forEach((item, index) => {
        if (index > 0) hash.update(',');
        write(item);
      });
      hash.update(']');
    } else if (current !== null && typeof current === 'object') {
      hash.update('{');
      Object.keys(current)
        .sort()
        .forEach((key, index) => {
          if (index > 0) hash.update(',');
          hash.update(`${JSON.stringify(key)}:`);
          write((current as Record<string, unknown>)[key]);
        });
      hash.update('}');
    } else {
      hash.update(JSON.stringify(current) ?? 'null');
    }
  };
  write(value);
  return hash.digest('hex');
}
