/**
 * `ocsf`: Open Cybersecurity Schema Framework events as compact JSON, schema 1.8.0 (default) or 1.1.0 (what many
 * OCSF consumers, Amazon Security Lake among them, read). Field by field in docs/formats.md.
 *
 * | event   | OCSF class                          | activity                                  |
 * |---------|-------------------------------------|-------------------------------------------|
 * | exec    | Process Activity 1007               | 1 Launch                                  |
 * | exit    | Process Activity 1007               | 2 Terminate                               |
 * | block   | File System Activity 1001           | 14 Open                                   |
 * | connect | Network Activity 4001               | 1 Open, or 5 Refuse when BLOCKed           |
 * | sensor  | Application Lifecycle 6002 (aegisbpf itself) | 3 Start, 4 Stop, else 99 Other + status |
 * | audit   | Application Lifecycle 6002 (a control operation on aegisbpf; actor.user = who, the rest unmapped.audit_*) | 3 Start / 4 Stop for daemon.start/stop, else 99 Other + the action |
 *
 * `class_uid` = category_uid * 1000 + class id, `type_uid` = class_uid * 100 + activity_id, `time` in epoch
 * milliseconds, `metadata.version` = the OCSF schema version, `severity_id` from common.ocsfSeverityId(). Profiles
 * used are listed in `metadata.profiles`: `host` (actor, device), `security_control` (action, disposition, policy:
 * only on events with an enforcement action), `container` (process.container). What OCSF has no attribute for goes
 * to `unmapped` under its aegisbpf name; nothing is dropped. test/formatters/ocsf.test.ts validates every output
 * against JSON Schemas generated from the official schema export for the version.
 */
import { isIP } from 'node:net';
import type { AegisEvent, EventOf } from '../event/types';
import {
  analyticsFields,
  analyticsMessage,
  baseName,
  commandLine,
  eventClassId,
  eventMillis,
  eventName,
  eventOutcome,
  networkEndpoints,
  ocsfSeverityId,
  parentProcessStart,
  processStart,
  PRODUCT,
  protocolNumber,
} from './common';
import type { NetworkEndpoint } from './common';
import type { Formatter, FormatterContext, FormatterDefinition } from './types';

export const OCSF_VERSIONS = ['1.8.0', '1.1.0'] as const;
export type OcsfVersion = (typeof OCSF_VERSIONS)[number];

export interface OcsfOptions {
  /** OCSF schema version the output conforms to (default 1.8.0). */
  readonly version?: OcsfVersion;
}

type Json = string | number | boolean | undefined | JsonObject | readonly Json[];
interface JsonObject {
  readonly [key: string]: Json;
}

const SEVERITY = ['Unknown', 'Informational', 'Low', 'Medium', 'High', 'Critical'] as const;

const CLASSES = {
  process: { category_uid: 1, category_name: 'System Activity', class_uid: 1007, class_name: 'Process Activity' },
  file: { category_uid: 1, category_name: 'System Activity', class_uid: 1001, class_name: 'File System Activity' },
  network: { category_uid: 4, category_name: 'Network Activity', class_uid: 4001, class_name: 'Network Activity' },
  app: { category_uid: 6, category_name: 'Application Activity', class_uid: 6002, class_name: 'Application Lifecycle' },
} as const;

// RFC 1123 host name (dot-separated labels of letters, digits and inner hyphens): OCSF 1.1.0 `hostname_t` requires
// it; a host name that is not one is written as `name` instead.
const HOSTNAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

interface OcsfState {
  readonly version: OcsfVersion;
  readonly v18: boolean;
  readonly product: JsonObject;
  readonly bootWallNanos: bigint | undefined;
}

/** `hostname`, or (1.1.0, not an RFC 1123 host name) `name`. */
function hostnameOf(host: string, s: OcsfState): string | undefined {
  return s.v18 || HOSTNAME.test(host) ? host : undefined;
}

