/**
 * `aegisbpf stats` and `aegisbpf metrics` when no daemon answers: the kernel sensor pins its maps in bpffs (the
 * policy maps, the config and the counters), so its counters can be read without it (root only).
 *
 * Pins exist while a sensor runs and after one that did not stop cleanly (a clean stop removes them); a daemon with
 * its control socket turned off also leaves only this way to read its kernel counters.
 *
 * Readers are listed here, one line per reader, like every other registry.
 */
import { nativeStatus, loadNative } from '../native/binding';
import { DEFAULT_PIN_DIR } from './bpf-object';
import { openPinnedSensorStats } from './sensor-telemetry';
import type { SensorStatsSource } from '../telemetry/sensor-stats';

export interface PinnedStatsOptions {
  /** The bpffs directory the sensor pinned its maps in (`pin_dir`); default /sys/fs/bpf/aegisbpf. */
  readonly pinDir?: string;
  /** Also read the per-rule hit counters (`--detailed`): one more pass over the path and inode rule maps. */
  readonly detailed?: boolean;
}

/** Returns the pinned sensor's stats, or undefined when no maps are pinned. May throw (permission denied, …). */
export type PinnedStatsReader = (options: PinnedStatsOptions) => SensorStatsSource | undefined;

/** The eBPF sensor's maps (src/sensor/sensor-telemetry.ts); nothing can be pinned where the addon is not built. */
const sensorReader: PinnedStatsReader = (options) =>
  nativeStatus().available
    ? openPinnedSensorStats(loadNative(), options.pinDir ?? DEFAULT_PIN_DIR, options.detailed === true)
    : undefined;

const READERS: PinnedStatsReader[] = [sensorReader];

/** For tests; a reader registered twice is kept once. */
export function registerPinnedStatsReader(reader: PinnedStatsReader): void {
  if (!READERS.includes(reader)) READERS.push(reader);
}

/** The first pinned sensor a reader finds; undefined when none. */
export function readPinnedSensorStats(options: PinnedStatsOptions = {}): SensorStatsSource | undefined {
  for (const read of READERS) {
    const source = read(options);
    if (source !== undefined) return source;
  }
  return undefined;
}

/** Why there is nothing pinned to read, for the "no running daemon" message. */
export function pinnedStatsAbsentReason(options: PinnedStatsOptions = {}): string {
  const status = nativeStatus();
  if (!status.available) return `no pinned maps (the eBPF sensor is not built here: ${status.reason})`;
  return `no pinned maps in ${options.pinDir ?? DEFAULT_PIN_DIR} (no sensor runs, or it stopped cleanly and removed them)`;
}
