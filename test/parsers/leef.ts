/**
 * A strict LEEF 1.0 / 2.0 parser, written from IBM's "Log Event Extended Format (LEEF) Version 2" guide (see
 * /work/shared/reference/leef.md §1 for the rules and their sources), for tests:
 *
 * - `LEEF:1.0|Vendor|Product|Version|EventID|attrs` (tab-delimited) or
 *   `LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|attrs`, the delimiter one character or `x`/`0x` + 1–4 hex
 *   digits; LEEF has no escape sequences, so header fields end at the next `|` and a value at the next delimiter;
 * - attributes are `key=value`, split at the first `=`; keys non-empty and (the guide's best practice, enforced here)
 *   alphanumeric; each key at most once; an empty attribute (two delimiters in a row, a trailing delimiter) is an
 *   error; raw CR, LF or NUL anywhere is an error (one event per line);
 * - with `checkTypes` (default) the predefined attributes are checked: `devTime` is 10/13-digit epoch or matches its
 *   `devTimeFormat` (SimpleDateFormat letters MMM dd yyyy HH mm ss SSS z), `sev` 1–10, `src`/`dst`/…NAT/`identSrc`
 *   IP addresses, ports 0–65535, `proto` an IANA number or keyword, MACs, byte/packet counts integers,
 *   `usrName`/`identHostName`/… at most 255 characters, EventID at most 255.
 */
import { isIP } from 'node:net';

export class LeefParseError extends Error {
  constructor(
    message: string,
    readonly line: string,
  ) {
    super(`${message} in: ${JSON.stringify(line.length > 300 ? line.slice(0, 300) + '…' : line)}`);
    this.name = 'LeefParseError';
  }
}

export interface LeefRecord {
  readonly version: '1.0' | '2.0';
  readonly vendor: string;
  readonly product: string;
  readonly productVersion: string;
  readonly eventId: string;
  /** The delimiter character (tab for 1.0) and, for 2.0, the header field as written. */
  readonly delimiter: string;
  readonly delimiterField: string | undefined;
  readonly attributes: ReadonlyMap<string, string>;
  /** devTime in epoch milliseconds, when present. */
  readonly devTimeMillis: number | undefined;
}