function user(uid: number | undefined): JsonObject | undefined {
  if (uid === undefined) return undefined;
  // uid 0 is root: OCSF user type 2 "Admin".
  return uid === 0 ? { uid: String(uid), type_id: 2, type: 'Admin' } : { uid: String(uid) };
}

/*
 * Objects are written as literals with every key in its fixed place, `undefined` where absent (JSON.stringify omits
 * it): no spreads. Spreading builds objects key by key into shapes V8 handles slowly (a third of the time went there).
 */

/** 1.8.0 has process.path; 1.1.0 only process.file (type 1: a regular file; 8 "Executable File" is 1.4+). */
function exePath(path: string | undefined, s: OcsfState): string | undefined {
  return s.v18 && path !== undefined && path !== '' ? path : undefined;
}

function exeFile(path: string | undefined, s: OcsfState): JsonObject | undefined {
  return !s.v18 && path !== undefined && path !== ''
    ? { name: baseName(path), type_id: 1, type: 'Regular File', path }
    : undefined;
}

/** The parent process (exec: also the actor, who launched the new image). */
function parentProcess(event: AegisEvent, s: OcsfState): JsonObject {
  const parentStart = parentProcessStart(event, s.bootWallNanos);
  return {
    pid: event.ppid,
    name: event.parent_comm,
    path: exePath(event.parent_exe, s),
    file: exeFile(event.parent_exe, s),
    uid: event.parent_exec_id,
    created_time: parentStart?.millis,
  };
}

/** The event's own process (pid, comm, exe, command line, exec_id, start, user, container, parent). */
function processObject(event: AegisEvent, s: OcsfState): JsonObject {
  const start = processStart(event, s.bootWallNanos);
  return {
    pid: event.pid,
    name: event.comm,
    path: exePath(event.exe, s),
    file: exeFile(event.exe, s),
    cmd_line: commandLine(event),
    uid: event.exec_id,
    created_time: start?.millis,
    user: user(event.uid),
    container: event.container_id === undefined ? undefined : { uid: event.container_id },
    parent_process: parentProcess(event, s),
  };
}

interface Control {
  readonly action_id: number;
  readonly action: string;
  readonly disposition_id: number;
  readonly disposition: string;
}

const AUDIT_18: Control = { action_id: 3, action: 'Observed', disposition_id: 15, disposition: 'Detected' };
// 1.1.0 has no action "Observed" (3); an audited access was allowed.
const AUDIT_11: Control = { action_id: 1, action: 'Allowed', disposition_id: 15, disposition: 'Detected' };
const BLOCKED: Control = { action_id: 2, action: 'Denied', disposition_id: 2, disposition: 'Blocked' };

function securityControl(action: EventOf<'block'>['action'], s: OcsfState): Control {
  switch (action) {
    case 'AUDIT':
      return s.v18 ? AUDIT_18 : AUDIT_11;
    case 'BLOCK':
      return BLOCKED;
    default:
      // TERM, KILL, INT: a signal after the fact; the syscall went through. No OCSF action fits: Other + the name.
      return { action_id: 99, action, disposition_id: 7, disposition: 'Custom Action' };
  }
}

/**
 * The matched rule as an OCSF `policy` object: security_control profile, 1.8.0, and only on events that carry an
 * action (which is when that profile is listed). Otherwise (1.1.0 has no policy attribute here) it goes to unmapped.
 */
function policyObject(policy: string | undefined, control: Control | undefined, s: OcsfState): JsonObject | undefined {
  return s.v18 && control !== undefined && policy !== undefined ? { uid: policy, name: policy } : undefined;
}

interface Unmapped {
  signal?: number;
  duration_ns?: number;
  dev?: number;
  resolved_path?: string;
  status?: string;
  policy?: string;
  audit?: JsonObject;
  alert?: string;
  alert_severity?: string;
  condition?: string;
  value?: string;
  started_at?: string;
}

