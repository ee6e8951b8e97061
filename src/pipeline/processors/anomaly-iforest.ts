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
 * Trees are flat typed arrays (feature, threshold, left, right, size per node): a forest of 100 trees over 256
 * points is about 100 × 511 nodes × 28 bytes, 1.4 MB at most, usually much less.
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

interface Tree {
  /** Split feature of each node; -1 marks a leaf. */
  readonly feature: Int16Array;
  readonly threshold: Float64Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  /** Points that reached a leaf (0 for inner nodes). */
  readonly size: Int32Array;
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
  const trees: Tree[] = [];
  const indices = new Int32Array(data.length);
  for (let t = 0; t < treeCount; t++) {
    // Subsample without replacement: a partial Fisher–Yates shuffle of the row indices.
    for (let i = 0; i < indices.length; i++) indices[i] = i;
    for (let i = 0; i < psi; i++) {
      const j = i + Math.floor(random() * (indices.length - i));
      const tmp = indices[i]!;
      indices[i] = indices[j]!;
      indices[j] = tmp;
    }
    const rows = indices.slice(0, psi);
    const tree: Tree = {
      feature: new Int16Array(maxNodes).fill(-1),
      threshold: new Float64Array(maxNodes),
      left: new Int32Array(maxNodes),
      right: new Int32Array(maxNodes),
      size: new Int32Array(maxNodes),
    };
    let next = 0;
    const candidates: number[] = [];
    const lo = new Float64Array(dims);
    const hi = new Float64Array(dims);
    // Iterative build over (start, end, depth, node) ranges of `rows`, partitioned in place.
    const stack: number[] = [0, psi, 0, next++];
    while (stack.length > 0) {
      const node = stack.pop()!;
      const depth = stack.pop()!;
      const end = stack.pop()!;
      const start = stack.pop()!;
      const n = end - start;
      if (depth >= heightLimit || n <= 1) {
        tree.size[node] = n;
        continue;
      }
      lo.fill(Infinity);
      hi.fill(-Infinity);
      for (let i = start; i < end; i++) {
        const row = data[rows[i]!]!;
        for (let d = 0; d < dims; d++) {
          const v = row[d]!;
          if (v < lo[d]!) lo[d] = v;
          if (v > hi[d]!) hi[d] = v;
        }
      }
      candidates.length = 0;
      for (let d = 0; d < dims; d++) if (hi[d]! > lo[d]!) candidates.push(d);
      if (candidates.length === 0) {
        // All points equal: nothing can separate them.
        tree.size[node] = n;
        continue;
      }
      const f = candidates[Math.floor(random() * candidates.length)]!;
      const split = lo[f]! + random() * (hi[f]! - lo[f]!);
      let i = start;
      let j = end - 1;
      while (i <= j) {
        if (data[rows[i]!]![f]! < split) i++;
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
      tree.feature[node] = f;
      tree.threshold[node] = split;
      tree.left[node] = l;
      tree.right[node] = r;
      stack.push(start, mid, depth + 1, l, mid, end, depth + 1, r);
    }
    trees.push(tree);
  }
  const norm = averagePathLength(psi);
  // c(leaf size) for every size a leaf can have (at most ψ): a lookup instead of a logarithm per tree per point.
  const leafPath = new Float64Array(psi + 1);
  for (let n = 0; n <= psi; n++) leafPath[n] = averagePathLength(n);
  return {
    sampleSize: psi,
    score(point) {
      let total = 0;
      for (const tree of trees) {
        let node = 0;
        let depth = 0;
        while (tree.feature[node]! >= 0) {
          node = point[tree.feature[node]!]! < tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
          depth++;
        }
        total += depth + leafPath[tree.size[node]!]!;
      }
      return Math.pow(2, -total / trees.length / norm);
    },
  };
}
