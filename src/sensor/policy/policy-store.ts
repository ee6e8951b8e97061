/**
 * Applied policies on disk, for `policy show`, `policy rollback` and for re-applying at sensor start.
 *
 * <stateDir>/current.json is the policy in force, <stateDir>/previous.json the one before it. A change writes one
 * file: the new current.json, to a temporary file, fdatasync'ed, then renamed; previous.json becomes the old
 * current.json by a hard link and a rename (no data written again), and the directory is fsync'ed so the renames
 * survive a power loss. A crash at any point leaves current.json either the old or the new policy, never a torn one
 * (between the two renames both files hold the old policy: one rollback step is lost, nothing in force is).
 *
 * Two ways to write: stage()/commit() (synchronous; `aegisbpf policy apply` and PUT /api/v1/policy: the temporary file
 * is written before the maps, renamed after they accepted the policy, so a failed apply changes nothing on disk), and
 * persist() (asynchronous, for the API's blocklist: the maps are written first and the store after, see
 * src/daemon/api/blocklist.ts for the order and what a crash leaves).
 *
 * Two processes change the store (the `policy` command and the daemon): each holds the lock file `current.json.lock`
 * from reading the policy it changes until the new one is on disk (withLock, acquireLock), so neither writes over a
 * change of the other that it did not see.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FileLockHandle } from '../../util/file-lock';
import { acquireFileLock, withFileLock } from '../../util/file-lock';
import type { CompiledRule } from './policy-compile';
import type { PolicyMode } from './policy-file';

export interface StoredPolicy {
  readonly generation: number;
  readonly appliedAt: string;
  /** Where the YAML came from (a path, or `rollback`). */
  readonly source: string;
  readonly text: string;
  readonly mode: PolicyMode;
  readonly rules: readonly CompiledRule[];
  /** Whether it reached kernel maps when applied (false: stored for the next sensor start). */
  readonly live: boolean;
}

export interface PendingWrite {
  commit(): void;
  abort(): void;
}

export interface PolicyStore {
  readonly dir: string;
  current(): StoredPolicy | undefined;
  previous(): StoredPolicy | undefined;
  /**
   * Stage `next` as current and the current one as previous; nothing changes until commit(). A rollback stages the
   * previous policy this way, so a second rollback undoes the first.
   */
  stage(next: StoredPolicy): PendingWrite;
  /**
   * Make `next` the current policy and the current one on disk the previous, durably, without blocking the event
   * loop (asynchronous I/O: one file written and fdatasync'ed, two renames, one directory fsync).
   */
  persist(next: StoredPolicy): Promise<void>;
  /**
   * Identity of current.json (inode, size, mtime and ctime in ns; '' when absent): cheap change detection for readers.
   * The inode matters: every write renames a new file into place, and timestamps are coarse (a jiffy), so two writes
   * in the same few milliseconds can share an mtime but never the inode of a file still linked (previous.json).
   */
  currentVersion(): string;
  /**
   * Run `fn` holding the store's lock file (`current.json.lock`), waiting synchronously (at most 5 s, then
   * AEGIS_ERR_POLICY_LOCKED): `aegisbpf policy apply|rollback` around its read-modify-write of the store.
   */
  withLock<T>(fn: () => T): T;
  /** The same lock for the daemon, waited for without blocking the event loop. */
  acquireLock(): Promise<FileLockHandle>;
  /**
   * The mode a running `aegisbpf run --enforce|--audit` forces on every policy it or `aegisbpf policy` installs
   * (file `mode-override` in the state directory, written at the daemon's start, removed at its stop), or undefined.
   */
  modeOverride(): 'audit' | 'enforce' | undefined;
  setModeOverride(mode: 'audit' | 'enforce' | undefined): void;
}

export const DEFAULT_STATE_DIR = '/var/lib/aegisbpf/policy';

function read(file: string): StoredPolicy | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return JSON.parse(text) as StoredPolicy;
}

const encode = (value: StoredPolicy): string => JSON.stringify(value, null, 2) + '\n';

function writeTmp(file: string, value: StoredPolicy): string {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, encode(value));
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return tmp;
}

