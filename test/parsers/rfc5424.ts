/**
 * A strict RFC 5424 parser, written from the RFC's ABNF (§6) for tests: it accepts exactly SYSLOG-MSG and throws
 * (with the offset and the rule) on anything else. It is deliberately independent of src/formatters/rfc5424.ts.
 *
 *   SYSLOG-MSG      = HEADER SP STRUCTURED-DATA [SP MSG]
 *   HEADER          = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
 *   PRI             = "<" PRIVAL ">"            ; PRIVAL = 1*3DIGIT, 0..191
 *   VERSION         = NONZERO-DIGIT 0*2DIGIT
 *   HOSTNAME        = NILVALUE / 1*255PRINTUSASCII   APP-NAME = … 1*48   PROCID = … 1*128   MSGID = … 1*32
 *   TIMESTAMP       = NILVALUE / FULL-DATE "T" FULL-TIME  (RFC 3339 subset; TIME-SECFRAC 1*6DIGIT; no leap second)
 *   STRUCTURED-DATA = NILVALUE / 1*SD-ELEMENT
 *   SD-ELEMENT      = "[" SD-ID *(SP SD-PARAM) "]"
 *   SD-PARAM        = PARAM-NAME "=" %d34 PARAM-VALUE %d34
 *   SD-NAME         = 1*32PRINTUSASCII except '=', SP, ']', %d34
 *   PARAM-VALUE     = UTF-8-STRING with '"', '\' and ']' escaped
 *   MSG             = MSG-ANY / MSG-UTF8 ; MSG-UTF8 = BOM UTF-8-STRING
 *
 * Extra RFC rules checked: PRIVAL without leading zeros (§6.2.1 examples; "<0>"), the same SD-ID at most once
 * (§6.3.2), an SD-ID without "@" only if IANA-registered (§6.3.2, §7: timeQuality, origin, meta), a private SD-ID
 * as name@<enterprise number>, PARAM-VALUE valid UTF-8 (§6.3.3), MSG-UTF8 valid UTF-8.
 */

export interface SdElement {
  readonly id: string;
  /** In order; a PARAM-NAME may repeat. Values unescaped. */
  readonly params: readonly (readonly [string, string])[];
}

export interface Rfc5424Message {
  readonly pri: number;
  readonly facility: number;
  readonly severity: number;
  readonly version: number;
  /** undefined for NILVALUE */
  readonly timestamp: string | undefined;
  readonly hostname: string | undefined;
  readonly appName: string | undefined;
  readonly procId: string | undefined;
  readonly msgId: string | undefined;
  /** undefined for NILVALUE */
  readonly sd: readonly SdElement[] | undefined;
  /** MSG octets without the BOM; undefined when there is no MSG. */
  readonly msg: Buffer | undefined;
  readonly bom: boolean;
  /** MSG decoded as UTF-8 (strictly, when a BOM declares it; otherwise with replacement). */
  readonly msgText: string | undefined;
}

export class Rfc5424ParseError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(`RFC 5424 parse error at octet ${offset}: ${message}`);
  }
}

const REGISTERED_SD_IDS = new Set(['timeQuality', 'origin', 'meta']);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function isPrintUsAscii(b: number): boolean {
  return b >= 33 && b <= 126;
}
function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