/** What OCSF has no attribute for, under its aegisbpf name; undefined when there is nothing. */
function unmapped(event: AegisEvent, extra: Unmapped): JsonObject | undefined {
  const u = {
    cgid: event.cgid,
    cgroup_path: event.cgroup_path,
    gid: event.gid,
    args_truncated: event.args_truncated,
    parent_trace_id: event.parent_trace_id,
    sensor: event.sensor,
    hook: event.hook,
    mode: event.mode,
    labels: event.labels,
    signal: extra.signal,
    duration_ns: extra.duration_ns,
    dev: extra.dev,
    resolved_path: extra.resolved_path,
    status: extra.status,
    policy: extra.policy,
    audit: extra.audit,
    alert: extra.alert,
    alert_severity: extra.alert_severity,
    condition: extra.condition,
    value: extra.value,
    started_at: extra.started_at,
  };
  for (const k in u) if ((u as Record<string, unknown>)[k] !== undefined) return u;
  return undefined;
}

/** `unmapped` plus the analytics event's own figures under their canonical names. */
function withAnalytics(u: JsonObject | undefined, event: AegisEvent): JsonObject | undefined {
  const fields = analyticsFields(event);
  if (fields.length === 0) return u;
  const out: Record<string, Json> = { ...u };
  for (const [name, value] of fields) out[name] = value;
  return out;
}

interface Body {
  app?: JsonObject;
  actor: JsonObject;
  process?: JsonObject;
  exit_code?: number;
  file?: JsonObject;
  access_mask?: number;
  src_endpoint?: JsonObject;
  dst_endpoint?: JsonObject;
  connection_info?: JsonObject;
  policy?: JsonObject;
  unmapped: JsonObject | undefined;
}

