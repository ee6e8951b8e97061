/**
 * cgroup v2 id -> path (relative to the cgroup2 mount, `/` for the root).
 *
 * A cgroup v2 id is the inode number of its directory, so the map is built by walking the cgroup2 mount. Lookups
 * are a Map hit; on a miss (a cgroup created since the last walk) the tree is walked again, at most once per
 * `minRescanIntervalMillis`, so a stream of events from unknown (or already removed) cgroups cannot turn into a
 * stream of directory walks. Unknown ids resolve to ''.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface CgroupResolver {
  resolve(cgid: number): string;
  /** Walks now, regardless of the rate limit. */
  rescan(): void;
  readonly root: string | undefined;
  stats(): { readonly entries: number; readonly rescans: number; readonly misses: number };
}

export interface CgroupResolverOptions {
  /** cgroup2 mount point; undefined = none (everything resolves to ''). */
  readonly root: string | undefined;
  readonly minRescanIntervalMillis?: number;
  /** Bound on directories walked per rescan. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/** The first cgroup2 mount in /proc/self/mounts (e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified), if any. */
export function findCgroup2Mount(mountsText?: string): string | undefined {
  let text = mountsText;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/mounts', 'utf8');
    } catch {
      return undefined;
    }
  }
  for (const line of text.split('\n')) {
    const parts = line.split(' ');
    if (parts[2] === 'cgroup2' && parts[1] !== undefined) return parts[1].replace(/\\040/g, ' ');
  }
  return undefined;
}

export function createCgroupResolver(options: CgroupResolverOptions): CgroupResolver {
  const root = options.root;
  const minInterval = options.minRescanIntervalMillis ?? 1000;
  const maxEntries = options.maxEntries ?? 100_000;
  const now = options.now ?? Date.now;
  let byId = new Map<number, string>();
  let lastScan = Number.NEGATIVE_INFINITY;
  let rescans = 0;
  let misses = 0;

  const rescan = (): void => {
    lastScan = now();
    rescans++;
    if (root === undefined) return;
    const next = new Map<number, string>();
    const stack: string[] = ['/'];
    while (stack.length > 0 && next.size < maxEntries) {
      const rel = stack.pop() as string;
      const abs = rel === '/' ? root : path.join(root, rel);
      let st: fs.Stats;
      let entries: fs.Dirent[];
      try {
        st = fs.statSync(abs);
        entries = fs.readdirSync(abs, { withFileTypes: true });
      } catch {
        continue; // removed while walking
      }
      next.set(st.ino, rel);
      for (const e of entries) {
        if (e.isDirectory()) stack.push(rel === '/' ? `/${e.name}` : `${rel}/${e.name}`);
      }
    }
    byId = next;
  };

  return {
    root,
    rescan,
    resolve(cgid) {
      const hit = byId.get(cgid);
      if (hit !== undefined) return hit;
      misses++;
      if (now() - lastScan >= minInterval) {
        rescan();
        return byId.get(cgid) ?? '';
      }
      return '';
    },
    stats() {
      return { entries: byId.size, rescans, misses };
    },
  };
}