export function parseRfc5424(input: Buffer | string): Rfc5424Message {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let i = 0;
  const fail = (why: string): never => {
    throw new Rfc5424ParseError(i, why);
  };
  const expect = (b: number, what: string): void => {
    if (buf[i] !== b) fail(`expected ${what}`);
    i++;
  };
  const sp = (): void => expect(0x20, 'SP');

  // PRI
  expect(0x3c, '"<"');
  const priStart = i;
  while (i < buf.length && isDigit(buf[i]!) && i - priStart < 3) i++;
  if (i === priStart) fail('PRIVAL must have 1–3 digits');
  const priText = buf.toString('ascii', priStart, i);
  if (priText.length > 1 && priText.startsWith('0')) fail('PRIVAL has a leading zero');
  const pri = Number(priText);
  if (pri > 191) fail(`PRIVAL ${pri} > 191`);
  expect(0x3e, '">"');

  // VERSION
  const verStart = i;
  if (!(buf[i]! >= 0x31 && buf[i]! <= 0x39)) fail('VERSION must start with a non-zero digit');
  i++;
  while (i < buf.length && isDigit(buf[i]!) && i - verStart < 3) i++;
  const version = Number(buf.toString('ascii', verStart, i));
  sp();

  // TIMESTAMP
  let timestamp: string | undefined;
  if (buf[i] === 0x2d && buf[i + 1] === 0x20) {
    i++;
  } else {
    const start = i;
    while (i < buf.length && buf[i] !== 0x20) i++;
    const text = buf.toString('latin1', start, i);
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-](\d{2}):(\d{2}))$/.exec(text);
    if (m === null) {
      i = start;
      fail(`TIMESTAMP ${JSON.stringify(text)} is not FULL-DATE "T" FULL-TIME`);
    }
    const [, y, mo, d, h, mi, s, , , oh, om] = m!;
    const year = Number(y);
    const month = Number(mo);
    const day = Number(d);
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    const mdays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
    if (mdays === undefined || day < 1 || day > mdays) fail(`TIMESTAMP date ${y}-${mo}-${d} does not exist`);
    if (Number(h) > 23 || Number(mi) > 59) fail('TIMESTAMP hour/minute out of range');
    if (Number(s) > 59) fail('TIMESTAMP second out of range (leap seconds are not allowed)');
    if (oh !== undefined && (Number(oh) > 23 || Number(om) > 59)) fail('TIME-OFFSET out of range');
    timestamp = text;
  }
  sp();

  const headerField = (name: string, max: number): string | undefined => {
    const start = i;
    while (i < buf.length && buf[i] !== 0x20) {
      if (!isPrintUsAscii(buf[i]!)) fail(`${name} has a non-PRINTUSASCII octet 0x${buf[i]!.toString(16)}`);
      i++;
    }
    const len = i - start;
    if (len === 0) fail(`${name} is empty`);
    if (len > max) fail(`${name} is ${len} octets, more than ${max}`);
    const text = buf.toString('ascii', start, i);
    return text === '-' ? undefined : text;
  };
  const hostname = headerField('HOSTNAME', 255);
  sp();
  const appName = headerField('APP-NAME', 48);
  sp();
  const procId = headerField('PROCID', 128);
  sp();
  const msgId = headerField('MSGID', 32);
  sp();

  // STRUCTURED-DATA
  const sdName = (what: string): string => {
    const start = i;
    while (i < buf.length) {
      const b = buf[i]!;
      if (b === 0x3d || b === 0x20 || b === 0x5d || b === 0x22) break;
      if (!isPrintUsAscii(b)) fail(`${what} has a non-PRINTUSASCII octet`);
      i++;
    }
    const len = i - start;
    if (len === 0 || len > 32) fail(`${what} must have 1–32 octets (has ${len})`);
    return buf.toString('ascii', start, i);
  };
  let sd: SdElement[] | undefined;
  if (buf[i] === 0x2d) {
    i++;
  } else {
    if (buf[i] !== 0x5b) fail('STRUCTURED-DATA must be "-" or start with "["');
    sd = [];
    const seen = new Set<string>();
    while (buf[i] === 0x5b) {
      i++;
      const idStart = i;
      const id = sdName('SD-ID');
      const at = id.indexOf('@');
      if (at < 0) {
        if (!REGISTERED_SD_IDS.has(id)) {
          i = idStart;
          fail(`SD-ID ${id} has no "@" and is not IANA-registered`);
        }
      } else if (!/^[^@]+@[1-9][0-9]*(\.[0-9]+)*$/.test(id)) {
        i = idStart;
        fail(`private SD-ID ${id} must be name@<private enterprise number>`);
      }
      if (seen.has(id)) fail(`SD-ID ${id} appears twice`);
      seen.add(id);
      const params: [string, string][] = [];
      while (buf[i] === 0x20) {
        i++;
        const name = sdName('PARAM-NAME');
        expect(0x3d, '"="');
        expect(0x22, 'opening %d34');
        const chunks: number[] = [];
        for (;;) {
          if (i >= buf.length) fail('PARAM-VALUE is not terminated');
          const b = buf[i]!;
          if (b === 0x22) break;
          if (b === 0x5d) fail('unescaped "]" in PARAM-VALUE');
          if (b === 0x5c) {
            const n = buf[i + 1];
            if (n === 0x22 || n === 0x5c || n === 0x5d) {
              chunks.push(n);
              i += 2;
              continue;
            }
            // §6.3.3: a backslash before any other character is an ordinary backslash.
          }
          chunks.push(b);
          i++;
        }
        i++; // closing quote
        let value: string;
        try {
          value = strictUtf8.decode(Uint8Array.from(chunks));
        } catch {
          fail(`PARAM-VALUE of ${name} is not valid UTF-8`);
        }
        params.push([name, value!]);
      }
      expect(0x5d, '"]" closing SD-ELEMENT');
      sd.push({ id, params });
    }
  }

  // [SP MSG]
  let msg: Buffer | undefined;
  let bom = false;
  let msgText: string | undefined;
  if (i < buf.length) {
    sp();
    let body = buf.subarray(i);
    if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) {
      bom = true;
      body = body.subarray(3);
      try {
        msgText = strictUtf8.decode(body);
      } catch {
        fail('MSG-UTF8 is not valid UTF-8');
      }
    } else {
      msgText = body.toString('utf8');
    }
    msg = body;
  }
  return {
    pri,
    facility: pri >> 3,
    severity: pri & 7,
    version,
    timestamp,
    hostname,
    appName,
    procId,
    msgId,
    sd,
    msg,
    bom,
    msgText,
  };
}

/** SD params of one element as an object (last value wins, as rsyslog's mmpstrucdata does). */
export function sdParams(message: Rfc5424Message, id: string): Record<string, string> | undefined {
  const el = message.sd?.find((e) => e.id === id);
  if (el === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of el.params) out[k] = v;
  return out;
}