export interface LeefParseOptions {
  readonly checkTypes?: boolean;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Parse `value` with a SimpleDateFormat pattern made of MMM, dd, yyyy, HH, mm, ss, SSS, z and literal characters;
 * returns epoch milliseconds (z accepts GMT/UTC or GMT±hh:mm) or undefined.
 */
export function parseSimpleDate(value: string, pattern: string): number | undefined {
  let re = '^';
  const order: string[] = [];
  for (let i = 0; i < pattern.length;) {
    const tok = /^(MMM|dd|yyyy|HH|mm|ss|SSS|z)/.exec(pattern.slice(i));
    if (tok !== null) {
      const t = tok[1] as string;
      order.push(t);
      re +=
        t === 'MMM'
          ? `(${MONTHS.join('|')})`
          : t === 'yyyy'
            ? '(\\d{4})'
            : t === 'SSS'
              ? '(\\d{3})'
              : t === 'z'
                ? '(GMT|UTC|GMT[+-]\\d{2}:\\d{2})'
                : '(\\d{2})';
      i += t.length;
    } else {
      const c = pattern[i] as string;
      if (/[A-Za-z]/.test(c)) return undefined; // a pattern letter this parser does not know
      re += c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
      i++;
    }
  }
  const m = new RegExp(re + '$').exec(value);
  if (m === null) return undefined;
  const get = (t: string): string | undefined => m[order.indexOf(t) + 1];
  if (get('MMM') === undefined || get('dd') === undefined || get('yyyy') === undefined || get('HH') === undefined)
    return undefined;
  const month = MONTHS.indexOf(get('MMM') as string);
  let millis = Date.UTC(
    Number(get('yyyy')),
    month,
    Number(get('dd')),
    Number(get('HH')),
    Number(get('mm') ?? 0),
    Number(get('ss') ?? 0),
    Number(get('SSS') ?? 0),
  );
  const zone = get('z');
  if (zone !== undefined && zone.length > 3) {
    const sign = zone[3] === '-' ? -1 : 1;
    millis -= sign * (Number(zone.slice(4, 6)) * 60 + Number(zone.slice(7, 9))) * 60_000;
  }
  return Number.isNaN(millis) ? undefined : millis;
}

export function parseLeef(line: string, options: LeefParseOptions = {}): LeefRecord {
  const fail = (m: string): never => {
    throw new LeefParseError(m, line);
  };
  if (/[\r\n\u0000]/.test(line)) fail('raw CR, LF or NUL');
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(line))
    fail('lone surrogate (not UTF-8)');
  const vm = /^LEEF:(1\.0|2\.0)\|/.exec(line);
  if (vm === null) fail('does not start with LEEF:1.0| or LEEF:2.0|');
  const version = (vm as RegExpExecArray)[1] as '1.0' | '2.0';
  const headerCount = version === '1.0' ? 4 : 5;
  const parts: string[] = [];
  let p = (vm as RegExpExecArray)[0].length;
  for (let k = 0; k < headerCount; k++) {
    const bar = line.indexOf('|', p);
    if (bar < 0) fail(`header has ${k} of ${headerCount} fields`);
    parts.push(line.slice(p, bar));
    p = bar + 1;
  }
  const [vendor, product, productVersion, eventId, delimiterField] = parts as [
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  for (const [k, v] of [
    ['vendor', vendor],
    ['product', product],
    ['version', productVersion],
    ['EventID', eventId],
  ] as const) {
    if (v === '') fail(`header ${k} is empty`);
  }
  if ([...eventId].length > 255) fail('EventID longer than 255 characters');
  let delimiter = '\t';
  if (version === '2.0') {
    const f = delimiterField as string;
    const hex = /^(?:0x|x)([0-9A-Fa-f]{1,4})$/.exec(f);
    if (hex !== null) delimiter = String.fromCharCode(parseInt(hex[1] as string, 16));
    else if (f.length === 1) delimiter = f;
    else fail(`delimiter field '${f}' is not one character nor x/0x + 1-4 hex digits`);
  }

  const attributes = new Map<string, string>();
  const rest = line.slice(p);
  if (rest !== '') {
    for (const attr of rest.split(delimiter)) {
      if (attr === '') fail('empty attribute (two delimiters in a row or a trailing delimiter)');
      const eq = attr.indexOf('=');
      if (eq < 0) fail(`attribute without '=': ${JSON.stringify(attr.slice(0, 80))}`);
      const key = attr.slice(0, eq);
      if (!/^[A-Za-z0-9]+$/.test(key)) fail(`key ${JSON.stringify(key)} is not alphanumeric`);
      if (attributes.has(key)) fail(`duplicate key ${key}`);
      attributes.set(key, attr.slice(eq + 1));
    }
  }

  let devTimeMillis: number | undefined;
  if (options.checkTypes !== false) devTimeMillis = checkTypes(attributes, fail);
  return { version, vendor, product, productVersion, eventId, delimiter, delimiterField, attributes, devTimeMillis };
}

const IP_KEYS = [
  'src',
  'dst',
  'srcPreNAT',
  'dstPreNAT',
  'srcPostNAT',
  'dstPostNAT',
  'identSrc',
  'vSrc',
  'identSecondlp',
];
const PORT_KEYS = ['srcPort', 'dstPort', 'srcPreNATPort', 'dstPreNATPort', 'srcPostNATPort', 'dstPostNATPort'];
const COUNT_KEYS = ['srcBytes', 'dstBytes', 'srcPackets', 'dstPackets', 'totalPackets'];
const NAME_KEYS = ['usrName', 'identHostName', 'identNetBios', 'identGrpName', 'vSrcName', 'accountName'];
const MAC_KEYS = ['srcMAC', 'dstMAC', 'identMAC'];

function checkTypes(a: ReadonlyMap<string, string>, fail: (m: string) => never): number | undefined {
  const bad = (key: string, what: string): never =>
    fail(`${key}=${JSON.stringify((a.get(key) as string).slice(0, 80))} is not ${what}`);
  let devTimeMillis: number | undefined;
  const devTime = a.get('devTime');
  const format = a.get('devTimeFormat');
  if (format !== undefined && devTime === undefined) fail('devTimeFormat without devTime');
  if (devTime !== undefined) {
    if (format === undefined) {
      if (/^[0-9]{13}$/.test(devTime)) devTimeMillis = Number(devTime);
      else if (/^[0-9]{10}$/.test(devTime)) devTimeMillis = Number(devTime) * 1000;
      else bad('devTime', 'a 10/13-digit epoch value (and no devTimeFormat is given)');
    } else {
      devTimeMillis = parseSimpleDate(devTime, format);
      if (devTimeMillis === undefined) bad('devTime', `a date in the format '${format}'`);
    }
  }
  const sev = a.get('sev');
  if (sev !== undefined && !/^(?:[1-9]|10)$/.test(sev)) bad('sev', 'an integer 1-10');
  for (const k of IP_KEYS) if (a.has(k) && isIP(a.get(k) as string) === 0) bad(k, 'an IP address');
  for (const k of PORT_KEYS)
    if (a.has(k) && (!/^[0-9]{1,5}$/.test(a.get(k) as string) || Number(a.get(k)) > 65535)) bad(k, 'a port 0-65535');
  for (const k of COUNT_KEYS) if (a.has(k) && !/^[0-9]+$/.test(a.get(k) as string)) bad(k, 'a non-negative integer');
  for (const k of NAME_KEYS) if (a.has(k) && [...(a.get(k) as string)].length > 255) bad(k, 'at most 255 characters');
  for (const k of MAC_KEYS)
    if (a.has(k) && !/^(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(a.get(k) as string)) bad(k, 'a MAC address');
  const proto = a.get('proto');
  if (
    proto !== undefined &&
    !(/^[0-9]{1,3}$/.test(proto) && Number(proto) <= 255) &&
    !/^[A-Za-z][A-Za-z0-9.+-]*$/.test(proto)
  )
    bad('proto', 'an IANA protocol number or keyword');
  for (const k of ['isLoginEvent', 'isLogoutEvent'])
    if (a.has(k) && !['true', 'false'].includes(a.get(k) as string)) bad(k, 'true or false');
  return devTimeMillis;
}
