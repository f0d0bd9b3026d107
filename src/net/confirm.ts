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

/** Each question's own deadline; a probe past its deadline waits this long at most for its last answer. */
const QUESTION_MS = 1000;
const LAST_ANSWER_MS = 300;
/** Pause between rounds of questions while any probe waits. */
const ROUND_MS = 40;
/** Nonces per question (the side channel takes 64 at most). */
const BATCH = 64;

/** A probe waiting for its nonce's receipt. */
interface Waiter {
  nonce: string;
  path: { protocol: 'udp' | 'tcp'; port: number };
  /** Fresh once the responder answered within the window while watching the port; a later lost answer does not undo it. */
  fresh: boolean;
  problem?: string;
  /** Past the probe's deadline: the next answer is its last. */
  last: boolean;
  finish(receipt?: Receipt): void;
}

/**
 * One poller per responder and token in this process: every waiting probe's nonce goes into one question per
 * round (64 a question), so a hundred probes at once ask a few times per round, not a hundred.
 */
class ReceiptPoller {
  readonly #waiters = new Map<string, Waiter>();
  #running = false;

  constructor(
    private readonly confirm: ConfirmWith,
    private readonly onIdle: () => void,
  ) {}

  add(waiter: Waiter): void {
    this.#waiters.set(waiter.nonce, waiter);
    if (!this.#running) void this.#run();
  }

  remove(nonce: string): void {
    this.#waiters.delete(nonce);
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiters.size > 0) {
        const round = [...this.#waiters.values()];
        const lastOnes = round.filter((waiter) => waiter.last);
        const batches: Waiter[][] = [];
        for (let i = 0; i < round.length; i += BATCH) batches.push(round.slice(i, i + BATCH));
        await Promise.all(batches.map((batch) => this.#ask(batch)));
        for (const waiter of lastOnes) waiter.finish();
        if (this.#waiters.size > 0) await new Promise((resolve) => setTimeout(resolve, ROUND_MS));
      }
    } finally {
      this.#running = false;
      this.onIdle();
    }
  }

  async #ask(batch: Waiter[]): Promise<void> {
    const nonces = batch.map((waiter) => waiter.nonce);
    const answer = await askResponder(this.confirm.url, this.confirm.token, nonces, AbortSignal.timeout(QUESTION_MS));
    for (const waiter of batch) {
      if (!answer.ok) {
        waiter.problem = answer.reason;
        continue;
      }
      const receipt = answer.receipts.find((found) => found.nonce === waiter.nonce);
      if (receipt) waiter.finish(receipt);
      else if (answer.watching[waiter.path.protocol].includes(waiter.path.port)) waiter.fresh = true;
      else
        waiter.problem = `the responder at ${this.confirm.url} does not watch ${waiter.path.protocol}/${waiter.path.port}`;
    }
  }
}

const pollers = new Map<string, ReceiptPoller>();

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
  const key = `${confirm.url}\n${confirm.token}`;
  let poller = pollers.get(key);
  if (!poller) {
    poller = new ReceiptPoller(confirm, () => pollers.delete(key));
    pollers.set(key, poller);
  }
  const owner = poller;
  let lastTimer: NodeJS.Timeout | undefined;
  let settle: (confirmation: Confirmation) => void = () => {};
  const confirmation = new Promise<Confirmation>((resolve) => {
    settle = resolve;
  });
  const waiter: Waiter = {
    nonce,
    path,
    fresh: false,
    last: false,
    finish(receipt) {
      owner.remove(nonce);
      clearTimeout(lastTimer);
      signal.removeEventListener('abort', onDeadline);
      if (receipt) settle({ receipt, fresh: true });
      else if (waiter.fresh) settle({ fresh: true });
      else settle({ fresh: false, problem: waiter.problem ?? `the responder at ${confirm.url} was not asked in time` });
    },
  };
  function onDeadline(): void {
    waiter.last = true;
    lastTimer = setTimeout(() => waiter.finish(), LAST_ANSWER_MS);
  }
  if (signal.aborted) onDeadline();
  else signal.addEventListener('abort', onDeadline, { once: true });
  owner.add(waiter);
  return { confirmation, stop: () => waiter.finish() };
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
