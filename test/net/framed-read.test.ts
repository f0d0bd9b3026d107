import { PassThrough } from 'node:stream';
import t from 'tap';
import { lengthPrefixed, readFramed } from '../../src/net/framed-read.js';

// One frame read from a stream: settles once, on the frame, the peer, the byte bound, idleness or the deadline.

/** A 2-byte length prefix and its payload. */
function framed(payload: string): Buffer {
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(payload.length);
  return Buffer.concat([prefix, Buffer.from(payload)]);
}

/** How many listeners the reader could have left on a stream. */
function listenersOn(stream: PassThrough): number {
  return ['data', 'end', 'close', 'error'].reduce((sum, event) => sum + stream.listenerCount(event), 0);
}

const FRAME = { frame: lengthPrefixed(2, 1024), maxBytes: 2 + 1024 };

t.test('a signal aborted before the read starts ends it at once, listening to nothing', async (t) => {
  const stream = new PassThrough();
  const read = await readFramed(stream, { ...FRAME, signal: AbortSignal.abort() });
  t.same(read, { bytes: Buffer.alloc(0), end: 'deadline' });
  t.equal(listenersOn(stream), 0);
});

t.test('an abort in the middle of a frame ends the read with the bytes so far', async (t) => {
  const stream = new PassThrough();
  const controller = new AbortController();
  const reading = readFramed(stream, { ...FRAME, signal: controller.signal });
  stream.write(framed('hello').subarray(0, 4));
  await new Promise((resolve) => setImmediate(resolve));
  controller.abort();
  const read = await reading;
  t.match(read, { end: 'deadline', bytes: framed('hello').subarray(0, 4) });
  t.notOk(read.frame);
  t.equal(listenersOn(stream), 0);
});

t.test('a peer that closes before the frame is whole ends the read as closed', async (t) => {
  const stream = new PassThrough();
  const reading = readFramed(stream, { ...FRAME, signal: new AbortController().signal });
  stream.end(framed('hello').subarray(0, 3));
  const read = await reading;
  t.match(read, { end: 'closed', bytes: framed('hello').subarray(0, 3) });
  t.notOk(read.frame);
});

t.test('a reset ends the read like a close', async (t) => {
  const stream = new PassThrough();
  const reading = readFramed(stream, { ...FRAME, signal: new AbortController().signal });
  stream.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
  t.match(await reading, { end: 'closed' });
});

t.test('a frame split over many chunks is put back together, and bytes after it are kept apart', async (t) => {
  const stream = new PassThrough();
  const reading = readFramed(stream, { ...FRAME, signal: new AbortController().signal });
  const whole = Buffer.concat([framed('hello'), Buffer.from('next')]);
  for (const byte of whole.subarray(0, 6)) {
    stream.write(Buffer.of(byte));
    await new Promise((resolve) => setImmediate(resolve));
  }
  stream.write(whole.subarray(6));
  const read = await reading;
  t.equal(read.end, 'complete');
  t.equal(read.frame?.toString('latin1'), framed('hello').toString('latin1'));
  t.equal(listenersOn(stream), 0);
});

t.test('a length prefix above the bound is no frame of the protocol', async (t) => {
  const stream = new PassThrough();
  const signal = new AbortController().signal;
  const reading = readFramed(stream, { frame: lengthPrefixed(4, 100), maxBytes: 104, signal });
  stream.write(Buffer.from([0x80, 0, 0, 0, 1, 2]));
  t.match(await reading, { end: 'invalid', invalid: 'a length prefix of 2147483648 bytes, more than 100' });
});

t.test('bytes that reach the bound without a whole frame end the read as full', async (t) => {
  const stream = new PassThrough();
  const reading = readFramed(stream, { frame: () => undefined, maxBytes: 8, signal: new AbortController().signal });
  stream.write(Buffer.alloc(5));
  stream.write(Buffer.alloc(5));
  const read = await reading;
  t.equal(read.end, 'full');
  t.equal(read.bytes.length, 10);
});

t.test('a peer that falls silent after some bytes ends the read as idle', async (t) => {
  const stream = new PassThrough();
  const signal = new AbortController().signal;
  const reading = readFramed(stream, { frame: () => undefined, maxBytes: 100, idleMs: 50, signal });
  stream.write('banner');
  const read = await reading;
  t.match(read, { end: 'idle' });
  t.equal(read.bytes.toString(), 'banner');
});

t.test('the read settles once: a close and an abort after the frame change nothing', async (t) => {
  const stream = new PassThrough();
  const controller = new AbortController();
  const reading = readFramed(stream, { ...FRAME, signal: controller.signal });
  stream.write(framed('ok'));
  const read = await reading;
  stream.end();
  controller.abort();
  t.equal(read.end, 'complete');
  t.equal(listenersOn(stream), 0);
});
