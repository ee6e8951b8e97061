/**
 * A lock file beside a file that two processes write: the daemon (API operations) and the `aegisbpf auth|rbac`
 * commands (key and role changes) both append to the audit log and the CLI rewrites the keys file. Node has no
 * flock(2), so the lock is an exclusive create (`O_CREAT|O_EXCL`) of `<file>.lock` holding the owner's pid.
 *
 * Synchronous on purpose: the critical sections are a few file operations (well under a millisecond), and a
 * synchronous section cannot interleave with another request of the same process. A lock whose owner is gone (a
 * crashed command) is taken over: its pid no longer exists, or the lock is older than STALE_LOCK_MILLIS.
 */
import fs from 'node:fs';
import { AegisError } from '../../util/errors';

export const STALE_LOCK_MILLIS = 10_000;
const WAIT_MILLIS = 5_000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

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

export function withFileLock<T>(file: string, fn: () => T): T {
  const lockPath = `${file}.lock`;
  const deadline = Date.now() + WAIT_MILLIS;
  let fd: number | undefined;
  while (fd === undefined) {
    try {
      fd = fs.openSync(lockPath, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (ownerGone(lockPath)) {
        fs.rmSync(lockPath, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new AegisError('AEGIS_ERR_API_STORE', `${file} is locked by another process (${lockPath}).`);
      Atomics.wait(sleeper, 0, 0, 2); // 2 ms
    }
  }
  try {
    fs.writeSync(fd, String(process.pid));
    fs.closeSync(fd);
    return fn();
  } finally {
    fs.rmSync(lockPath, { force: true });
  }
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
