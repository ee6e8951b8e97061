/**
 * Applied policies on disk, for `policy show`, `policy rollback` and for re-applying at sensor start.
 *
 * <stateDir>/current.json is the policy in force, <stateDir>/previous.json the one before it. Writes go to a
 * temporary file first and are renamed only after the kernel maps accepted the policy (commit()), so a failed apply
 * never changes what is on disk.
 */
import fs from 'node:fs';
import path from 'node:path';
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
  /** mtime of current.json in ms (0 when absent): cheap change detection for readers. */
  currentVersion(): number;
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

function writeTmp(file: string, value: StoredPolicy | undefined): string | undefined {
  if (value === undefined) return undefined;
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  return tmp;
}

export function createPolicyStore(dir: string = DEFAULT_STATE_DIR): PolicyStore {
  const currentFile = path.join(dir, 'current.json');
  const previousFile = path.join(dir, 'previous.json');
  const overrideFile = path.join(dir, 'mode-override');

  const stageBoth = (nextCurrent: StoredPolicy, nextPrevious: StoredPolicy | undefined): PendingWrite => {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmpCurrent = writeTmp(currentFile, nextCurrent) as string;
    const tmpPrevious = writeTmp(previousFile, nextPrevious);
    let done = false;
    return {
      commit() {
        if (done) return;
        done = true;
        // previous first: a crash in between leaves the old current in place (safe) rather than losing it
        if (tmpPrevious !== undefined) fs.renameSync(tmpPrevious, previousFile);
        fs.renameSync(tmpCurrent, currentFile);
      },
      abort() {
        if (done) return;
        done = true;
        fs.rmSync(tmpCurrent, { force: true });
        if (tmpPrevious !== undefined) fs.rmSync(tmpPrevious, { force: true });
      },
    };
  };

  return {
    dir,
    current: () => read(currentFile),
    previous: () => read(previousFile),
    stage(next) {
      return stageBoth(next, read(currentFile));
    },
    currentVersion() {
      try {
        return fs.statSync(currentFile).mtimeMs;
      } catch {
        return 0;
      }
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
