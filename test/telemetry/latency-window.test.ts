import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Histogram, LatencyWindow } from '../../src/telemetry/stats';

/** Weighted nearest-rank quantile by brute force: expand every observation into `weight` copies. */
function bruteForce(obs: readonly [number, number][], q: number): number {
  const all: number[] = [];
  for (const [v, w] of obs) for (let i = 0; i < w; i++) all.push(v);
  all.sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * all.length));
  return all[rank - 1] as number;
}

test('LatencyWindow quantiles equal the per-event nearest-rank quantiles of the observations', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 20 })), {
        minLength: 1,
        maxLength: 200,
      }),
      (obs) => {
        const w = new LatencyWindow(1024, 60_000);
        obs.forEach(([v, n], i) => w.record(v, n, i));
        const got = w.quantiles([0.5, 0.95, 0.99], obs.length);
        assert.deepEqual(got, [bruteForce(obs, 0.5), bruteForce(obs, 0.95), bruteForce(obs, 0.99)]);
        assert.equal(
          w.count,
          obs.reduce((a, [, n]) => a + n, 0),
        );
        assert.equal(
          w.sum,
          obs.reduce((a, [v, n]) => a + v * n, 0),
        );
      },
    ),
  );
});

test('a chunk of many events weighs as much as many chunks of one', () => {
  const w = new LatencyWindow();
  w.record(10, 1, 0); // one fast chunk of 1 event
  w.record(1000, 99, 0); // one slow chunk of 99 events
  // Per chunk the median would be 10 or 1000; per event, 99 % of events waited 1000.
  assert.deepEqual(w.quantiles([0.5, 0.01], 0), [1000, 10]);
});

test('LatencyWindow keeps only the last `capacity` observations and drops those older than maxAge; empty is NaN', () => {
  const w = new LatencyWindow(4, 1000);
  assert.ok(Number.isNaN(w.quantiles([0.5], 0)[0]));
  for (let i = 1; i <= 6; i++) w.record(i * 100, 1, i);
  assert.deepEqual(w.quantiles([0, 1], 6), [300, 600]); // 100 and 200 fell out of the ring
  assert.deepEqual(w.quantiles([0, 1], 1004), [400, 600]); // 300 is 1001 ms old, 400 exactly 1000: kept
  assert.deepEqual(w.quantiles([0, 1], 1005), [500, 600]);
  assert.ok(Number.isNaN(w.quantiles([0.5], 5000)[0]));
  assert.equal(w.count, 6, 'lifetime count keeps everything');
  w.record(5, 0, 6000); // weight 0: ignored
  assert.equal(w.count, 6);
});

test('Histogram.observe with a count adds that many observations', () => {
  const h = new Histogram([10, 100]);
  h.observe(50, 7);
  h.observe(5);
  h.observe(500, 2);
  assert.deepEqual(h.counts, [1, 7, 2]);
  assert.equal(h.count, 10);
  assert.equal(h.sum, 50 * 7 + 5 + 1000);
});

test('LatencyWindow quantiles of a full window of fractional values match brute force (the typed-array sort)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.integer({ min: 1, max: 5 })), {
        minLength: 1,
        maxLength: 600,
      }),
      (obs) => {
        const w = new LatencyWindow(512, 60_000); // smaller than some inputs: the ring wraps
        obs.forEach(([v, n]) => w.record(v, n, 0));
        const kept = obs.slice(-512);
        const got = w.quantiles([0, 0.5, 0.99, 1], 0);
        const want = [0, 0.5, 0.99, 1].map((q) => bruteForce(kept, Math.max(q, 1e-9)));
        for (const [i, g] of got.entries()) {
          const e = want[i] as number;
          // Relative 2^-30, or absolute for subnormals (their low bits are the whole value).
          assert.ok(Math.abs(g - e) <= Math.max(Math.abs(e), 2 ** -1000) * 2 ** -30, `q ${i}: ${g} vs ${e}`);
        }
      },
    ),
  );
});

test('LatencyWindow quantiles with a negative value (the comparator fallback) are exact too', () => {
  const w = new LatencyWindow(16, 60_000);
  for (const v of [5, -3, 7, 0, 2]) w.record(v, 1, 0);
  assert.deepEqual(w.quantiles([0, 0.5, 1], 0), [-3, 2, 7]);
});

test('LatencyWindow quantiles with reuseMillis give the last result for that long, then recompute', () => {
  const w = new LatencyWindow(16, 60_000);
  const qs = [0.5, 1];
  w.record(10, 1, 0);
  assert.deepEqual(w.quantiles(qs, 0, 1000), [10, 10]);
  w.record(30, 3, 500);
  assert.deepEqual(w.quantiles(qs, 999, 1000), [10, 10], 'reused within the second');
  assert.deepEqual(w.quantiles([0.5, 1], 999, 1000), [30, 30], 'another qs array is computed');
  assert.deepEqual(w.quantiles(qs, 1000, 1000), [30, 30], 'recomputed after it');
  assert.deepEqual(w.quantiles(qs, 1000), [30, 30]);
});