function ocsfObject(event: AegisEvent, s: OcsfState): JsonObject {
  const sev = ocsfSeverityId(event);
  const outcome = eventOutcome(event);
  let cls: (typeof CLASSES)[keyof typeof CLASSES];
  let activityId: number;
  let activityName: string;
  let body: Body;
  let control: Control | undefined;

  switch (event.type) {
    case 'exec':
      cls = CLASSES.process;
      activityId = 1;
      activityName = 'Launch';
      body = {
        actor: { process: parentProcess(event, s) },
        process: processObject(event, s),
        unmapped: unmapped(event, {}),
      };
      break;
    case 'exit':
      cls = CLASSES.process;
      activityId = 2;
      activityName = 'Terminate';
      body = {
        actor: { process: { pid: event.pid, name: event.comm, uid: event.exec_id } },
        process: processObject(event, s),
        exit_code: event.exit_code,
        unmapped: unmapped(event, { signal: event.signal, duration_ns: event.duration_ns }),
      };
      break;
    case 'block': {
      cls = CLASSES.file;
      activityId = 14;
      activityName = 'Open';
      control = securityControl(event.action, s);
      const path = event.path;
      const policy = policyObject(event.policy, control, s);
      body = {
        actor: { process: processObject(event, s) },
        file: {
          name: path === undefined ? '' : baseName(path),
          type_id: 0,
          type: 'Unknown',
          path: path === '' ? undefined : path,
          uid: String(event.ino),
        },
        access_mask: event.open_flags,
        policy,
        unmapped: unmapped(event, {
          dev: event.dev,
          resolved_path: event.resolved_path,
          policy: policy === undefined ? event.policy : undefined,
        }),
      };
      break;
    }
    case 'connect': {
      cls = CLASSES.network;
      const blocked = event.action === 'BLOCK';
      activityId = blocked ? 5 : 1;
      activityName = blocked ? 'Refuse' : 'Open';
      if (event.action !== undefined) control = securityControl(event.action, s);
      const { source, destination } = networkEndpoints(event);
      const local = event.direction === 'ingress' ? destination : source;
      // `ip` (ip_t) holds an IP address of at most 40 characters. Anything else (never from the sensor, which writes
      // inet_ntop's form) is kept as the endpoint's name. The local side also carries the host name.
      const endpoint = (e: NetworkEndpoint): JsonObject => {
        const ipOk = e.ip === undefined || (e.ip.length <= 40 && isIP(e.ip) !== 0);
        const hostname = e === local ? hostnameOf(event.host, s) : undefined;
        const hostAsName = e === local && hostname === undefined ? event.host : undefined;
        return { hostname, name: ipOk ? hostAsName : e.ip, ip: ipOk ? e.ip : undefined, port: e.port };
      };
      const directionId = event.direction === 'egress' ? 2 : event.direction === 'ingress' ? 1 : 0;
      const policy = policyObject(event.policy, control, s);
      body = {
        actor: { process: processObject(event, s) },
        src_endpoint: endpoint(source),
        dst_endpoint: endpoint(destination),
        connection_info: {
          direction_id: directionId,
          direction: directionId === 2 ? 'Outbound' : directionId === 1 ? 'Inbound' : 'Unknown',
          protocol_num: protocolNumber(event.protocol),
          protocol_name: event.protocol.toLowerCase(),
          protocol_ver_id: event.family === 'ipv6' ? 6 : 4,
        },
        policy,
        unmapped: unmapped(event, { policy: policy === undefined ? event.policy : undefined }),
      };
      break;
    }
    case 'sensor':
      cls = CLASSES.app;
      activityId = event.status === 'started' ? 3 : event.status === 'stopped' ? 4 : 99;
      activityName = activityId === 3 ? 'Start' : activityId === 4 ? 'Stop' : event.status;
      body = {
        app: s.product,
        actor: { process: processObject(event, s) },
        unmapped: unmapped(event, { status: event.status, policy: event.policy }),
      };
      break;
    case 'audit':
      // API Activity (6003) would fit best but requires cloud (and, in 1.8.0, osint) attributes that an on-host
      // daemon does not have; Application Lifecycle keeps every record valid, with the operation as activity_name.
      cls = CLASSES.app;
      activityId = event.audit_action === 'daemon.start' ? 3 : event.audit_action === 'daemon.stop' ? 4 : 99;
      activityName = activityId === 3 ? 'Start' : activityId === 4 ? 'Stop' : event.audit_action;
      body = {
        app: s.product,
        actor: { process: processObject(event, s), user: { name: event.audit_actor } },
        unmapped: unmapped(event, {
          audit: {
            action: event.audit_action,
            result: event.audit_result,
            actor_type: event.audit_actor_type,
            target: event.audit_target,
            source: event.audit_source,
            seq: event.audit_seq,
            hash: event.audit_hash,
          },
        }),
      };
      break;
    case 'alert':
      // An alert rule of the agent itself: the same class as the sensor's own events (the Detection Finding class
      // would need finding_info and an analytic, which a rate threshold does not have); the rule in unmapped.
      cls = CLASSES.app;
      activityId = 99;
      activityName = event.status === 'resolved' ? 'Alert resolved' : 'Alert firing';
      body = {
        app: s.product,
        actor: { process: processObject(event, s) },
        unmapped: unmapped(event, {
          status: event.status,
          alert: event.alert,
          alert_severity: event.severity,
          condition: event.condition,
          value: event.value,
          started_at: event.started_at,
        }),
      };
      break;
    // Analytics results. A finding or a per-process summary is about a process (Process Activity, activity 99
    // Other, the triggering process as actor and process); a forecast or a host sample comes from aegisbpf itself
    // (Application Lifecycle, like sensor events). Their figures have no attribute in these classes: unmapped.
    case 'anomaly':
    case 'activity':
      cls = CLASSES.process;
      activityId = 99;
      activityName = event.type === 'anomaly' ? 'Anomaly' : 'Activity Summary';
      body = {
        actor: { process: parentProcess(event, s) },
        process: processObject(event, s),
        unmapped: withAnalytics(unmapped(event, {}), event),
      };
      break;
    case 'trend':
    case 'host_stats':
      cls = CLASSES.app;
      activityId = 99;
      activityName = event.type === 'trend' ? 'Forecast' : 'Host Statistics';
      body = {
        app: s.product,
        actor: { process: processObject(event, s) },
        unmapped: withAnalytics(unmapped(event, {}), event),
      };
      break;
  }
  const profiles =
    control === undefined
      ? event.container_id === undefined
        ? PROFILES_HOST
        : PROFILES_HOST_CONTAINER
      : event.container_id === undefined
        ? PROFILES_HOST_CONTROL
        : PROFILES_ALL;
  const hostname = hostnameOf(event.host, s);

  return {
    activity_id: activityId,
    activity_name: activityName,
    category_uid: cls.category_uid,
    category_name: cls.category_name,
    class_uid: cls.class_uid,
    class_name: cls.class_name,
    type_uid: cls.class_uid * 100 + activityId,
    type_name: `${cls.class_name}: ${activityName}`,
    severity_id: sev,
    severity: SEVERITY[sev],
    time: eventMillis(event),
    message:
      (event.type === 'sensor' || event.type === 'audit' || event.type === 'alert'
        ? event.message
        : analyticsMessage(event)) ?? eventName(event),
    status_id: outcome === undefined ? undefined : outcome === 'success' ? 1 : 2,
    status: outcome === undefined ? undefined : outcome === 'success' ? 'Success' : 'Failure',
    action_id: control?.action_id,
    action: control?.action,
    disposition_id: control?.disposition_id,
    disposition: control?.disposition,
    metadata: {
      version: s.version,
      product: s.product,
      profiles,
      uid: event.event_id,
      correlation_uid: event.trace_id,
      event_code: eventClassId(event),
    },
    device: { type_id: 0, type: 'Unknown', hostname, name: hostname === undefined ? event.host : undefined, os: LINUX },
    app: body.app,
    actor: body.actor,
    process: body.process,
    exit_code: body.exit_code,
    file: body.file,
    access_mask: body.access_mask,
    src_endpoint: body.src_endpoint,
    dst_endpoint: body.dst_endpoint,
    connection_info: body.connection_info,
    policy: body.policy,
    unmapped: body.unmapped,
  };
}

