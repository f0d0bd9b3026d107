import { createPublicKey, sign, verify, type KeyObject, type JsonWebKey } from 'node:crypto';
import { UsageError } from '../core/usage-error.js';
import { canonicalJson, partDigest, sha256Hex, shortDigest } from './canonical.js';
import { keyId, publicJwk } from './keys.js';
import {
  RECORD_FORMAT,
  RECORD_TYPE,
  type AcceptanceRecord,
  type FlattenedJws,
  type RecordDigests,
  type SignedRecord,
} from './model.js';

/** The JWS `typ` of a record's signature. */
const JWS_TYPE = 'reachgate-acceptance-record+json';

/** The JWS protected header of a record: EdDSA (RFC 8037), the key's id and the public key itself. */
interface RecordHeader {
  alg: 'EdDSA';
  typ: typeof JWS_TYPE;
  kid: string;
  jwk: { kty: 'OKP'; crv: 'Ed25519'; x: string };
}

/** The RFC 8785 SHA-256 of every part of a record: what the signature covers. */
export function recordDigests(record: AcceptanceRecord): RecordDigests {
  const parts: Record<string, string> = {};
  for (const [name, value] of Object.entries(record)) if (name !== 'agents') parts[name] = partDigest(value);
  return {
    typ: 'reachgate-acceptance-record-digests',
    format: RECORD_FORMAT,
    canonicalization: 'RFC 8785',
    digest: 'sha-256',
    parts,
    agents: record.agents.map((agent) => {
      const { results, ...rest } = agent;
      const members: Record<string, string> = {};
      for (const [name, value] of Object.entries(rest)) members[name] = partDigest(value);
      return { name: agent.name, members, results: results.map((result) => partDigest(result)) };
    }),
  };
}

/** Sign a record with an Ed25519 private key: a JWS (RFC 7515, flattened JSON) whose payload is its digests. */
export function signRecord(record: AcceptanceRecord, privateKey: KeyObject): SignedRecord {
  const header: RecordHeader = { alg: 'EdDSA', typ: JWS_TYPE, kid: keyId(privateKey), jwk: publicJwk(privateKey) };
  const protectedHeader = Buffer.from(canonicalJson(header)).toString('base64url');
  const payload = Buffer.from(canonicalJson(recordDigests(record))).toString('base64url');
  const signature = sign(null, Buffer.from(`${protectedHeader}.${payload}`, 'ascii'), privateKey).toString('base64url');
  return { record, jws: { protected: protectedHeader, payload, signature } };
}

/** A signed record as its file holds it. */
export function formatSignedRecord(signed: SignedRecord): string {
  return `${JSON.stringify(signed, null, 2)}\n`;
}

/** One part of a record that does not hold: where (a JSON Pointer into the file) and what, for a human. */
export interface RecordProblem {
  part: string;
  message: string;
}

/** What `verify` found: the key that checked the signature, the record's digest, and every problem. */
export interface Verification {
  ok: boolean;
  /** The id of the key the signature was checked with. */
  key_id: string | null;
  /** `given`: a key the verifier passed; `record`: the key the record carries (proves integrity, not who). */
  key_from: 'given' | 'record';
  /** The key id the signature header names. */
  signed_key_id: string | null;
  /** SHA-256 (hex) of the signed payload (the record's digests): the record's fingerprint. */
  digest: string | null;
  /** The digest's first 24 hex digits in groups of four, to compare by phone. */
  short_digest: string | null;
  agents: number;
  results: number;
  problems: RecordProblem[];
}

/** Check a record file's signature and every digest; the text is a UsageError only when it is not a record at all. */
export function verifyRecordText(
  text: string,
  givenKey?: KeyObject,
): { verification: Verification; signed: SignedRecord } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the record is not valid JSON (${(error as Error).message})`);
  }
  const signed = parsed as Partial<SignedRecord> | null;
  const jws = signed?.jws as Partial<FlattenedJws> | undefined;
  if (
    signed === null ||
    typeof signed !== 'object' ||
    typeof signed.record !== 'object' ||
    signed.record === null ||
    Array.isArray(signed.record) ||
    typeof jws !== 'object' ||
    jws === null ||
    !['protected', 'payload', 'signature'].every((key) => typeof (jws as Record<string, unknown>)[key] === 'string')
  ) {
    throw new UsageError(
      'not an acceptance record: expected a JSON object with `record` and `jws` (protected, payload, signature)',
      'Make one with `reachgate accept`.',
    );
  }
  return { verification: verifySigned(signed as SignedRecord, givenKey), signed: signed as SignedRecord };
}

function verifySigned(signed: SignedRecord, givenKey: KeyObject | undefined): Verification {
  const problems: RecordProblem[] = [];
  const { record, jws } = signed;
  const header = decodeJson(jws.protected) as Partial<RecordHeader> | undefined;
  const carried = header === undefined ? undefined : carriedKey(header.jwk);
  const key = givenKey ?? carried;
  const usedId = key === undefined ? null : keyId(key);
  let keyProblem = false;
  if (header === undefined || header.alg !== 'EdDSA') {
    problems.push({ part: '/jws/protected', message: 'signature header: not a JWS header with alg EdDSA' });
  } else if (givenKey !== undefined && header.kid !== usedId) {
    keyProblem = true;
    problems.push({
      part: '/jws/protected/kid',
      message: `wrong key: the record was signed by key ${String(header.kid)}, not by the given key ${usedId}`,
    });
  } else if (givenKey === undefined && (carried === undefined || header.kid !== usedId)) {
    keyProblem = true;
    problems.push({
      part: '/jws/protected/kid',
      message: `key id: the header's key id ${String(header.kid)} is not the id of the key it carries (${usedId ?? 'none'})`,
    });
  }
  if (!keyProblem && key !== undefined && header?.alg === 'EdDSA') {
    const good = verify(
      null,
      Buffer.from(`${jws.protected}.${jws.payload}`, 'ascii'),
      key,
      Buffer.from(jws.signature, 'base64url'),
    );
    if (!good)
      problems.push({
        part: '/jws/signature',
        message: 'signature: it does not verify over the signed digests (the signature or the digests were changed)',
      });
  }
  const payload = Buffer.from(jws.payload, 'base64url');
  const digests = decodeJson(jws.payload) as Partial<RecordDigests> | undefined;
  let results = 0;
  if (digests === undefined || digests.typ !== 'reachgate-acceptance-record-digests' || !isObject(digests.parts)) {
    problems.push({ part: '/jws/payload', message: 'signed digests: the payload is not the digests of a record' });
  } else {
    results = compareDigests(record, digests as RecordDigests, problems);
  }
  if (record.type !== RECORD_TYPE || record.format !== RECORD_FORMAT)
    problems.push({ part: '/record/type', message: `record type: expected ${RECORD_TYPE} format ${RECORD_FORMAT}` });
  const digest = sha256Hex(payload);
  return {
    ok: problems.length === 0,
    key_id: usedId,
    key_from: givenKey ? 'given' : 'record',
    signed_key_id: typeof header?.kid === 'string' ? header.kid : null,
    digest,
    short_digest: shortDigest(digest),
    agents: Array.isArray(record.agents) ? record.agents.length : 0,
    results,
    problems,
  };
}