/** previous.json := the current current.json, by a hard link renamed into place (metadata only). */
function linkPreviousSync(currentFile: string, previousFile: string): void {
  const tmp = `${previousFile}.tmp-${process.pid}`;
  fs.rmSync(tmp, { force: true });
  try {
    fs.linkSync(currentFile, tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // no current yet: previous stays as it is
    throw err;
  }
  fs.renameSync(tmp, previousFile);
}

function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function createPolicyStore(dir: string = DEFAULT_STATE_DIR): PolicyStore {
  const currentFile = path.join(dir, 'current.json');
  const previousFile = path.join(dir, 'previous.json');
  const overrideFile = path.join(dir, 'mode-override');

  const stageSync = (nextCurrent: StoredPolicy): PendingWrite => {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmpCurrent = writeTmp(currentFile, nextCurrent);
    let done = false;
    return {
      commit() {
        if (done) return;
        done = true;
        // previous first: a crash in between leaves the old current in place (safe) rather than losing it
        linkPreviousSync(currentFile, previousFile);
        fs.renameSync(tmpCurrent, currentFile);
        fsyncDirSync(dir);
      },
      abort() {
        if (done) return;
        done = true;
        fs.rmSync(tmpCurrent, { force: true });
      },
    };
  };

  const lockOptions = { code: 'AEGIS_ERR_POLICY_LOCKED', what: `the policy store ${dir}` };
  let lockDirMade = false;
  let persistSeq = 0;
  // The directory made once and its descriptor kept for the renames' fsync: per change, a recursive mkdir and an
  // open/close of the directory would cost more event-loop time than the write itself. Callback fs calls (not
  // FileHandle promises, which cost more per call).
  let dirFd: number | undefined;
  const call = <T>(f: (cb: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> =>
    new Promise<T>((resolve, reject) => f((err, value) => (err === null ? resolve(value) : reject(err))));
  const done = (f: (cb: (err: NodeJS.ErrnoException | null) => void) => void): Promise<void> =>
    call<void>((cb) => f((err) => cb(err, undefined)));
  const persistAsync = async (next: StoredPolicy): Promise<void> => {
    if (dirFd === undefined) {
      await call<string | undefined>((cb) => fs.mkdir(dir, { recursive: true, mode: 0o700 }, cb));
      dirFd = await call<number>((cb) => fs.open(dir, 'r', cb));
    }
    // Unique per call: a synchronous stage() of the same process never shares the temporary name.
    const tmpCurrent = `${currentFile}.tmp-${process.pid}-a${++persistSeq}`;
    const tmpPrevious = `${previousFile}.tmp-${process.pid}-a${persistSeq}`;
    let fd: number;
    try {
      fd = await call<number>((cb) => fs.open(tmpCurrent, 'w', 0o600, cb));
    } catch (err) {
      // The directory may have been removed: made and opened again on the next change.
      const old = dirFd;
      dirFd = undefined;
      fs.close(old, () => undefined);
      throw err;
    }
    try {
      const data = Buffer.from(encode(next));
      await call<number>((cb) => fs.write(fd, data, 0, data.length, 0, cb));
      await done((cb) => fs.fdatasync(fd, cb));
    } catch (err) {
      await done((cb) => fs.close(fd, cb));
      await done((cb) => fs.rm(tmpCurrent, { force: true }, cb));
      throw err;
    }
    await done((cb) => fs.close(fd, cb));
    let linked = true;
    try {
      await done((cb) => fs.link(currentFile, tmpPrevious, cb));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      linked = false;
    }
    if (linked) await done((cb) => fs.rename(tmpPrevious, previousFile, cb));
    await done((cb) => fs.rename(tmpCurrent, currentFile, cb));
    const d = dirFd;
    await done((cb) => fs.fsync(d, cb));
  };

  return {
    dir,
    current: () => read(currentFile),
    previous: () => read(previousFile),
    stage(next) {
      return stageSync(next);
    },
    persist: persistAsync,
    currentVersion() {
      const st = fs.statSync(currentFile, { bigint: true, throwIfNoEntry: false });
      return st === undefined ? '' : `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    },
    withLock(fn) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      return withFileLock(currentFile, fn, lockOptions);
    },
    async acquireLock() {
      if (!lockDirMade) {
        await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
        lockDirMade = true;
      }
      return acquireFileLock(currentFile, lockOptions);
    },
    modeOverride() {
      let text: string;
      try {
        text = fs.readFileSync(overrideFile, 'utf8').trim();
      } catch {
        return undefined;
      }
      return text === 'audit' || text === 'enforce' ? text : undefined;
    },
    setModeOverride(mode) {
      if (mode === undefined) {
        fs.rmSync(overrideFile, { force: true });
        return;
      }
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(overrideFile, mode + '\n', { mode: 0o600 });
    },
  };
}
