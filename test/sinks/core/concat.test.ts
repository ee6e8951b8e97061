import assert from 'node:assert/strict';
import { test } from 'node:test';
import { concatRecords } from '../../../src/sinks/core/concat';

const recs = ['{"a":"ü☃😀"}', '{"b":"\u2028x"}', '{}'].map((data) => ({
  event: {} as never,
  data,
  bytes: Buffer.byteLength(data),
}));
const plain = (rs: typeof recs, nl: boolean): string => rs.map((r) => r.data + (nl ? '\n' : '')).join('');

void test('body: records back to back (HEC /event) or one per line (/raw, file), byte-exact for multi-byte text', () => {
  assert.equal(concatRecords(recs, false).toString('utf8'), plain(recs, false));
  assert.equal(concatRecords(recs, true).toString('utf8'), plain(recs, true));
  assert.equal(
    concatRecords(recs, true).length,
    recs.reduce((n, r) => n + r.bytes + 1, 0),
    'no slack bytes in the body',
  );
  assert.equal(concatRecords([], true).length, 0);
});

void test('body: a record whose size is wrong makes the plain body, never a truncated or padded one', () => {
  for (const nl of [false, true]) {
    for (let i = 0; i < recs.length; i++) {
      for (const delta of [-3, -1, 1, 5]) {
        const lying = recs.map((r, k) => (k === i ? { ...r, bytes: Math.max(0, r.bytes + delta) } : r));
        assert.equal(
          concatRecords(lying, nl).toString('utf8'),
          plain(recs, nl),
          `record ${i}, bytes ${delta > 0 ? '+' : ''}${delta}, newlines ${nl}`,
        );
      }
    }
  }
  // The last record claims only its first character: without room after it, the write would stop there (the next
  // character does not fit) and report exactly the claimed size.
  const last = [{ event: {} as never, data: 'a€', bytes: 1 }];
  assert.equal(concatRecords(last, false).toString('utf8'), 'a€');
});
