import type { Receipt } from '../core/receipt.js';
import type { Sighting } from './capture.js';

/** Receipts kept at most; the oldest go first. */
const CAPACITY = 100_000;
/** How long a receipt is kept: far longer than any probe's window. */
const KEEP_MS = 60 * 60 * 1000;

/** The receipts a responder holds, by nonce: the first sighting of each counts, later copies are only counted. */
export class ReceiptBook {
  readonly #receipts = new Map<string, Receipt>();
  readonly #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  /** Record a sighting; returns the new receipt, or undefined when the nonce was seen before (a copy or a replay). */
  record(sighting: Sighting): Receipt | undefined {
    const known = this.#receipts.get(sighting.nonce);
    if (known) {
      known.copies += 1;
      return undefined;
    }
    const receipt: Receipt = {
      nonce: sighting.nonce,
      protocol: sighting.protocol,
      source: sighting.source,
      source_port: sighting.sourcePort,
      port: sighting.port,
      received_at: this.#now().toISOString(),
      copies: 1,
    };
    this.#receipts.set(sighting.nonce, receipt);
    this.#expire();
    return receipt;
  }

  /** The receipts of the named nonces that arrived; nothing about any other. */
  lookup(nonces: readonly string[]): Receipt[] {
    this.#expire();
    return nonces.flatMap((nonce) => {
      const receipt = this.#receipts.get(nonce);
      return receipt ? [{ ...receipt }] : [];
    });
  }

  get size(): number {
    return this.#receipts.size;
  }

  #expire(): void {
    const cutoff = this.#now().getTime() - KEEP_MS;
    for (const [nonce, receipt] of this.#receipts) {
      if (this.#receipts.size <= CAPACITY && Date.parse(receipt.received_at) >= cutoff) break;
      this.#receipts.delete(nonce);
    }
  }
}
