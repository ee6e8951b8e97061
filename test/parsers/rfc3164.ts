/**
 * A strict parser for the RFC 3164 shape aegisbpf emits (RFC 3164 §4.1): `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`.
 * PRI 0–191 without leading zeros; TIMESTAMP with a space-padded day and exactly one SP after it; HOSTNAME without
 * spaces; TAG alphanumeric (plus `_ . -`), at most 32 characters. Throws on anything else.
 */

export interface Rfc3164Message {
  readonly pri: number;
  readonly facility: number;
  readonly severity: number;
  readonly timestamp: string;
  readonly hostname: string;
  readonly tag: string;
  readonly pid: string;
  readonly msg: string;
}

const SHAPE =
  /^<(0|[1-9][0-9]{0,2})>((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?: [1-9]|[12][0-9]|3[01]) (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]) ([\x21-\x7e]+) ([A-Za-z0-9_.-]{1,32})\[([0-9]+)\]: ([\s\S]*)$/;

export function parseRfc3164(input: Buffer | string): Rfc3164Message {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  const m = SHAPE.exec(text);
  if (m === null)
    throw new Error(`not an RFC 3164 message of the expected shape: ${JSON.stringify(text.slice(0, 120))}`);
  const pri = Number(m[1]);
  if (pri > 191) throw new Error(`PRI ${pri} > 191`);
  return {
    pri,
    facility: pri >> 3,
    severity: pri & 7,
    timestamp: m[2]!,
    hostname: m[3]!,
    tag: m[4]!,
    pid: m[5]!,
    msg: m[6]!,
  };
}
