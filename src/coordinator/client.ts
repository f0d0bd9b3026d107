import { readFileSync } from 'node:fs';
import { UsageError } from '../core/usage-error.js';
import type { Matrix } from '../core/matrix.js';
import { isToken } from './tokens.js';

/** How long a viewer waits for the coordinator's answer. */
const FETCH_TIMEOUT_MS = 30_000;

/** Where a viewer gets the matrix: the coordinator's base URL, a viewer token file, a private certificate's CA. */
export interface MatrixSource {
  coordinator: string;
  tokenFile: string;
  caFile?: string | undefined;
}

/** Get the site's matrix from a coordinator with a viewer token; every failure is a UsageError that names the cause. */
export async function fetchMatrix(source: MatrixSource): Promise<Matrix> {
  const url = matrixUrl(source.coordinator);
  const token = readToken(source.tokenFile);
  const ca = source.caFile === undefined ? undefined : readCa(source.caFile);
  // undici is loaded only by the commands that talk to a coordinator.
  const { Agent, request } = await import('undici');
  const dispatcher = new Agent({ connect: { timeout: FETCH_TIMEOUT_MS, ...(ca ? { ca } : {}) } });
  try {
    const response = await request(url, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      dispatcher,
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) {
      const answer = text.replace(/\s+/g, ' ').slice(0, 300);
      throw new UsageError(
        `the coordinator at ${url.href} answered HTTP ${response.statusCode}: ${answer}`,
        response.statusCode === 401 || response.statusCode === 403
          ? 'Use a viewer token: `reachgate token create --viewer`.'
          : undefined,
      );
    }
    const matrix = JSON.parse(text) as Matrix;
    if (!Array.isArray(matrix?.cells) || !Array.isArray(matrix.agents)) {
      throw new UsageError(`the coordinator at ${url.href} did not answer with a matrix`);
    }
    return matrix;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code =
      (error as { cause?: { code?: string } }).cause?.code ??
      (error as { code?: string }).code ??
      (error as Error).name;
    throw new UsageError(
      `cannot get the matrix from ${url.href}: ${code}`,
      'Check --coordinator, that the coordinator runs, and --ca for a private certificate.',
    );
  } finally {
    await dispatcher.close();
  }
}

function matrixUrl(base: string): URL {
  try {
    const parsed = new URL(base);
    return new URL(`${parsed.pathname.replace(/\/+$/, '')}/api/v1/matrix`, parsed);
  } catch {
    throw new UsageError(
      `Expected the \`--coordinator\` option to be a URL like https://coordinator.example:8443, got \`${base}\``,
    );
  }
}

function readToken(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new UsageError(`cannot read the token file ${file}: ${code}`);
  }
  if (!isToken(token)) {
    throw new UsageError(
      `the token file ${file} does not hold a token: expected one line without spaces`,
      'Put the token that `reachgate token create --viewer` printed in it.',
    );
  }
  return token;
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new UsageError(`cannot read the CA file ${file}: ${code}`);
  }
}
