/**
 * The isolation forest against scikit-learn's IsolationForest (PyPI, set up by scripts/services/analytics-tools.sh)
 * on the same data. The forests are random, so scores are compared by rank (Spearman correlation) and by mean
 * absolute difference, not value by value; both must rank the planted outliers first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import {
  averagePathLength,
  createRandom,
  trainIsolationForest,
} from '../../../src/pipeline/processors/anomaly-iforest';
import { packagePath } from '../../../src/util/paths';

const info = spawnSync('bash', [packagePath('scripts', 'services', 'analytics-tools.sh'), 'info'], {
  encoding: 'utf8',
});
const python = /^python=(.*)$/m.exec(info.stdout)?.[1];
const skip =
  python === undefined || !/^installed=yes$/m.test(info.stdout) || !fs.existsSync(python)
    ? 'scikit-learn is not installed (run: bash scripts/services/analytics-tools.sh install; it needs PyPI)'
    : false;

/** 500 normal rows (sums of uniforms, roughly normal, 4 features on different scales) and 10 planted outliers. */
function dataset(seed: number): { rows: number[][]; outliers: Set<number> } {
  const random = createRandom(seed);
  const gauss = (): number => random() + random() + random() + random() - 2;
  const rows: number[][] = [];
  for (let i = 0; i < 500; i++) rows.push([5 + gauss(), 100 + 20 * gauss(), 2 + gauss(), 300 + 50 * gauss()]);
  const outliers = new Set<number>();
  for (let i = 0; i < 10; i++) {
    outliers.add(rows.length);
    const f = i % 4;
    const row = [5 + gauss(), 100 + 20 * gauss(), 2 + gauss(), 300 + 50 * gauss()];
    row[f] = [15, 400, 12, 1500][f]! * (1 + random());
    rows.push(row);
  }
  return { rows, outliers };
}

function ranks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(values.length);
  order.forEach(([, i], k) => (r[i] = k));
  return r;
}

function spearman(a: readonly number[], b: readonly number[]): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (ra[i]! - rb[i]!) ** 2;
  return 1 - (6 * d2) / (n * (n * n - 1));
}

const topK = (scores: readonly number[], k: number): Set<number> =>
  new Set(
    scores
      .map((s, i) => [s, i] as const)
      .sort((a, b) => b[0] - a[0])
      .slice(0, k)
      .map(([, i]) => i),
  );

test('c(n), the average path length: c(1)=0, c(2)=1, c(256) as in the paper (2H(255) - 2·255/256)', () => {
  assert.equal(averagePathLength(1), 0);
  assert.equal(averagePathLength(2), 1);
  assert.ok(Math.abs(averagePathLength(256) - 10.2447) < 1e-3, String(averagePathLength(256)));
});

test('the same seed builds the same forest; planted outliers score highest', () => {
  const { rows, outliers } = dataset(5);
  const a = trainIsolationForest(rows, { seed: 9 });
  const b = trainIsolationForest(rows, { seed: 9 });
  const scores = rows.map((r) => a.score(r));
  assert.deepEqual(
    scores,
    rows.map((r) => b.score(r)),
  );
  assert.deepEqual(topK(scores, outliers.size), outliers);
  for (const i of outliers) assert.ok(scores[i]! > 0.6, `outlier ${i}: ${scores[i]}`);
});

test(
  'scores agree with scikit-learn IsolationForest on the same data (rank correlation, mean difference, top 10)',
  { skip },
  () => {
    for (const seed of [1, 2, 3]) {
      const { rows, outliers } = dataset(seed);
      const r = spawnSync(python!, [packagePath('test', 'helpers', 'iforest-reference.py')], {
        input: JSON.stringify({ rows, trees: 100, sample_size: 256, seed }),
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(r.status, 0, r.stderr);
      const reference = JSON.parse(r.stdout) as number[];
      const forest = trainIsolationForest(rows, { trees: 100, sampleSize: 256, seed });
      const ours = rows.map((row) => forest.score(row));
      const rho = spearman(ours, reference);
      const meanDiff = ours.reduce((s, v, i) => s + Math.abs(v - reference[i]!), 0) / ours.length;
      if (process.env.AEGIS_VERBOSE === '1') console.log(`seed ${seed}: Spearman ${rho}, mean abs diff ${meanDiff}`);
      assert.ok(rho >= 0.9, `seed ${seed}: Spearman ${rho}`);
      assert.ok(meanDiff <= 0.03, `seed ${seed}: mean |ours - sklearn| ${meanDiff}`);
      assert.deepEqual(topK(reference, outliers.size), outliers, `seed ${seed}: sklearn's top 10`);
      assert.deepEqual(topK(ours, outliers.size), outliers, `seed ${seed}: our top 10`);
    }
  },
);
