import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { closeSync, fchmodSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../core/usage-error.js';
import { readBounded } from '../coordinator/bounded-file.js';

/** Largest key file read: a PEM or JWK Ed25519 key is a few hundred bytes. */
const KEY_FILE_MAX = 16 * 1024;

/** A new signing key's files and its id. */
export interface CreatedKey {
  privateFile: string;
  publicFile: string;
  keyId: string;
  publicPem: string;
}

/** The public key of an Ed25519 key as a JWK (RFC 8037): kty OKP, crv Ed25519, x. */
export function publicJwk(key: KeyObject): { kty: 'OKP'; crv: 'Ed25519'; x: string } {
  const jwk = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' });
  return { kty: 'OKP', crv: 'Ed25519', x: String(jwk.x) };
}

/**
 * A key's id: its JWK thumbprint (RFC 7638), the SHA-256 of `{"crv":"Ed25519","kty":"OKP","x":...}` in base64url.
 * The same key gives the same id wherever it is stored, PEM or JWK.
 */
export function keyId(key: KeyObject): string {
  const { x } = publicJwk(key);
  return createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
}

/**
 * Make an Ed25519 key pair: the private key (PKCS#8 PEM) into `file`, mode 600, the public key (SPKI PEM) beside it
 * as `file.pub`. An existing file is refused unless `force`; a replaced file is swapped in whole.
 */
export function createKeyFiles(file: string, force: boolean): CreatedKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privatePem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const publicFile = `${file}.pub`;
  const id = keyId(publicKey);
  writeKeyFile(file, privatePem, 0o600, force);
  writeKeyFile(publicFile, publicPem, 0o644, force);
  return { privateFile: file, publicFile, keyId: id, publicPem };
}

function writeKeyFile(path: string, text: string, mode: number, force: boolean): void {
  const temp = force ? join(dirname(path), `.${basename(path)}.${process.pid}.tmp`) : path;
  let fd: number;
  try {
    fd = openSync(temp, 'wx', mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    if (code === 'EEXIST' && !force)
      throw new UsageError(`the key file ${path} exists already; nothing was written`, 'Pass --force to replace it.');
    throw new UsageError(`cannot create the key file ${path}: ${code}`);
  }
  try {
    // Whatever the umask.
    fchmodSync(fd, mode);
    writeFileSync(fd, text);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw new UsageError(`cannot write the key file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  closeSync(fd);
  if (force) renameSync(temp, path);
}

/** The Ed25519 private key in a PEM file (as `reachgate key create` writes it). */
export function loadPrivateKey(file: string): KeyObject {
  const text = readBounded(file, KEY_FILE_MAX, 'key file');
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    throw new UsageError(
      `the key file ${file} does not hold a private key in PEM`,
      'Make one with `reachgate key create --out FILE` and pass FILE (not FILE.pub).',
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new UsageError(`the key in ${file} is ${key.asymmetricKeyType}, not Ed25519: records are signed with EdDSA`);
  return key;
}

/** An Ed25519 public key from a file: SPKI PEM, a JWK (RFC 8037) or the private key's PEM. */
export function loadPublicKey(file: string): KeyObject {
  const text = readBounded(file, KEY_FILE_MAX, 'key file').toString('utf8');
  let key: KeyObject | undefined;
  try {
    key = text.trimStart().startsWith('{')
      ? createPublicKey({ key: JSON.parse(text) as import('node:crypto').JsonWebKey, format: 'jwk' })
      : createPublicKey(text);
  } catch {
    key = undefined;
  }
  if (key === undefined)
    throw new UsageError(
      `the key file ${file} does not hold a public key (PEM or JWK)`,
      "Pass the approver's public key: the FILE.pub that `reachgate key create` wrote.",
    );
  if (key.asymmetricKeyType !== 'ed25519')
    throw new UsageError(`the key in ${file} is ${key.asymmetricKeyType}, not Ed25519: records are signed with EdDSA`);
  return key;
}
