import type { Options as CliOption } from 'yargs';
import type { Check } from '../core/result.js';
import type { Receipt } from '../core/receipt.js';
import { formatMs } from '../core/duration.js';
import { UsageError } from '../core/usage-error.js';
import { optionalString } from '../core/option-values.js';
import { askResponder, readTokenFile } from './receipt-client.js';

/** Where a probe asks whether its nonce arrived: a responder's side channel and its token. */
export interface ConfirmWith {
  url: string;
  token: string;
}

/** The command line options of a kind whose one-way message a responder can confirm. */
export const CONFIRM_OPTIONS: Record<string, CliOption> = {
  'confirm-with': {
    type: 'string',
    requiresArg: true,
    describe: "Ask this responder's side channel (reachgate responder --listen) whether the message arrived",
  },
  'token-file': {
    type: 'string',
    requiresArg: true,
    describe: "File holding the responder's side-channel token (with --confirm-with)",
  },
};

/** Parse --confirm-with and --token-file (both or neither); reads the token file once, here. */
export function parseConfirmWith(raw: Record<string, unknown>): ConfirmWith | undefined {
  const url = optionalString(raw, 'confirm-with');
  const tokenFile = optionalString(raw, 'token-file');
  if (url === undefined && tokenFile === undefined) return undefined;
  if (url === undefined || tokenFile === undefined)
    throw new UsageError('`--confirm-with` and `--token-file` go together: the responder answers only its token');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      `Expected \`--confirm-with\` to be an http(s) URL, got \`${url}\``,
      'e.g. --confirm-with http://198.51.100.10:8514',
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new UsageError(`Expected \`--confirm-with\` to be an http(s) URL, got \`${url}\``);
  return { url, token: readTokenFile(tokenFile) };
}

/** What the responder said about one nonce by the end of the probe's window. */
export interface Confirmation {
  receipt?: Receipt;
  /** The responder answered within the window (and watches the port): its silence about the nonce means something. */
  fresh: boolean;
  /** When the responder was not fresh: why. */
  problem?: string;
}

/** Each question's own deadline, and how long the last one (after the probe's deadline) may take. */
const QUESTION_MS = 1000;
const LAST_QUESTION_MS = 250;
const POLL_MS = [25, 50, 100, 200];

/**
 * Ask the responder about `nonce` until it has a receipt or the probe's deadline passes, then once more
 * (a message that arrived in the last moment still counts). `stop` ends the asking early.
 */
export function awaitReceipt(
  confirm: ConfirmWith,
  nonce: string,
  path: { protocol: 'udp' | 'tcp'; port: number },
  signal: AbortSignal,
): { confirmation: Promise<Confirmation>; stop(): void } {
  const stopped = new AbortController();
  const confirmation = (async (): Promise<Confirmation> => {
    // Fresh once it answered within the window while watching the port: a last question lost after the
    // deadline does not undo that.
    let fresh = false;
    let problem: string | undefined;
    for (let round = 0; ; round++) {
      const last = signal.aborted || stopped.signal.aborted;
      const answer = await askResponder(
        confirm.url,
        confirm.token,
        [nonce],
        AbortSignal.timeout(last ? LAST_QUESTION_MS : QUESTION_MS),
      );
      if (!answer.ok) problem = answer.reason;
      else if (!answer.watching[path.protocol].includes(path.port))
        problem = `the responder at ${confirm.url} does not watch ${path.protocol}/${path.port}`;
      else {
        const receipt = answer.receipts.find((found) => found.nonce === nonce);
        if (receipt) return { receipt, fresh: true };
        fresh = true;
      }
      if (last) return fresh ? { fresh } : { fresh, problem: problem ?? 'the responder was not asked' };
      await pause(POLL_MS[Math.min(round, POLL_MS.length - 1)]!, signal, stopped.signal);
    }
  })();
  return { confirmation, stop: () => stopped.abort() };
}

/** Wait `ms`, or less when either signal aborts. */
function pause(ms: number, ...signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    const any = AbortSignal.any(signals);
    if (any.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      any.removeEventListener('abort', done);
      resolve();
    }
    any.addEventListener('abort', done, { once: true });
  });
}

/** One line about a receipt for a reason: where it came from, and when (by the responder's clock). */
export function describeReceipt(receipt: Receipt): string {
  return `the responder saw its nonce on ${receipt.protocol}/${receipt.port} from ${receipt.source}:${receipt.source_port} at ${receipt.received_at}`;
}

/** The responder's word as a check: seen (with where from), or not seen while it watched; none when it was stale. */
export function confirmedChecks(
  confirmation: Confirmation,
  timeoutMs: number,
  evidence: Record<string, unknown>,
): Check[] {
  if (confirmation.receipt) {
    evidence.receipt = confirmation.receipt;
    return [{ ok: true, detail: `delivered: ${describeReceipt(confirmation.receipt)}` }];
  }
  if (confirmation.fresh)
    return [{ ok: false, detail: `the responder saw no nonce within ${formatMs(timeoutMs)}: not delivered` }];
  evidence.confirmation = `not confirmed: ${confirmation.problem}`;
  return [];
}
