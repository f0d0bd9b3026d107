import { crc32 } from 'node:zlib';

// NRPE's packets (Nagios' nrpe, include/common.h): big-endian, a CRC-32 over the whole packet with
// the CRC field zeroed.
//   v2: version(2) type(2) crc(4) result(2) buffer[1024] padding(2) = 1036 bytes
//   v4: version(2) type(2) crc(4) result(2) alignment(2) length(4) buffer[length]

/** The packet versions a client sends: 4 (nrpe 4.x), and 2, which every daemon since 2.0 understands. */
export type NrpeVersion = 2 | 4;

/** A response packet, checked. */
export interface NrpeResponse {
  version: number;
  type: number;
  /** The plugin's exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
  resultCode: number;
  /** The plugin's output, up to the first NUL. */
  output: string;
  crcOk: boolean;
}

/** What reading a response found so far. */
export type NrpeRead = { complete: true; response: NrpeResponse; size: number } | { complete: false; reason?: string };

/** The command that asks the daemon for its version, without running any plugin. */
export const NRPE_HELLO = '_NRPE_CHECK';

const QUERY_PACKET = 1;
/** Response packet type. */
export const RESPONSE_PACKET = 2;
const V2_BUFFER_BYTES = 1024;
const V2_PACKET_BYTES = 1036;
const V4_HEADER_BYTES = 16;
/** nrpe 4 caps output at 64 KiB; anything claiming more is not NRPE. */
const MAX_V4_BUFFER_BYTES = 65_536;
/** The largest response packet: a v4 header and the most output nrpe 4 sends (a v2 packet is smaller). */
export const MAX_RESPONSE_BYTES = V4_HEADER_BYTES + MAX_V4_BUFFER_BYTES;

/** Encode a query packet for `command`. */
export function encodeQuery(version: NrpeVersion, command: string): Buffer {
  const text = Buffer.from(`${command}\0`, 'latin1');
  let packet: Buffer;
  if (version === 2) {
    packet = Buffer.alloc(V2_PACKET_BYTES);
    text.copy(packet, 10, 0, Math.min(text.length, V2_BUFFER_BYTES - 1));
  } else {
    // Padded to a v2 packet's size, as check_nrpe does: a v2-only daemon then reads a whole packet,
    // rejects its version and closes at once, instead of waiting for bytes that never come.
    const length = Math.max(text.length, V2_PACKET_BYTES - V4_HEADER_BYTES);
    packet = Buffer.alloc(V4_HEADER_BYTES + length);
    packet.writeUInt32BE(length, 12);
    text.copy(packet, V4_HEADER_BYTES);
  }
  packet.writeInt16BE(version, 0);
  packet.writeInt16BE(QUERY_PACKET, 2);
  packet.writeUInt32BE(crc32(packet), 4);
  return packet;
}

/** Decode a response from the bytes read so far; incomplete until a whole packet is there. */
export function readResponse(bytes: Buffer): NrpeRead {
  if (bytes.length < 2) return { complete: false };
  const version = bytes.readInt16BE(0);
  if (version === 2) {
    if (bytes.length < V2_PACKET_BYTES) return { complete: false };
    return {
      complete: true,
      size: V2_PACKET_BYTES,
      response: parse(bytes.subarray(0, V2_PACKET_BYTES), 10, V2_BUFFER_BYTES),
    };
  }
  if (version === 4) {
    if (bytes.length < V4_HEADER_BYTES) return { complete: false };
    const length = bytes.readUInt32BE(12);
    if (length > MAX_V4_BUFFER_BYTES)
      return { complete: false, reason: `a v4 packet claiming ${length} bytes of output` };
    if (bytes.length < V4_HEADER_BYTES + length) return { complete: false };
    const size = V4_HEADER_BYTES + length;
    return { complete: true, size, response: parse(bytes.subarray(0, size), V4_HEADER_BYTES, length) };
  }
  return { complete: false, reason: `packet version ${version}, not the 2 or 4 a client can ask for` };
}

function parse(packet: Buffer, bufferAt: number, bufferBytes: number): NrpeResponse {
  const zeroed = Buffer.from(packet);
  zeroed.writeUInt32BE(0, 4);
  const buffer = packet.subarray(bufferAt, bufferAt + bufferBytes);
  const nul = buffer.indexOf(0);
  return {
    version: packet.readInt16BE(0),
    type: packet.readInt16BE(2),
    resultCode: packet.readInt16BE(8),
    output: buffer.subarray(0, nul < 0 ? buffer.length : nul).toString('utf8'),
    crcOk: crc32(zeroed) === packet.readUInt32BE(4),
  };
}
