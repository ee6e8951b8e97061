/**
 * A strict CEF parser, written from the ArcSight "CEF Implementation Standard" (see
 * /work/shared/reference/cef.md §1–4 for the rules and their sources), for tests. It accepts only what the standard
 * allows and rejects the rest with a reason, so a formatter bug shows up as a parse error, not as a silently
 * different field:
 *
 * - `CEF:<0|1>|vendor|product|version|signature id|name|severity|extension`, all seven header fields present;
 * - header escapes `\\` and `\|` only; extension escapes `\\`, `\=`, `\n`, `\r` only; any other backslash sequence,
 *   an unescaped `=` inside a value, a raw CR/LF/NUL anywhere, a duplicate key, or a non-alphanumeric key is an error;
 * - extension pairs are separated by one space; a value runs to the space before the next `key=`; spaces before that
 *   separator belong to the value; trailing spaces of the last value are not part of it (the standard's rule);
 * - with `checkTypes` (default): dictionary types (IPv4 for src/dst, integers, ports 0–65535, deviceDirection 0/1,
 *   timestamps in epoch milliseconds or the standard's date layouts, IPv6 for c6aN), dictionary lengths (counted, most
 *   strictly, as UTF-8 bytes of the escaped value), no consumer-only keys (eventId, rawEvent, agent fields), and every
 *   custom field (csN, cnN, cfpN, c6aN, deviceCustomDateN, flexString/DateN) paired with its label, labels unique.
 */
import { isIPv4, isIPv6 } from 'node:net';

export class CefParseError extends Error {
  constructor(
    message: string,
    readonly line: string,
  ) {
    super(`${message} in: ${JSON.stringify(line.length > 300 ? line.slice(0, 300) + '…' : line)}`);
    this.name = 'CefParseError';
  }
}

export interface CefRecord {
  readonly version: number;
  readonly vendor: string;
  readonly product: string;
  readonly deviceVersion: string;
  readonly signatureId: string;
  readonly name: string;
  readonly severity: string;
  /** Unescaped extension values by key, in the order they appeared. */
  readonly extension: ReadonlyMap<string, string>;
  /** Whether a space followed the last header `|`. */
  readonly leadingSpace: boolean;
}

export interface CefParseOptions {
  /** Accept spaces between the last header `|` and the first key (the standard's examples have none). Default false. */
  readonly allowLeadingSpace?: boolean;
  /** Check dictionary types, lengths, labels and consumer-only keys. Default true. */
  readonly checkTypes?: boolean;
}

type KeyType = 'string' | 'integer' | 'port' | 'long' | 'double' | 'ipv4' | 'ipv6' | 'mac' | 'timestamp' | 'direction';

