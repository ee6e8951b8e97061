/**
 * tracefs and bpffs, which minimal hosts (this CI machine included) may not mount. Pairs with
 * native/src/fs-mounts.cc.
 *
 * tracefs: libbpf resolves `tp/` tracepoint ids under /sys/kernel/debug/tracing when that exists, else
 * /sys/kernel/tracing; the sensor mounts tracefs at /sys/kernel/tracing when neither is tracefs.
 * bpffs: needed only to pin maps (so `aegisbpf policy` can reach a running sensor's maps).
 * Both mounts are left in place (they are what a normal distribution mounts at boot) and reported by `health`.
 */
import fs from 'node:fs';
import type { NativeBinding } from '../native/binding';
import { SensorError } from '../native/errors';

export const TRACEFS_MAGIC = 0x74726163;
export const BPF_FS_MAGIC = 0xcafe4a11;

export interface MountState {
  readonly path: string;
  /** true when this call mounted it */
  readonly mountedNow: boolean;
}

const DEBUGFS_TRACING = '/sys/kernel/debug/tracing';
const TRACEFS = '/sys/kernel/tracing';

export function findTracefs(native: NativeBinding): string | undefined {
  // Same preference order as libbpf 1.x: debugfs's tracing dir first when it exists.
  if (fs.existsSync(DEBUGFS_TRACING))
    return native.statfsType(DEBUGFS_TRACING) === TRACEFS_MAGIC ? DEBUGFS_TRACING : undefined;
  return native.statfsType(TRACEFS) === TRACEFS_MAGIC ? TRACEFS : undefined;
}

/** Makes sure libbpf can find tracepoint ids; mounts tracefs at /sys/kernel/tracing if needed. */
export function ensureTracefs(native: NativeBinding): MountState {
  const found = findTracefs(native);
  if (found !== undefined) return { path: found, mountedNow: false };
  if (fs.existsSync(DEBUGFS_TRACING)) {
    throw new SensorError(
      'AEGIS_ERR_SENSOR_UNAVAILABLE',
      `${DEBUGFS_TRACING} exists but is not tracefs; libbpf would look there for tracepoint ids`,
    );
  }
  try {
    native.mountFs('tracefs', TRACEFS);
  } catch (err) {
    throw new SensorError(
      'AEGIS_ERR_SENSOR_UNAVAILABLE',
      `tracefs is not mounted and mounting it on ${TRACEFS} failed: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return { path: TRACEFS, mountedNow: true };
}

/** Makes sure `dir` is on a bpffs, mounting one at `mountPoint` (default /sys/fs/bpf) if needed, and creates dir. */
export function ensureBpffs(native: NativeBinding, dir: string, mountPoint = '/sys/fs/bpf'): MountState {
  let mountedNow = false;
  if (native.statfsType(mountPoint) !== BPF_FS_MAGIC) {
    try {
      fs.mkdirSync(mountPoint, { recursive: true });
      native.mountFs('bpf', mountPoint, 'mode=0700');
      mountedNow = true;
    } catch (err) {
      throw new SensorError(
        'AEGIS_ERR_SENSOR_UNAVAILABLE',
        `bpffs is not mounted on ${mountPoint} and mounting it failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (native.statfsType(dir) !== BPF_FS_MAGIC) {
    throw new SensorError('AEGIS_ERR_SENSOR_UNAVAILABLE', `pin directory ${dir} is not on a bpffs`);
  }
  return { path: mountPoint, mountedNow };
}