/** The JSON object a base64url member decodes to; undefined for anything else. */
function decodeJson(base64url: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(base64url, 'base64url').toString('utf8'));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function carriedKey(jwk: unknown): KeyObject | undefined {
  try {
    const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    return key.asymmetricKeyType === 'ed25519' ? key : undefined;
  } catch {
    return undefined;
  }
}

/** What a reader calls a top-level part of the record. */
const PART_NAMES: Record<string, string> = {
  profiles: 'profile digests',
  site_files: 'site-file digests',
  change: 'change reference',
  window: 'time window',
};

/** What a reader calls a member of an agent. */
const MEMBER_NAMES: Record<string, string> = {
  profile: 'profile digest',
  site_sha256: 'site-file digest',
  report: 'report digest and times',
};

/** Compare every part of the record with its signed digest; each mismatch is a problem. Returns the results counted. */
function compareDigests(record: AcceptanceRecord, signed: RecordDigests, problems: RecordProblem[]): number {
  const names = new Set([...Object.keys(record).filter((name) => name !== 'agents'), ...Object.keys(signed.parts)]);
  for (const name of names) {
    const label = PART_NAMES[name] ?? name;
    const part = `/record/${name}`;
    if (!Object.hasOwn(signed.parts, name)) problems.push({ part, message: `${label}: not covered by the signature` });
    else if (!Object.hasOwn(record, name)) problems.push({ part, message: `${label}: missing from the record` });
    else if (partDigest((record as unknown as Record<string, unknown>)[name]) !== signed.parts[name])
      problems.push({ part, message: `${label}: differs from what was signed` });
  }
  const agents: unknown[] = Array.isArray(record.agents) ? record.agents : [];
  const signedAgents = Array.isArray(signed.agents) ? signed.agents : [];
  if (agents.length !== signedAgents.length)
    problems.push({
      part: '/record/agents',
      message: `agents: the record has ${agents.length}, the signed record ${signedAgents.length}`,
    });
  let counted = 0;
  for (let index = 0; index < Math.min(agents.length, signedAgents.length); index++) {
    const signedAgent: unknown = signedAgents[index];
    if (!isObject(signedAgent) || !isObject(signedAgent.members)) {
      problems.push({ part: `/record/agents/${index}`, message: `agent ${index + 1}: no signed digests for it` });
      continue;
    }
    counted += compareAgent(agents[index], signedAgent as RecordDigests['agents'][number], index, problems);
  }
  return counted;
}

function compareAgent(
  value: unknown,
  signed: RecordDigests['agents'][number],
  index: number,
  problems: RecordProblem[],
): number {
  const at = `/record/agents/${index}`;
  const who = `agent ${String(signed.name)}`;
  if (!isObject(value)) {
    problems.push({ part: at, message: `${who}: not an agent object` });
    return 0;
  }
  const { results, ...members } = value as Record<string, unknown>;
  const names = new Set([...Object.keys(members), ...Object.keys(signed.members ?? {})]);
  for (const name of names) {
    const label = `${MEMBER_NAMES[name] ?? name} of ${who}`;
    const part = `${at}/${name}`;
    if (!Object.hasOwn(signed.members ?? {}, name))
      problems.push({ part, message: `${label}: not covered by the signature` });
    else if (!Object.hasOwn(members, name)) problems.push({ part, message: `${label}: missing from the record` });
    else if (partDigest(members[name]) !== signed.members[name])
      problems.push({ part, message: `${label}: differs from what was signed` });
  }
  const list: unknown[] = Array.isArray(results) ? results : [];
  const signedResults = Array.isArray(signed.results) ? signed.results : [];
  if (list.length !== signedResults.length)
    problems.push({
      part: `${at}/results`,
      message: `results of ${who}: the record has ${list.length}, the signed record ${signedResults.length}`,
    });
  for (let n = 0; n < Math.min(list.length, signedResults.length); n++) {
    if (partDigest(list[n]) === signedResults[n]) continue;
    const row = (list[n] as { row?: unknown } | null)?.row;
    problems.push({
      part: `${at}/results/${n}`,
      message: `result ${n + 1} of ${who}${typeof row === 'string' ? ` (row ${row})` : ''}: differs from what was signed`,
    });
  }
  return list.length;
}
