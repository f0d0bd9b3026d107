import t from 'tap';
import {
  BerError,
  TAG,
  decodeChildren,
  decodeInteger,
  decodeOid,
  decodeOne,
  decodeSmallInteger,
  decodeTlv,
  decodeUnsigned,
  encodeInteger,
  encodeNull,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeTlv,
  parseOid,
} from '../../src/net/ber.js';

const hex = (bytes: Buffer): string => bytes.toString('hex');

t.test("integers encode in the fewest two's-complement octets", async (t) => {
  t.equal(hex(encodeInteger(0)), '020100');
  t.equal(hex(encodeInteger(127)), '02017f');
  t.equal(hex(encodeInteger(128)), '02020080');
  t.equal(hex(encodeInteger(256)), '02020100');
  t.equal(hex(encodeInteger(-1)), '0201ff');
  t.equal(hex(encodeInteger(-128)), '020180');
  t.equal(hex(encodeInteger(-129)), '0202ff7f');
  t.equal(hex(encodeInteger(2 ** 31 - 1)), '02047fffffff');
  t.equal(hex(encodeInteger(65507)), '020300ffe3');
});

t.test('integers decode back, signed for INTEGER and unsigned for counters', async (t) => {
  for (const value of [0, 1, 127, 128, 255, 256, -1, -128, -129, 2 ** 31 - 1, -(2 ** 31)]) {
    t.equal(decodeInteger(decodeOne(encodeInteger(value))), BigInt(value), String(value));
  }
  // A Counter32 of 2^32-1 as agents send it: four octets with the top bit set, no sign octet.
  t.equal(decodeUnsigned({ tag: 0x41, contents: Buffer.from('ffffffff', 'hex') }), 0xffffffffn);
  t.equal(decodeUnsigned({ tag: 0x46, contents: Buffer.from('00ffffffffffffffff', 'hex') }), 2n ** 64n - 1n);
});

t.test('an integer that is empty or absurdly long is an error', async (t) => {
  t.throws(() => decodeInteger({ tag: TAG.integer, contents: Buffer.alloc(0) }), BerError);
  t.throws(() => decodeInteger({ tag: TAG.integer, contents: Buffer.alloc(17, 1) }), BerError);
  t.throws(
    () => decodeSmallInteger(decodeOne(encodeInteger(2 ** 40)), 'the request-id', 0, 2 ** 31 - 1),
    /the request-id is 1099511627776, outside/,
  );
  t.throws(
    () => decodeSmallInteger(decodeOne(encodeNull()), 'the version', 0, 3),
    /the version has tag 0x05, expected 0x02/,
  );
});

t.test('OIDs encode and decode in base 128 with the first two arcs combined', async (t) => {
  t.equal(hex(encodeOid('1.3.6.1.2.1.1.1.0')), '06082b06010201010100');
  t.equal(hex(encodeOid('.1.3.6.1.4.1.8072')), '06072b06010401bf08');
  t.equal(hex(encodeOid('2.999.3')), '0603883703');
  for (const oid of ['1.3.6.1.2.1.1.1.0', '0.0', '2.999.3', '1.3.6.1.4.1.4294967295', '1.3.6.1.6.3.15.1.1.4.0']) {
    t.equal(decodeOid(decodeOne(encodeOid(oid))), oid, oid);
  }
});

t.test('an OID in text that is not numeric, too short or out of range is refused with the reason', async (t) => {
  t.throws(() => parseOid('1.3.x'), /arc 3 of `1\.3\.x` is `x`, not a whole number/);
  t.throws(() => parseOid('1'), /at least two arcs/);
  t.throws(() => parseOid('3.1'), /first arc .* must be 0, 1 or 2/);
  t.throws(() => parseOid('1.40'), /second arc .* at most 39/);
  t.throws(() => parseOid('1.3.4294967296'), /above 4294967295/);
  t.throws(() => parseOid('1..3'), /arc 2 .* is ``/);
});

t.test('OID contents that are not minimal base 128 or end mid-arc are errors', async (t) => {
  t.throws(() => decodeOid({ tag: TAG.oid, contents: Buffer.alloc(0) }), BerError);
  t.throws(() => decodeOid({ tag: TAG.oid, contents: Buffer.from('2b8001', 'hex') }), /redundant leading octet/);
  t.throws(() => decodeOid({ tag: TAG.oid, contents: Buffer.from('2b86', 'hex') }), /ends inside a sub-identifier/);
  t.throws(() => decodeOid({ tag: TAG.oid, contents: Buffer.from('2b8fffffffff7f', 'hex') }), /too large/);
});

t.test('lengths use the long form from 128 bytes and decode back', async (t) => {
  const long = encodeOctetString(Buffer.alloc(300, 0x61));
  t.equal(hex(long.subarray(0, 4)), '0482012c');
  const decoded = decodeOne(long);
  t.equal(decoded.tag, TAG.octetString);
  t.equal(decoded.contents.length, 300);
  t.equal(hex(encodeOctetString('public')), '04067075626c6963');
});

t.test('nested sequences decode into their children', async (t) => {
  const message = encodeSequence(encodeInteger(1), encodeOctetString('public'), encodeTlv(0xa0, encodeNull()));
  const children = decodeChildren(decodeOne(message));
  t.same(
    children.map((child) => child.tag),
    [TAG.integer, TAG.octetString, 0xa0],
  );
  t.same(
    decodeChildren(children[2]!).map((child) => child.tag),
    [TAG.null],
  );
});

t.test('garbage never crashes the decoder: it is a BerError', async (t) => {
  const cases: Array<[string, string]> = [
    ['empty', ''],
    ['a tag without a length', '30'],
    ['a length beyond the data', '3005020101'],
    ['the indefinite length form', '3080020101 0000'],
    ['five length octets', '308500000000 01'],
    ['a long-form length cut off', '3082 01'],
    ['a multi-byte tag', '1f8101 00'],
    ['bytes after the TLV', '020101 00'],
  ];
  for (const [what, bytes] of cases) {
    t.throws(() => decodeOne(Buffer.from(bytes.replace(/\s/g, ''), 'hex')), BerError, what);
  }
  t.throws(
    () => decodeChildren({ tag: TAG.sequence, contents: Buffer.from('0201010205', 'hex') }),
    BerError,
    'a child cut off',
  );
  t.throws(() => decodeTlv(Buffer.from('0201', 'hex'), 0), BerError);
});

t.test('random bytes only ever decode or throw BerError', async (t) => {
  let seed = 42;
  const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256;
  let thrown = 0;
  for (let i = 0; i < 2000; i++) {
    const bytes = Buffer.from(Array.from({ length: 1 + (i % 40) }, next));
    try {
      const tlv = decodeOne(bytes);
      if ((tlv.tag & 0x20) !== 0) decodeChildren(tlv);
    } catch (error) {
      if (!(error instanceof BerError)) throw error;
      thrown++;
    }
  }
  t.ok(thrown > 0, `${thrown} of 2000 random inputs were refused, none crashed`);
});
