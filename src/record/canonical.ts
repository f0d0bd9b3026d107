import { createHash } from 'node:crypto';

/**
 * The JSON Canonicalization Scheme (RFC 8785) form of a value: object members sorted by the UTF-16 code units of
 * their names, no whitespace, strings and numbers as ECMAScript's JSON.stringify writes them (which RFC 8785 adopts).
 * Members whose value is undefined are left out and undefined array items become null, as JSON.stringify does, so a
 * value in memory and the same value read back from its JSON file give one form. A number that JSON cannot hold
 * (NaN, Infinity) is refused: RFC 8785 section 3.2.2.3 makes it an error.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts);
  return parts.join('');
}

function write(value: unknown, out: string[]): void {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') {
    out.push(JSON.stringify(value));
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`RFC 8785 cannot hold the number ${value}`);
    out.push(JSON.stringify(value));
  } else if (Array.isArray(value)) {
    out.push('[');
    value.forEach((item, index) => {
      if (index > 0) out.push(',');
      write(item === undefined ? null : item, out);
    });
    out.push(']');
  } else if (typeof value === 'object') {
    out.push('{');
    let first = true;
    // Array.prototype.sort compares UTF-16 code units, the order RFC 8785 section 3.2.3 asks for.
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member === undefined) continue;
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(key), ':');
      write(member, out);
    }
    out.push('}');
  } else {
    throw new TypeError(`RFC 8785 cannot hold a value of type ${typeof value}`);
  }
}

/** The SHA-256 of a value's RFC 8785 form, base64url without padding (as JOSE writes digests). */
export function partDigest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value), 'utf8').digest('base64url');
}

/** The SHA-256 of some bytes, in lowercase hex. */
export function sha256Hex(bytes: string | Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A digest cut to `groups` groups of four hex digits joined by dashes: short enough to read out by phone. */
export function shortDigest(hex: string, groups = 6): string {
  return (hex.slice(0, groups * 4).match(/.{4}/g) ?? []).join('-');
}
