import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodeComm,
  decodeCString,
  decodeStringList,
  decodeText,
  formatIpv6,
  kernelDevToUser,
  readU64,
  u64ExactText,
  userDevToKernel,
} from '../../src/sensor/text';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

void test('valid UTF-8 passes through unchanged', () => {
  for (const s of ['/usr/bin/ls', 'ünïcødé', '日本語/ファイル', '🙂 emoji', 'tab\tand\nnewline']) {
    const b = Buffer.from(s);
    assert.equal(decodeText(b, 0, b.length), s);
  }
});

void test('invalid UTF-8: each maximal ill-formed subsequence becomes one U+FFFD (WHATWG), deterministically', () => {
  const cases: [number[], string][] = [
    [[0x66, 0xff, 0x6f], 'f\uFFFDo'],
    [[0xe2, 0x82], '\uFFFD'], // truncated 3-byte sequence: one replacement
    [[0xed, 0xa0, 0x80], '\uFFFD\uFFFD\uFFFD'], // CESU surrogate: not UTF-8, three replacements
    [[0xc0, 0xaf], '\uFFFD\uFFFD'], // overlong '/'
    [[0x2f, 0x74, 0x6d, 0x70, 0x2f, 0x80, 0x81], '/tmp/\uFFFD\uFFFD'],
  ];
  for (const [bytes, want] of cases)
    assert.equal(decodeText(Buffer.from(bytes), 0, bytes.length), want, JSON.stringify(bytes));
});

void test('any bytes decode to a well-formed string that survives JSON, the same every time', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (arr) => {
      const b = Buffer.from(arr);
      const s = decodeText(b, 0, b.length);
      assert.equal(decodeText(Buffer.from(arr), 0, arr.length), s);
      assert.ok(!LONE_SURROGATE.test(s));
      assert.equal(JSON.parse(JSON.stringify({ s })).s, s);
    }),
    { numRuns: 2000 },
  );
});

void test('C strings stop at NUL or at the field end; lists keep a truncated tail', () => {
  const comm = Buffer.alloc(16);
  Buffer.from('bash').copy(comm);
  assert.equal(decodeCString(comm, 0, 16), 'bash');
  assert.equal(decodeCString(Buffer.from('0123456789abcdefXYZ'), 0, 16), '0123456789abcdef');
  const args = Buffer.from('ls\0-la\0/tm');
  assert.deepEqual(decodeStringList(args, 0, args.length), ['ls', '-la', '/tm']);
  assert.deepEqual(decodeStringList(Buffer.from('a\0\0b\0'), 0, 5), ['a', '', 'b']);
});

void test('u64: exact numbers below 2^53, exact digits above', () => {
  const b = Buffer.alloc(8);
  const v = new DataView(b.buffer, b.byteOffset, 8);
  b.writeBigUInt64LE(2n ** 53n - 1n);
  assert.equal(readU64(v, 0), Number.MAX_SAFE_INTEGER);
  assert.equal(u64ExactText(v, 0), undefined, 'the number is exact: no text needed');
  b.writeBigUInt64LE(2n ** 64n - 1n);
  assert.equal(u64ExactText(v, 0), '18446744073709551615');
  b.writeBigUInt64LE(9007199254740993n); // 2^53 + 1: not representable as a number
  assert.equal(u64ExactText(v, 0), '9007199254740993');
});

void test('comm cache: equal bytes give the cached string, any differing byte gives its own', () => {
  const mk = (s: string, tail = 0): Buffer => {
    const b = Buffer.alloc(16);
    b.write(s);
    b[15] = tail;
    return b;
  };
  const dv = (b: Buffer) => new DataView(b.buffer, b.byteOffset, b.length);
  const a = mk('nginx');
  assert.equal(decodeComm(dv(a), a, 0), 'nginx');
  assert.equal(decodeComm(dv(a), a, 0), 'nginx');
  const b = mk('nginy');
  assert.equal(decodeComm(dv(b), b, 0), 'nginy');
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (arr) => {
      const buf = Buffer.from(arr);
      assert.equal(decodeComm(dv(buf), buf, 0), decodeCString(buf, 0, 16));
    }),
    { numRuns: 5000 },
  );
});

void test('dev_t: kernel encoding <-> stat(2) encoding', () => {
  // /dev/vda (254:0) and a large minor
  assert.equal(kernelDevToUser((254 << 20) | 0), 0xfe00);
  assert.equal(kernelDevToUser(0 * 0x100000 + 0x12345), 0x12300045);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xfff }), fc.integer({ min: 0, max: 0xfffff }), (major, minor) => {
      const k = major * 0x100000 + minor;
      assert.equal(userDevToKernel(kernelDevToUser(k)), k);
    }),
  );
});

void test('IPv6 text form follows RFC 5952', () => {
  const ip = (hex: string): string => formatIpv6(Buffer.from(hex, 'hex'), 0);
  assert.equal(ip('00000000000000000000000000000001'), '::1');
  assert.equal(ip('20010db8000000000000000000000001'), '2001:db8::1');
  assert.equal(ip('20010db8000000010000000000000001'), '2001:db8:0:1::1');
  assert.equal(ip('20010db800000000000100000000000a'), '2001:db8::1:0:0:a');
  assert.equal(ip('00000000000000000000ffff7f000001'), '::ffff:127.0.0.1');
  assert.equal(ip('fe800000000000000000000000000000'), 'fe80::');
  assert.equal(ip('20010db8000100020003000400050006'), '2001:db8:1:2:3:4:5:6');
});