/** Producer keys of the extension dictionary: type and (strings) length. */
const S = (length: number): { type: KeyType; length: number } => ({ type: 'string', length });
const T = (type: KeyType): { type: KeyType; length: number } => ({ type, length: 0 });
export const CEF_DICTIONARY: Readonly<Record<string, { readonly type: KeyType; readonly length: number }>> = {
  act: S(63),
  app: S(31),
  cat: S(1023),
  cnt: T('integer'),
  destinationDnsDomain: S(255),
  destinationServiceName: S(1023),
  destinationTranslatedAddress: T('ipv4'),
  destinationTranslatedPort: T('port'),
  deviceCustomDate1: T('timestamp'),
  deviceCustomDate1Label: S(1023),
  deviceCustomDate2: T('timestamp'),
  deviceCustomDate2Label: S(1023),
  deviceDirection: T('direction'),
  deviceDnsDomain: S(255),
  deviceExternalId: S(255),
  deviceFacility: S(1023),
  deviceInboundInterface: S(128),
  deviceNtDomain: S(255),
  deviceOutboundInterface: S(128),
  devicePayloadId: S(128),
  deviceProcessName: S(1023),
  deviceTranslatedAddress: T('ipv4'),
  dhost: S(1023),
  dmac: T('mac'),
  dntdom: S(255),
  dpid: T('integer'),
  dpriv: S(1023),
  dproc: S(1023),
  dpt: T('port'),
  dst: T('ipv4'),
  dtz: S(255),
  duid: S(1023),
  duser: S(1023),
  dvc: T('ipv4'),
  dvchost: S(100),
  dvcmac: T('mac'),
  dvcpid: T('integer'),
  end: T('timestamp'),
  externalId: S(40),
  fileCreateTime: T('timestamp'),
  fileHash: S(255),
  fileId: S(1023),
  fileModificationTime: T('timestamp'),
  filePath: S(1023),
  filePermission: S(1023),
  fileType: S(1023),
  flexDate1: T('timestamp'),
  flexDate1Label: S(128),
  flexString1: S(1023),
  flexString1Label: S(128),
  flexString2: S(1023),
  flexString2Label: S(128),
  fname: S(1023),
  fsize: T('integer'),
  in: T('integer'),
  msg: S(1023),
  oldFileCreateTime: T('timestamp'),
  oldFileHash: S(255),
  oldFileId: S(1023),
  oldFileModificationTime: T('timestamp'),
  oldFileName: S(1023),
  oldFilePath: S(1023),
  oldFilePermission: S(1023),
  oldFileSize: T('integer'),
  oldFileType: S(1023),
  out: T('integer'),
  outcome: S(63),
  proto: S(31),
  reason: S(1023),
  request: S(1023),
  requestClientApplication: S(1023),
  requestContext: S(2048),
  requestCookies: S(1023),
  requestMethod: S(1023),
  rt: T('timestamp'),
  shost: S(1023),
  smac: T('mac'),
  sntdom: S(255),
  sourceDnsDomain: S(255),
  sourceServiceName: S(1023),
  sourceTranslatedAddress: T('ipv4'),
  sourceTranslatedPort: T('port'),
  spid: T('integer'),
  spriv: S(1023),
  sproc: S(1023),
  spt: T('port'),
  src: T('ipv4'),
  start: T('timestamp'),
  suid: S(1023),
  suser: S(1023),
  type: T('integer'),
  cs1: S(4000),
  cs2: S(4000),
  cs3: S(4000),
  cs4: S(4000),
  cs5: S(4000),
  cs6: S(4000),
  cs1Label: S(1023),
  cs2Label: S(1023),
  cs3Label: S(1023),
  cs4Label: S(1023),
  cs5Label: S(1023),
  cs6Label: S(1023),
  cn1: T('long'),
  cn2: T('long'),
  cn3: T('long'),
  cn1Label: S(1023),
  cn2Label: S(1023),
  cn3Label: S(1023),
  cfp1: T('double'),
  cfp2: T('double'),
  cfp3: T('double'),
  cfp4: T('double'),
  cfp1Label: S(1023),
  cfp2Label: S(1023),
  cfp3Label: S(1023),
  cfp4Label: S(1023),
  // c6a2 is missing from the producer table but named by the standard's "IPv6 Format" section as the source slot.
  c6a1: T('ipv6'),
  c6a2: T('ipv6'),
  c6a3: T('ipv6'),
  c6a4: T('ipv6'),
  c6a1Label: S(1023),
  c6a2Label: S(1023),
  c6a3Label: S(1023),
  c6a4Label: S(1023),
};

/** Keys set by ArcSight itself; the standard says producers must not send them. */
const CONSUMER_ONLY = new Set([
  'agentDnsDomain',
  'agentNtDomain',
  'agentTranslatedAddress',
  'agentTranslatedZoneExternalID',
  'agentTranslatedZoneURI',
  'agentZoneExternalID',
  'agentZoneURI',
  'agt',
  'ahost',
  'aid',
  'amac',
  'art',
  'at',
  'atz',
  'av',
  'customerExternalID',
  'customerURI',
  'destinationTranslatedZoneExternalID',
  'destinationTranslatedZoneURI',
  'destinationZoneExternalID',
  'destinationZoneURI',
  'deviceTranslatedZoneExternalID',
  'deviceTranslatedZoneURI',
  'deviceZoneExternalID',
  'deviceZoneURI',
  'dlat',
  'dlong',
  'eventId',
  'rawEvent',
  'slat',
  'slong',
  'sourceTranslatedZoneExternalID',
  'sourceTranslatedZoneURI',
  'sourceZoneExternalID',
  'sourceZoneURI',
]);

