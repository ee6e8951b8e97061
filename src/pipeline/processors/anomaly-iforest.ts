/**
 * Isolation forest (Liu, Ting and Zhou, "Isolation Forest", ICDM 2008), written here: a few hundred lines do not
 * justify a dependency, and the forest must be seeded (a restart or a test reproduces the same trees).
 *
 * Each tree isolates points of a random subsample (`sampleSize` ψ, default 256) by random axis-parallel splits, a
 * feature drawn uniformly among those not constant in the node and a threshold drawn uniformly between that
 * feature's minimum and maximum, down to a height limit of ceil(log2 ψ). An outlier is isolated in few splits. The
 * score of x is 2^(−E[h(x)] / c(ψ)), with h(x) the depth of the leaf x falls into plus c(leaf size) for the part of
 * the tree the height limit cut off, and c(n) the average path length of an unsuccessful search in a binary search
 * tree of n points. Scores near 1 are anomalies, well below 0.5 normal points. This is also what scikit-learn's
 * IsolationForest.score_samples returns, negated; test/pipeline/processors/anomaly-iforest.test.ts compares the two.
 *
 * All trees live in one set of flat typed arrays (feature, threshold, left, right per node; a leaf keeps c(its size)
 * in `threshold`): a forest of 100 trees over 256 points is 100 × 511 nodes × 18 bytes, 0.9 MB.
 */

/** A deterministic PRNG (mulberry32): uniform doubles in [0, 1) from a 32-bit seed. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EULER_GAMMA = 0.5772156649015329;

/** c(n): average path length of an unsuccessful BST search among n points (0 for n ≤ 1, 1 for n = 2). */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + EULER_GAMMA) - (2 * (n - 1)) / n;
}

export interface IsolationForestOptions {
  /** Trees in the forest (default 100). */
  readonly trees?: number;
  /** Points each tree is built from, ψ (default 256, or all points when fewer). */
  readonly sampleSize?: number;
  readonly seed?: number;
}

export interface IsolationForest {
  /** Anomaly score of one point, in (0, 1]. */
  score(point: readonly number[]): number;
  readonly sampleSize: number;
}

/** Build a forest from `data` (rows of equal length; at least 2 rows). */
export function trainIsolationForest(
  data: readonly (readonly number[])[],
  options: IsolationForestOptions = {},
): IsolationForest {
  const treeCount = options.trees ?? 100;
  const psi = Math.min(options.sampleSize ?? 256, data.length);
  if (psi < 2) throw new Error('isolation forest: at least 2 points are needed');
  const dims = data[0]!.length;
  const random = createRandom(options.seed ?? 1);
  const heightLimit = Math.ceil(Math.log2(psi));
  const maxNodes = 2 * psi - 1;
  // The data row-major in one typed array, and every tree in one set of flat arrays (tree t's nodes at
  // t × maxNodes …): no per-tree allocation, and scoring walks typed arrays only (3× faster than one object per tree).
  const x = new Float64Array(data.length * dims);
  data.forEach((row, r) => {
    for (let d = 0; d < dims; d++) x[r * dims + d] = row[d]!;
  });
  /** Split feature of each node; -1 marks a leaf. */
  const feature = new Int16Array(treeCount * maxNodes).fill(-1);
  /** Split threshold; for a leaf, c(points that reached it), the path length the height limit cut off. */
  const threshold = new Float64Array(treeCount * maxNodes);
  const left = new Int32Array(treeCount * maxNodes);
  const right = new Int32Array(treeCount * maxNodes);
  const leafPath = new Float64Array(psi + 1);
  for (let n = 0; n <= psi; n++) leafPath[n] = averagePathLength(n);
  const indices = new Int32Array(data.length);
  const rows = new Int32Array(psi);
  const candidates: number[] = [];
  const lo = new Float64Array(dims);
  const hi = new Float64Array(dims);
  const stack: number[] = [];
  for (let t = 0; t < treeCount; t++) {
    // Subsample without replacement: a partial Fisher–Yates shuffle of the row indices.
    for (let i = 0; i < indices.length; i++) indices[i] = i;
    for (let i = 0; i < psi; i++) {
      const j = i + Math.floor(random() * (indices.length - i));
      const tmp = indices[i]!;
      indices[i] = indices[j]!;
      indices[j] = tmp;
      rows[i] = indices[i]!;
    }
    const base = t * maxNodes;
    let next = base;
    // Iterative build over (start, end, depth, node) ranges of `rows`, partitioned in place.
    stack.push(0, psi, 0, next++);
    while (stack.length > 0) {
      const node = stack.pop()!;
      const depth = stack.pop()!;
      const end = stack.pop()!;
      const start = stack.pop()!;
      const n = end - start;
      if (depth >= heightLimit || n <= 1) {
        threshold[node] = leafPath[n]!;
        continue;
      }
      lo.fill(Infinity);
      hi.fill(-Infinity);
      for (let i = start; i < end; i++) {
        const at = rows[i]! * dims;
        for (let d = 0; d < dims; d++) {
          const v = x[at + d]!;
          if (v < lo[d]!) lo[d] = v;
          if (v > hi[d]!) hi[d] = v;
        }
      }
      candidates.length = 0;
      for (let d = 0; d < dims; d++) if (hi[d]! > lo[d]!) candidates.push(d);
      if (candidates.length === 0) {
        // All points equal: nothing can separate them.
        threshold[node] = leafPath[n]!;
        continue;
      }
      const f = candidates[Math.floor(random() * candidates.length)]!;
      const split = lo[f]! + random() * (hi[f]! - lo[f]!);
      let i = start;
      let j = end - 1;
      while (i <= j) {
        if (x[rows[i]! * dims + f]! < split) i++;
        else {
          const tmp = rows[i]!;
          rows[i] = rows[j]!;
          rows[j] = tmp;
          j--;
        }
      }
      // A split at exactly lo would leave the left side empty; keep at least one point each side.
      const mid = i === start ? start + 1 : i;
      const l = next++;
      const r = next++;
      feature[node] = f;
      threshold[node] = split;
      left[node] = l;
      right[node] = r;
      stack.push(start, mid, depth + 1, l, mid, end, depth + 1, r);
    }
  }
  const norm = averagePathLength(psi);
  return {
    sampleSize: psi,
    score(point) {
      let total = 0;
      for (let t = 0; t < treeCount; t++) {
        let node = t * maxNodes;
        let depth = 0;
        let f = feature[node]!;
        while (f >= 0) {
          node = point[f]! < threshold[node]! ? left[node]! : right[node]!;
          f = feature[node]!;
          depth++;
        }
        total += depth + threshold[node]!;
      }
      return Math.pow(2, -total / treeCount / norm);
    },
  };
}
