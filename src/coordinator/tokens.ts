import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { UsageError } from '../core/usage-error.js';
import type { Store, TokenGrant, TokenRecord } from './store.js';

// rg_<id: 16 hex, public, names the row>_<secret: 32 random bytes, base64url>.
const TOKEN_PATTERN = /^rg_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/** Compared against when the id is unknown, so that an unknown id costs the same as a wrong secret. */
const NO_HASH = Buffer.alloc(32);
const NAME_MAX = 128;

/** SHA-256 of a token's secret: enough for a 256-bit random secret, which no dictionary holds. */
function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** Check an agent name or role for a token: printable, 1 to 128 characters. */
export function checkTokenName(value: string, option: string): string {
  if (value.length === 0 || value.length > NAME_MAX || /[\x00-\x1f\x7f]/.test(value)) {
    throw new UsageError(
      `Expected \`${option}\` to be 1 to ${NAME_MAX} printable characters, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Make a token for a grant, store its record and hash, and return the token text (shown once). */
export async function createToken(
  store: Store,
  grant: TokenGrant,
  now: Date = new Date(),
): Promise<{ token: string; record: TokenRecord }> {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const record: TokenRecord = {
    id,
    kind: grant.kind,
    agent: grant.kind === 'agent' ? checkTokenName(grant.agent, '--agent') : null,
    role: grant.kind === 'agent' ? checkTokenName(grant.role, '--role') : null,
    created_at: now.toISOString(),
    revoked_at: null,
  };
  await store.addToken({ ...record, hash: hashSecret(secret) });
  return { token: `rg_${id}_${secret}`, record };
}

/** The result of checking a presented token: its record, or why it was refused (for a 401). */
export type Authentication = { ok: true; token: TokenRecord } | { ok: false; reason: string };

/** Check a presented token against the store, comparing the secret's hash in constant time. */
export async function authenticate(store: Store, presented: string | undefined): Promise<Authentication> {
  if (presented === undefined) return { ok: false, reason: 'no token: send `Authorization: Bearer TOKEN`' };
  const match = TOKEN_PATTERN.exec(presented);
  if (!match) return { ok: false, reason: 'the token is not a reachgate token (rg_ID_SECRET)' };
  const stored = await store.findToken(match[1]!);
  const equal = timingSafeEqual(hashSecret(match[2]!), stored?.hash.length === 32 ? stored.hash : NO_HASH);
  if (!stored || !equal) return { ok: false, reason: 'unknown token' };
  if (stored.revoked_at !== null)
    return { ok: false, reason: `the token ${stored.id} was revoked at ${stored.revoked_at}` };
  const { hash: _hash, ...token } = stored;
  return { ok: true, token };
}

/** The token of an `Authorization: Bearer TOKEN` header (RFC 6750), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  return match ? match[1] : undefined;
}

/** Whether text can be a bearer token: one line of visible characters (what an agent or viewer may present). */
export function isToken(text: string): boolean {
  return /^[\x21-\x7e]+$/.test(text);
}
