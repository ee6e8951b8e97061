/**
 * Network interfaces for the XDP ingress filter, read from /sys/class/net (no netlink needed).
 *
 * Default set: every interface that is up (IFF_UP) and not a loopback (ARPHRD_LOOPBACK): the ones packets from
 * other hosts arrive on. Loopback is left out by default: local traffic is not what an inbound blocklist is for,
 * and generic-mode XDP on `lo` would take the one XDP slot of an interface every local service shares. Name it in
 * `ingress.interfaces` to filter it too. The sensor reads the list again at every rescan (INGRESS_RESCAN_MILLIS in
 * ./sensor.ts), so interfaces that appear after start are covered within a second.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface NetInterface {
  readonly name: string;
  readonly ifindex: number;
}

const IFF_UP = 0x1;
const ARPHRD_LOOPBACK = 772;

function readNumber(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export function interfaceIndex(name: string, sysClassNet = '/sys/class/net'): number | undefined {
  if (name === '' || name.includes('/') || name === '.' || name === '..') return undefined;
  return readNumber(path.join(sysClassNet, name, 'ifindex'));
}

/** Up, non-loopback interfaces, by name. */
export function defaultInterfaces(sysClassNet = '/sys/class/net'): NetInterface[] {
  let names: string[];
  try {
    names = fs.readdirSync(sysClassNet).sort();
  } catch {
    return [];
  }
  const out: NetInterface[] = [];
  for (const name of names) {
    const flags = readNumber(path.join(sysClassNet, name, 'flags')); // "0x1003": Number() parses the hex
    const type = readNumber(path.join(sysClassNet, name, 'type'));
    const ifindex = interfaceIndex(name, sysClassNet);
    if (flags === undefined || ifindex === undefined || (flags & IFF_UP) === 0 || type === ARPHRD_LOOPBACK) continue;
    out.push({ name, ifindex });
  }
  return out;
}

/**
 * Why this process's interfaces are not the host's, or undefined when they are (or it cannot tell): a sensor in a
 * pod without host networking sees the pod's eth0, and XDP there would filter only the pod's traffic. Compares the
 * network namespace of this process with that of PID 1 (the host's init when the PID namespace is the host's, as
 * the DaemonSet runs it).
 */
export function foreignNetnsReason(procRoot = '/proc'): string | undefined {
  try {
    const self = fs.readlinkSync(path.join(procRoot, 'self', 'ns', 'net'));
    const init = fs.readlinkSync(path.join(procRoot, '1', 'ns', 'net'));
    return self === init
      ? undefined
      : `the sensor is not in the host's network namespace (${self}, PID 1 in ${init}): its interfaces are not the host's; set ingress.interfaces or use host networking`;
  } catch {
    return undefined;
  }
}

/** Resolve configured names; the missing ones are returned apart so the caller can say so. */
export function resolveInterfaces(
  names: readonly string[],
  sysClassNet = '/sys/class/net',
): { readonly found: NetInterface[]; readonly missing: string[] } {
  const found: NetInterface[] = [];
  const missing: string[] = [];
  for (const name of names) {
    const ifindex = interfaceIndex(name, sysClassNet);
    if (ifindex === undefined) missing.push(name);
    else found.push({ name, ifindex });
  }
  return { found, missing };
}
