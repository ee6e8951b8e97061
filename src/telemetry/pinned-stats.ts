/**
 * `aegisbpf stats` and `aegisbpf metrics` when no daemon runs: the kernel sensor pins its maps in bpffs, so their
 * counters outlive the daemon and can be read directly (root only).
 *
 * Readers are listed here, one line per reader, like every other registry. None exists until the sensor is part of
 * the build; then the sensor adds a reader that opens its pinned maps and returns a SensorStatsSource (or
 * undefined when nothing is pinned). Without one, the commands say "no running daemon and no pinned maps".
 */
import type { SensorStatsSource } from './sensor-stats';

/** Returns the pinned sensor's stats, or undefined when no maps are pinned. May throw (permission denied, …). */
export type PinnedStatsReader = () => SensorStatsSource | undefined;

const READERS: PinnedStatsReader[] = [];

/** For tests and for wiring the sensor in; a reader registered twice is kept once. */
export function registerPinnedStatsReader(reader: PinnedStatsReader): void {
  if (!READERS.includes(reader)) READERS.push(reader);
}

/** The first pinned sensor a reader finds; undefined when none (or no reader exists in this build). */
export function readPinnedSensorStats(): SensorStatsSource | undefined {
  for (const read of READERS) {
    const source = read();
    if (source !== undefined) return source;
  }
  return undefined;
}

/** Why there is nothing pinned to read, for the "no running daemon" message. */
export function pinnedStatsAbsentReason(): string {
  return READERS.length === 0 ? 'no pinned maps (the kernel sensor is not part of this build)' : 'no pinned maps (the sensor has not pinned its maps: is it loaded?)';
}