// Profiles in metadata.profiles: host always (actor, device), security_control with an action, container with a
// container id. Shared frozen arrays: the output is serialized, never mutated.
const PROFILES_HOST: readonly string[] = Object.freeze(['host']);
const PROFILES_HOST_CONTROL: readonly string[] = Object.freeze(['host', 'security_control']);
const PROFILES_HOST_CONTAINER: readonly string[] = Object.freeze(['host', 'container']);
const PROFILES_ALL: readonly string[] = Object.freeze(['host', 'security_control', 'container']);
const LINUX: JsonObject = Object.freeze({ name: 'Linux', type_id: 200, type: 'Linux' });

export const ocsfFormatter: FormatterDefinition<OcsfOptions> = {
  name: 'ocsf',
  description:
    'OCSF 1.x JSON (Process Activity 1007, File System Activity 1001, Network Activity 4001, Application Lifecycle 6002).',
  output: 'string',
  optionsSchema: {
    properties: {
      version: {
        type: 'string',
        enum: [...OCSF_VERSIONS],
        default: '1.8.0',
        description: 'OCSF schema version the output conforms to.',
      },
    },
  },
  create(options: OcsfOptions, context: FormatterContext): Formatter {
    const version = options.version ?? '1.8.0';
    const state: OcsfState = {
      version,
      v18: version === '1.8.0',
      product: { name: PRODUCT.product, vendor_name: PRODUCT.vendor, version: context.version },
      bootWallNanos: context.bootWallNanos,
    };
    return {
      name: 'ocsf',
      contentType: 'application/json',
      schema: { name: 'ocsf', version },
      format: (event) => JSON.stringify(ocsfObject(event, state)),
    };
  },
};
