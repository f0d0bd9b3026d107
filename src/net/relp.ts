// RELP, the Reliable Event Logging Protocol of rsyslog/librelp: frames of
//   TXNR SP COMMAND SP DATALEN [SP DATA] LF
// where DATA (DATALEN bytes) is absent when DATALEN is 0, and a response is the command `rsp`
// whose data starts with a 3-digit status ("200 OK"), then LF-separated offers such as
// relp_version=0 and relp_software=librelp,1.11.0,...

/** One RELP frame. */
export interface RelpFrame {
  txnr: number;
  command: string;
  data: Buffer;
}

/** A `rsp` frame's data: status, its text, and the offers that follow (for an `open`). */
export interface RelpResponse {
  status: number;
  text: string;
  offers: Record<string, string>;
}

/** What the bytes read so far hold: a frame and the bytes after it, nothing whole yet, or no RELP at all. */
export type FrameRead = { frame: RelpFrame; rest: Buffer } | { incomplete: true } | { invalid: string };

const HEADER = /^(\d{1,9}) ([A-Za-z]{1,32}) (\d{1,9})/;
/** A header is at most 9 + 1 + 32 + 1 + 9 bytes. */
const MAX_HEADER_BYTES = 52;

/** Encode a frame. */
export function encodeFrame(txnr: number, command: string, data = ''): Buffer {
  const bytes = Buffer.from(data, 'utf8');
  const head = `${txnr} ${command} ${bytes.length}`;
  return Buffer.concat([Buffer.from(bytes.length > 0 ? `${head} ` : head, 'latin1'), bytes, Buffer.from('\n')]);
}

/** Read the first frame from `bytes`. */
export function readFrame(bytes: Buffer): FrameRead {
  const head = HEADER.exec(bytes.subarray(0, MAX_HEADER_BYTES).toString('latin1'));
  if (!head) {
    const soFar = bytes.subarray(0, MAX_HEADER_BYTES).toString('latin1');
    // Could this still become a header once more bytes come?
    return /^\d{0,9}( [A-Za-z]{0,32}( \d{0,9})?)?$/.test(soFar) && bytes.length < MAX_HEADER_BYTES
      ? { incomplete: true }
      : { invalid: 'no RELP frame header' };
  }
  const [text, txnr, command, length] = head as unknown as [string, string, string, string];
  const dataLength = Number(length);
  let at = text.length;
  if (dataLength > 0) {
    if (bytes.length <= at) return { incomplete: true };
    if (bytes[at] !== 0x20) return { invalid: 'no space after DATALEN' };
    at += 1;
  }
  if (bytes.length < at + dataLength + 1) return { incomplete: true };
  if (bytes[at + dataLength] !== 0x0a) return { invalid: 'the frame does not end in LF' };
  return {
    frame: { txnr: Number(txnr), command, data: bytes.subarray(at, at + dataLength) },
    rest: bytes.subarray(at + dataLength + 1),
  };
}

/** Parse a `rsp` frame's data; undefined when it does not start with a 3-digit status. */
export function parseResponse(data: Buffer): RelpResponse | undefined {
  const [first = '', ...lines] = data.toString('utf8').split('\n');
  const status = /^(\d{3})(?: (.*))?$/.exec(first);
  if (!status) return undefined;
  const offers: Record<string, string> = {};
  for (const line of lines) {
    const equals = line.indexOf('=');
    if (equals > 0) offers[line.slice(0, equals)] = line.slice(equals + 1);
    else if (line !== '') offers[line] = '';
  }
  return { status: Number(status[1]), text: status[2] ?? '', offers };
}
