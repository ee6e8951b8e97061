/**
 * Texts cross the worker threads in parts of at most SEGMENT_CHARS (src/pipeline/workers/text-segments.ts). Bug it
 * guards against: one string per item was over V8's large-object size, and the engine's thread held 390 MiB RSS for
 * replay → ECS → file with 2 workers (docs/benchmarks.md, pipeline workers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SEGMENT_CHARS, SegmentedTextBuilder, SegmentedTextReader } from '../../src/pipeline/workers/text-segments';
import { prng } from '../helpers/events';

test('segmented texts: every part stays under SEGMENT_CHARS unless one text alone is longer; each text reads back', () => {
  const random = prng(11);
  const texts: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const len = i === 1500 ? SEGMENT_CHARS * 2 : Math.floor(random() * 900);
    texts.push(`${i}:` + 'é\u2028x'.repeat(len).slice(0, len));
  }
  const builder = new SegmentedTextBuilder();
  for (const t of texts) builder.add(t);
  const built = builder.build();
  assert.ok(built.parts.length > 10, `${built.parts.length} parts`);
  for (const part of built.parts)
    assert.ok(part.length <= SEGMENT_CHARS || part === texts[1500], `a part of ${part.length} characters`);
  assert.equal(
    Array.from(built.counts).reduce((a, b) => a + b, 0),
    texts.length,
  );
  const reader = new SegmentedTextReader(built);
  assert.equal(reader.length, texts.length);
  for (let i = texts.length - 1; i >= 0; i -= 7) assert.equal(reader.get(i), texts[i]);
  assert.deepEqual(
    texts.map((_, i) => reader.get(i)),
    texts,
  );
  const empty = new SegmentedTextBuilder().build();
  assert.equal(new SegmentedTextReader(empty).length, 0);
});
