import { closeSync, openSync, readSync } from 'node:fs';
import type { Response } from 'undici';
import type { Receipt } from '../core/receipt.js';
import { UsageError } from '../core/usage-error.js';
import { loadUndici } from '../core/http-parser.js';

/** A token file's bytes read at most. */
const TOKEN_FILE_MAX = 4096;
/** The shortest shared token accepted: anything shorter could be guessed. */
const TOKEN_MIN = 16;
/** An answer's bytes read at most: 64 receipts fit many times over. */
const ANSWER_MAX = 256 * 1024;

/** Read a shared side-channel token from a file (its first line, trimmed); a bad file is a UsageError naming it. */
export function readTokenFile(file: string, option = '--token-file'): string {
  let text: string;
  try {
    const fd = openSync(file, 'r');
    try {
      const buffer = Buffer.alloc(TOKEN_FILE_MAX);
      text = buffer.subarray(0, readSync(fd, buffer, 0, TOKEN_FILE_MAX, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new UsageError(`Cannot read the \`${option}\` file ${file}: ${(error as Error).message}`);
  }
  const token = text.split('\n')[0]!.trim();
  if (token.length < TOKEN_MIN || token.length > 512 || /\s/.test(token)) {
    throw new UsageError(
      `The \`${option}\` file ${file} must hold one token of ${TOKEN_MIN} to 512 characters without spaces`,
      'e.g. head -c 32 /dev/urandom | base64 > responder.token',
    );
  }
  return token;
}

/** What a responder answered: the receipts of the nonces asked about, or why it did not answer. */
export type ResponderAnswer =
  { ok: true; receipts: Receipt[]; watching: { udp: number[]; tcp: number[] } } | { ok: false; reason: string };

/** Ask a responder's side channel which of `nonces` arrived; never throws. */
export async function askResponder(
  url: string,
  token: string,
  nonces: readonly string[],
  signal: AbortSignal,
): Promise<ResponderAnswer> {
  const target = new URL('/v1/receipts', url);
  for (const nonce of nonces) target.searchParams.append('nonce', nonce);
  try {
    const { fetch } = await loadUndici();
    const response = await fetch(target, { headers: { authorization: `Bearer ${token}` }, signal });
    const text = await boundedText(response);
    if (response.status !== 200) {
      return { ok: false, reason: `the responder at ${url} answered HTTP ${response.status}: ${errorOf(text)}` };
    }
    const body = JSON.parse(text) as {
      receipts?: unknown;
      responder?: { watching?: { udp?: unknown; tcp?: unknown } };
    };
    const watching = body.responder?.watching;
    if (!Array.isArray(body.receipts) || !Array.isArray(watching?.udp) || !Array.isArray(watching?.tcp))
      return { ok: false, reason: `the responder at ${url} sent no receipts list` };
    return {
      ok: true,
      receipts: body.receipts as Receipt[],
      watching: { udp: watching.udp as number[], tcp: watching.tcp as number[] },
    };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = signal.aborted
      ? 'no answer before the deadline'
      : (cause?.code ?? cause?.message ?? (error as Error).message);
    return { ok: false, reason: `the responder at ${url} did not answer: ${why}` };
  }
}

async function boundedText(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > ANSWER_MAX) {
      await reader.cancel();
      throw new Error(`the answer is larger than ${ANSWER_MAX} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function errorOf(text: string): string {
  try {
    return String((JSON.parse(text) as { error?: unknown }).error ?? text).slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}