/** Custom fields that need a label: value key → label key. */
const LABELLED = [
  ...[1, 2, 3, 4, 5, 6].map((i) => `cs${i}`),
  ...[1, 2, 3].map((i) => `cn${i}`),
  ...[1, 2, 3, 4].map((i) => `cfp${i}`),
  ...[1, 2, 3, 4].map((i) => `c6a${i}`),
  'deviceCustomDate1',
  'deviceCustomDate2',
  'flexString1',
  'flexString2',
  'flexDate1',
];

const HEADER_MAX = { vendor: 63, product: 63, deviceVersion: 31, signatureId: 1023, name: 512 } as const;
const SEVERITY_WORDS = new Set(['Unknown', 'Low', 'Medium', 'High', 'Very-High']);
// Date layouts of the standard's Appendix A (Java SimpleDateFormat), as regular expressions.
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const DATE_LAYOUTS = [
  new RegExp(`^${MONTH} \\d{2} \\d{2}:\\d{2}:\\d{2}(?:\\.\\d{3})?(?: \\S+)?$`),
  new RegExp(`^${MONTH} \\d{2} \\d{4} \\d{2}:\\d{2}:\\d{2}(?:\\.\\d{3})?(?: \\S+)?$`),
];

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

export function parseCef(line: string, options: CefParseOptions = {}): CefRecord {
  const fail = (m: string): never => {
    throw new CefParseError(m, line);
  };
  if (/[\r\n\u0000]/.test(line)) fail('raw CR, LF or NUL');
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(line))
    fail('lone surrogate (not UTF-8)');
  if (!line.startsWith('CEF:')) fail('does not start with CEF:');

  // Header: 7 fields, each ended by an unescaped `|`.
  const fields: string[] = [];
  const rawFields: string[] = [];
  let i = 4;
  let cur = '';
  let raw = '';
  while (fields.length < 7) {
    if (i >= line.length) fail(`header has ${fields.length} of 7 fields`);
    const c = line[i] as string;
    if (c === '\\') {
      const n = line[i + 1];
      if (n !== '\\' && n !== '|') fail(`header escape \\${n ?? ''} is not \\\\ or \\|`);
      cur += n;
      raw += c + (n as string);
      i += 2;
    } else if (c === '|') {
      fields.push(cur);
      rawFields.push(raw);
      cur = '';
      raw = '';
      i++;
    } else {
      cur += c;
      raw += c;
      i++;
    }
  }
  const [version, vendor, product, deviceVersion, signatureId, name, severity] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!/^[01]$/.test(version)) fail(`CEF version '${version}' is not 0 or 1`);
  const sevNum = /^(?:[0-9]|10)$/.test(severity);
  if (!sevNum && !SEVERITY_WORDS.has(severity))
    fail(`severity '${severity}' is not 0-10 nor Unknown|Low|Medium|High|Very-High`);
  const header = { vendor, product, deviceVersion, signatureId, name };
  for (const [k, max] of Object.entries(HEADER_MAX)) {
    const idx = ['vendor', 'product', 'deviceVersion', 'signatureId', 'name'].indexOf(k) + 1;
    if (utf8Bytes(rawFields[idx] as string) > max) fail(`header ${k} longer than ${max} bytes`);
    if ((header as Record<string, string>)[k] === '') fail(`header ${k} is empty`);
  }

  // Extension.
  let rest = line.slice(i);
  const leadingSpace = rest.startsWith(' ');
  if (leadingSpace) {
    if (options.allowLeadingSpace !== true) fail('space after the last header |');
    rest = rest.replace(/^ +/, '');
  }
  const extension = new Map<string, string>();
  const rawValues = new Map<string, string>();
  const KEY_AT = /([A-Za-z0-9]+)=/y;
  const NEXT_KEY = / ([A-Za-z0-9]+)=/y;
  let p = 0;
  while (p < rest.length) {
    KEY_AT.lastIndex = p;
    const km = KEY_AT.exec(rest);
    if (km === null) fail(`expected key= at extension offset ${p}`);
    const key = (km as RegExpExecArray)[1] as string;
    if (extension.has(key)) fail(`duplicate key ${key}`);
    p += key.length + 1;
    let value = '';
    let rawValue = '';
    for (;;) {
      if (p >= rest.length) {
        // Trailing spaces of the last value are not part of it.
        value = value.replace(/ +$/, '');
        rawValue = rawValue.replace(/ +$/, '');
        break;
      }
      const c = rest[p] as string;
      if (c === ' ') {
        NEXT_KEY.lastIndex = p;
        if (NEXT_KEY.test(rest)) {
          p += 1;
          break;
        }
        value += c;
        rawValue += c;
        p++;
      } else if (c === '\\') {
        const n = rest[p + 1];
        if (n === '\\' || n === '=') value += n;
        else if (n === 'n') value += '\n';
        else if (n === 'r') value += '\r';
        else fail(`extension escape \\${n ?? '(end)'} in ${key} is not \\\\, \\=, \\n or \\r`);
        rawValue += c + (n as string);
        p += 2;
      } else if (c === '=') {
        fail(`unescaped = in the value of ${key}`);
      } else {
        value += c;
        rawValue += c;
        p++;
      }
    }
    extension.set(key, value);
    rawValues.set(key, rawValue);
  }

  if (options.checkTypes !== false) checkTypes(extension, rawValues, fail);
  return {
    version: Number(version),
    vendor,
    product,
    deviceVersion,
    signatureId,
    name,
    severity,
    extension,
    leadingSpace,
  };
}

