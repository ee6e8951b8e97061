/**
 * `enrich`: add context the kernel record does not carry.
 * - `host`: set the host name on every event (default: leave what the source set).
 * - `start_time_to_wall`: convert `start_time`/`parent_start_time` (ns since boot, monotonic clock) into
 *   `start_ts`/`parent_start_ts` (RFC 3339). Only right for events from this host's current boot: enable it for
 *   the sensor source, not for replays of another machine's data.
 * - `container_id`: derive the container id from the cgroup path (docker, containerd/CRI, CRI-O, podman).
 * - `labels`: static labels added to every event (labels already on the event win).
 */
import type { AegisEvent } from '../../event/types';
import { formatTimestampFromNanos } from '../../util/time';
import type { ProcessorDefinition } from './types';

const CONTAINER_ID = /(?:^|[^0-9a-f])([0-9a-f]{64})(?:\.scope)?(?:$|[^0-9a-f])/g;

/** The last 64-hex-digit segment of a cgroup path, e.g. `…/docker-<id>.scope`, `…/cri-containerd-<id>.scope`. */
export function containerIdFromCgroup(cgroupPath: string): string | undefined {
  // exec() on the one global RegExp, not matchAll(): matchAll clones (and compiles) the RegExp at every call, which
  // showed in the daemon's perf profile (bench/hostcost). lastIndex is reset before and after, so no state leaks.
  let last: string | undefined;
  CONTAINER_ID.lastIndex = 0;
  for (let m = CONTAINER_ID.exec(cgroupPath); m !== null; m = CONTAINER_ID.exec(cgroupPath)) last = m[1];
  CONTAINER_ID.lastIndex = 0;
  return last;
}

export const enrichProcessor: ProcessorDefinition = {
  type: 'enrich',
  description: 'Add host name, wall-clock process start times, container id and static labels.',
  optionsSchema: {
    properties: {
      host: { type: 'string', minLength: 1, maxLength: 255, description: 'Host name to set on every event.' },
      start_time_to_wall: {
        type: 'boolean',
        description: 'Convert start_time/parent_start_time to start_ts/parent_start_ts (this boot only).',
      },
      container_id: { type: 'boolean', description: 'Derive container_id from cgroup_path.' },
      labels: {
        type: 'object',
        maxProperties: 64,
        propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' },
        additionalProperties: { type: 'string', maxLength: 1024 },
        description: 'Static labels added to every event.',
      },
    },
  },
  create(raw, ctx) {
    const host = typeof raw.host === 'string' ? raw.host : undefined;
    const toWall = raw.start_time_to_wall === true;
    const container = raw.container_id === true;
    const labels = raw.labels !== undefined ? (raw.labels as Record<string, string>) : undefined;
    const boot = ctx.bootWallNanos;
    // The last conversion of each field, kept: a host's events come in runs from the same process (and parent), and
    // the conversion (BigInt arithmetic and Date#toISOString) was the processor's largest cost.
    let lastStart: number | undefined;
    let lastStartTs = '';
    let lastParent: number | undefined;
    let lastParentTs = '';
    let lastCgroup: string | undefined;
    let lastContainerId: string | undefined;
    const enrichOne = (event: AegisEvent): AegisEvent => {
      const out: Record<string, unknown> = { ...event };
      if (host !== undefined) out.host = host;
      if (toWall) {
        if (event.start_time !== lastStart) {
          lastStart = event.start_time;
          lastStartTs = formatTimestampFromNanos(boot + BigInt(event.start_time));
        }
        out.start_ts = lastStartTs;
        if (event.parent_start_time !== undefined) {
          if (event.parent_start_time !== lastParent) {
            lastParent = event.parent_start_time;
            lastParentTs = formatTimestampFromNanos(boot + BigInt(event.parent_start_time));
          }
          out.parent_start_ts = lastParentTs;
        }
      }
      if (container && event.container_id === undefined) {
        // The last path's id, kept like the start times: a host's events come in runs from the same cgroup.
        if (event.cgroup_path !== lastCgroup) {
          lastCgroup = event.cgroup_path;
          lastContainerId = containerIdFromCgroup(event.cgroup_path);
        }
        if (lastContainerId !== undefined) out.container_id = lastContainerId;
      }
      if (labels !== undefined) out.labels = { ...labels, ...event.labels };
      return out as unknown as AegisEvent;
    };
    return { name: ctx.name, type: 'enrich', process: (events) => events.map(enrichOne) };
  },
};
