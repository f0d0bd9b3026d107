import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Receipt } from '../core/receipt.js';
import { startCapture, type WatchedPorts } from './capture.js';
import { ReceiptBook } from './receipt-book.js';
import { createSideChannel } from './side-channel.js';

/** What a responder watches, and whether (and with which token) it answers a side channel. */
export interface ResponderOptions {
  ports: WatchedPorts;
  /** Answer the side channel on this address, for `probe … --confirm-with`. */
  listen?: { host: string; port: number; token: string };
  /** Told each new receipt (the first sighting of a nonce). */
  onReceipt?: (receipt: Receipt) => void;
}

/** A running responder. */
export interface Responder {
  book: ReceiptBook;
  /** The side channel's URL, when it listens. */
  url?: string;
  stop(): Promise<void>;
}

/** Start watching ports passively and, when asked, answering the side channel. */
export async function startResponder(options: ResponderOptions): Promise<Responder> {
  const book = new ReceiptBook();
  const startedAt = new Date();
  const stopCapture = startCapture(options.ports, (sighting) => {
    const receipt = book.record(sighting);
    if (receipt) options.onReceipt?.(receipt);
  });
  let server: Server | undefined;
  let url: string | undefined;
  if (options.listen) {
    const { host, port, token } = options.listen;
    server = createSideChannel({ book, token, watching: options.ports, startedAt });
    try {
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, host, () => resolve());
      });
    } catch (error) {
      stopCapture();
      throw error;
    }
    const bound = server.address() as AddressInfo;
    url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  }
  return {
    book,
    ...(url === undefined ? {} : { url }),
    async stop() {
      stopCapture();
      if (server) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server!.close(() => resolve()));
      }
    },
  };
}
