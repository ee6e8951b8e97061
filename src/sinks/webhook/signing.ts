/**
 * Request signing, so a receiver can check that a body came from this sink unchanged and recently:
 *
 *   <timestamp_header>: <Unix time in seconds, decimal>
 *   <header>:           sha256=<lower-case hex of HMAC-SHA256(key, "<timestamp>.<body>")>
 *
 * The signed string is the timestamp's decimal digits, one full stop (0x2E), then the exact body bytes as sent.
 * A receiver recomputes it, compares in constant time, and refuses a timestamp outside its tolerance (e.g. 5
 * minutes): a captured request cannot be replayed later, and the timestamp cannot be changed without the key.
 * Each attempt is signed afresh, so a retry after a long outage carries a current timestamp.
 */
import crypto from 'node:crypto';

export function signatureOf(key: Buffer, timestampSeconds: number, body: Buffer): string {
  const mac = crypto.createHmac('sha256', key);
  mac.update(`${timestampSeconds}.`);
  mac.update(body);
  return `sha256=${mac.digest('hex')}`;
}

/** For receivers written in Node (and the tests): constant-time check of a signature header. */
export function verifySignature(key: Buffer, timestampSeconds: number, body: Buffer, header: string): boolean {
  const expected = Buffer.from(signatureOf(key, timestampSeconds, body));
  const got = Buffer.from(header);
  return got.length === expected.length && crypto.timingSafeEqual(got, expected);
}
