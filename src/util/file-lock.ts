/**
 * A lock file beside a file that two processes write: the daemon (API operations) and the `aegisbpf` commands. The
 * audit log (both append), the keys file (the `auth`/`rbac` commands rewrite it), and the policy store (`policy
 * apply|rollback` and the daemon's blocklist changes and PUT /api/v1/policy read, modify and write it). Node has no
 * flock(2), so the lock is an exclusive create (`O_CREAT|O_EXCL`) of `<file>.lock` holding the owner's pid.
 *
 * Two ways to wait for it:
 * - withFileLock (synchronous, sleeping 2 ms between tries): for the commands, which have nothing else to do, and
 *   so that their critical section cannot interleave with anything of the same process;
 * - acquireFileLock (a promise, retrying on a 2 ms timer): for the daemon, whose event loop keeps serving requests
 *   and running the pipeline while another process holds the lock.
 * Both give up after `waitMillis` (default 5 s) with an error naming the lock file and its owner.
 *
 * A lock whose owner is gone (a crashed command) is taken over: its pid no longer exists, or the lock is older than
 * STALE_LOCK_MILLIS. Releasing removes the file only while it still holds this process's pid (a lock taken over as
 * stale is not removed by the process it was taken from).
 */
import fs from 'node:fs';
import { AegisError } from './errors';

export const STALE_LOCK_MILLIS = 10_000;
export const LOCK_WAIT_MILLIS = 5_000;
const RETRY_MILLIS = 2;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

export interface FileLockOptions {
  /** How long to wait for another process's lock (default LOCK_WAIT_MILLIS). */
  readonly waitMillis?: number;
  /** The code of the error when the wait ends (default AEGIS_ERR_API_STORE: the keys file's). */
  readonly code?: string;
  /** What is locked, for the message (default the file's path). */
  readonly what?: string;
}

function ownerOf(lockPath: string): string {
  try {
    const pid = fs.readFileSync(lockPath, 'utf8').trim();
    return pid === '' ? 'a process' : `pid ${pid}`;
  } catch {
    return 'a process';
  }
}

function ownerGone(lockPath: string): boolean {
  try {
    const st = fs.statSync(lockPath);
    if (Date.now() - st.mtimeMs > STALE_LOCK_MILLIS) return true;
    const pid = Number(fs.readFileSync(lockPath, 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return false; // being written: wait
    try {
      process.kill(pid, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  } catch {
    return false; // released meanwhile
  }
}

/** One try: true when this process now holds the lock (a stale one taken over), false when another process does. */
function tryLock(lockPath: string): boolean {
  for (;;) {
    let fd: number;
    try {
      fd = fs.openSync(lockPath, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!ownerGone(lockPath)) return false;
      fs.rmSync(lockPath, { force: true });
      continue;
    }
    try {
      fs.writeSync(fd, String(process.pid));
    } finally {
      fs.closeSync(fd);
    }
    return true;
  }
}

function release(lockPath: string): void {
  try {
    if (fs.readFileSync(lockPath, 'utf8') !== String(process.pid)) return;
  } catch {
    return;
  }
  fs.rmSync(lockPath, { force: true });
}

const timeout = (file: string, lockPath: string, options: FileLockOptions, waited: number): AegisError =>
  new AegisError(
    options.code ?? 'AEGIS_ERR_API_STORE',
    `${options.what ?? file} is locked by another process (${ownerOf(lockPath)} holds ${lockPath}) for more than ${waited} ms; try again.`,
  );

/** Run `fn` holding `<file>.lock`, waiting synchronously for it (the commands). */
export function withFileLock<T>(file: string, fn: () => T, options: FileLockOptions = {}): T {
  const lockPath = `${file}.lock`;
  const wait = options.waitMillis ?? LOCK_WAIT_MILLIS;
  const deadline = Date.now() + wait;
  while (!tryLock(lockPath)) {
    if (Date.now() > deadline) throw timeout(file, lockPath, options, wait);
    Atomics.wait(sleeper, 0, 0, RETRY_MILLIS);
  }
  try {
    return fn();
  } finally {
    release(lockPath);
  }
}

export interface FileLockHandle {
  release(): void;
  /** Mark the lock as in use now (its mtime): a holder that keeps it longer than STALE_LOCK_MILLIS is not stale. */
  refresh(): void;
}

/**
 * Take `<file>.lock` without blocking the event loop: resolves once held (at once, with no timer, when free), rejects
 * after `waitMillis`.
 */
export function acquireFileLock(file: string, options: FileLockOptions = {}): Promise<FileLockHandle> {
  const lockPath = `${file}.lock`;
  const wait = options.waitMillis ?? LOCK_WAIT_MILLIS;
  const held = (): FileLockHandle => {
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        release(lockPath);
      },
      refresh() {
        if (released) return;
        const now = new Date();
        try {
          fs.utimesSync(lockPath, now, now);
        } catch {
          // removed as stale meanwhile: the next release finds another pid and leaves it
        }
      },
    };
  };
  try {
    if (tryLock(lockPath)) return Promise.resolve(held());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  const deadline = Date.now() + wait;
  return new Promise((resolve, reject) => {
    const retry = (): void => {
      try {
        if (tryLock(lockPath)) resolve(held());
        else if (Date.now() > deadline) reject(timeout(file, lockPath, options, wait));
        else setTimeout(retry, RETRY_MILLIS);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    setTimeout(retry, RETRY_MILLIS);
  });
}

/** Replace `file` atomically (write a temporary file, fsync, rename) with mode 0600. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}