function checkTypes(
  ext: ReadonlyMap<string, string>,
  raw: ReadonlyMap<string, string>,
  fail: (m: string) => never,
): void {
  for (const [key, value] of ext) {
    if (CONSUMER_ONLY.has(key)) fail(`consumer-only key ${key}`);
    const def = CEF_DICTIONARY[key];
    if (def === undefined) continue; // a user-defined key: alphanumeric (checked by the tokenizer), free text
    const bad = (what: string): never => fail(`${key}=${JSON.stringify(value.slice(0, 80))} is not ${what}`);
    switch (def.type) {
      case 'string':
        if (utf8Bytes(raw.get(key) as string) > def.length) fail(`${key} longer than ${def.length} bytes`);
        break;
      case 'integer':
        if (!/^-?[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) bad('an integer');
        break;
      case 'long':
        if (!/^-?[0-9]+$/.test(value) || BigInt(value) > 2n ** 63n - 1n || BigInt(value) < -(2n ** 63n))
          bad('a 64-bit integer');
        break;
      case 'port':
        if (!/^[0-9]+$/.test(value) || Number(value) > 65535) bad('a port 0-65535');
        break;
      case 'direction':
        if (value !== '0' && value !== '1') bad('0 (inbound) or 1 (outbound)');
        break;
      case 'double':
        if (!/^-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$/.test(value)) bad('a floating point number');
        break;
      case 'ipv4':
        if (!isIPv4(value)) bad('an IPv4 address');
        break;
      case 'ipv6':
        if (!isIPv6(value)) bad('an IPv6 address');
        break;
      case 'mac':
        if (!/^(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(value)) bad('a MAC address');
        break;
      case 'timestamp':
        if (!/^[0-9]{1,15}$/.test(value) && !DATE_LAYOUTS.some((r) => r.test(value)))
          bad('epoch milliseconds or a CEF date layout');
        break;
    }
  }
  const labels = new Set<string>();
  for (const k of LABELLED) {
    const hasValue = ext.has(k);
    const label = ext.get(`${k}Label`);
    if (hasValue && label === undefined) fail(`${k} without ${k}Label`);
    if (!hasValue && label !== undefined) fail(`${k}Label without ${k}`);
    if (label !== undefined) {
      if (labels.has(label)) fail(`label '${label}' used twice`);
      labels.add(label);
    }
  }
}
