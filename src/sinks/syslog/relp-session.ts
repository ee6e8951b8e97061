/**
 * A RELP client session (librelp's protocol, doc/relp.md, as rsyslog's imrelp speaks it).
 *
 *   RELP-FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] LF     TXNR 1–9 digits, DATALEN 1–9 digits
 *
 * - The session starts with `open` (txnr 1); its data is the offers, `name=value` lines separated by LF:
 *   `relp_version=0` (what librelp implements, although the 2008 text says 1), `relp_software=…`,
 *   `commands=syslog`. The server answers `rsp` `200 OK` LF + the offers it accepts; it must accept `syslog`.
 * - Each event is one `syslog` command; the server answers each with `rsp` `200 OK` in order. At most `window`
 *   commands are unanswered at any time.
 * - TXNR starts at 1 and increases by 1 per command. The spec latches at 999 999 999 and wraps to 1, but librelp's
 *   increment yields 1 000 000 000 (ten digits, which its own frame parser rejects) before wrapping, so both sides
 *   disagree there: this client closes the session and opens a new one (TXNR back to 1) before it gets that far.
 * - `serverclose` (TXNR 0, a hint the server sends before it closes) ends the session: no new commands are sent on
 *   it, and the commands still unanswered when the socket closes are reported lost (the transport resends them).
 * - `close`: the client's last command; the server answers `rsp` with no data and both sides close.
 */
import type net from 'node:net';
import type { StreamTarget } from './connection';
import { AbortedError, openStream } from './connection';

export const RELP_MAX_TXNR = 999_999_999;
/**
 * Queued `syslog` frames are written once they reach about this many characters (or the window is full). Below V8's
 * regular-object limit (~128 KiB), as framing.ts's chunks: a larger string is a large object only a full GC frees.
 */
const OUTBOX_FLUSH_CHARS = 64 * 1024;
/** Largest DATALEN accepted from the server (rsp frames are short; librelp's own default limit is 128 KiB). */
const MAX_SERVER_DATALEN = 128 * 1024;

export type RspOutcome =
  | { readonly kind: 'rsp'; readonly status: number; readonly text: string; readonly data: string }
  | { readonly kind: 'lost'; readonly error: Error };

export class RelpProtocolError extends Error {
  readonly code = 'AEGIS_ERR_RELP_PROTOCOL';
  override readonly name = 'RelpProtocolError';
}

export interface RelpFrame {
  readonly txnr: number;
  readonly command: string;
  readonly data: Buffer;
}

/**
 * Parse complete frames from `buf`. Returns the frames and the offset of the first unparsed byte (an incomplete
 * frame stays for the next read). Throws RelpProtocolError on bytes that cannot start or continue a frame.
 */
export function parseRelpFrames(buf: Buffer): { frames: RelpFrame[]; consumed: number } {
  const frames: RelpFrame[] = [];
  let i = 0;
  const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39;
  const isAlpha = (b: number | undefined): boolean =>
    b !== undefined && ((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a));
  for (;;) {
    const start = i;
    let j = i;
    while (j < buf.length && isDigit(buf[j])) j++;
    if (j === buf.length) return { frames, consumed: start };
    if (j === i || j - i > 9 || buf[j] !== 0x20)
      throw new RelpProtocolError(`malformed RELP frame: bad TXNR at offset ${start}`);
    const txnr = Number(buf.toString('ascii', i, j));
    let k = j + 1;
    while (k < buf.length && isAlpha(buf[k])) k++;
    if (k === buf.length) return { frames, consumed: start };
    if (k === j + 1 || k - j - 1 > 32 || buf[k] !== 0x20)
      throw new RelpProtocolError(`malformed RELP frame: bad COMMAND after TXNR ${txnr}`);
    const command = buf.toString('ascii', j + 1, k);
    let m = k + 1;
    while (m < buf.length && isDigit(buf[m])) m++;
    if (m === buf.length) return { frames, consumed: start };
    if (m === k + 1 || m - k - 1 > 9)
      throw new RelpProtocolError(`malformed RELP frame: bad DATALEN in ${command} ${txnr}`);
    const datalen = Number(buf.toString('ascii', k + 1, m));
    if (datalen > MAX_SERVER_DATALEN)
      throw new RelpProtocolError(`RELP frame from the server is too long (${datalen} bytes)`);
    if (datalen === 0) {
      if (buf[m] !== 0x0a)
        throw new RelpProtocolError(`malformed RELP frame: ${command} ${txnr} with DATALEN 0 not followed by LF`);
      frames.push({ txnr, command, data: Buffer.alloc(0) });
      i = m + 1;
      continue;
    }
    if (buf[m] !== 0x20) throw new RelpProtocolError(`malformed RELP frame: no SP before DATA in ${command} ${txnr}`);
    const end = m + 1 + datalen;
    if (end >= buf.length) return { frames, consumed: start };
    if (buf[end] !== 0x0a)
      throw new RelpProtocolError(
        `malformed RELP frame: ${command} ${txnr} is not terminated by LF after ${datalen} bytes`,
      );
    frames.push({ txnr, command, data: Buffer.from(buf.subarray(m + 1, end)) });
    i = end + 1;
  }
}

/** `rsp` DATA: `STATUS SP HUMAN-TEXT [LF CMDDATA]`. */
export function parseRsp(data: Buffer): { status: number; text: string; data: string } {
  const s = data.toString('utf8');
  const lf = s.indexOf('\n');
  const head = lf < 0 ? s : s.slice(0, lf);
  const m = /^(\d{3})(?: (.*))?$/.exec(head);
  // `rsp` to `close` carries no data at all; treat it as success.
  if (s === '') return { status: 200, text: '', data: '' };
  if (m === null) throw new RelpProtocolError(`malformed RELP rsp: ${JSON.stringify(head.slice(0, 80))}`);
  return { status: Number(m[1]), text: m[2] ?? '', data: lf < 0 ? '' : s.slice(lf + 1) };
}

/** Offers: `name=value[,value…]` lines. */
export function parseOffers(text: string): Map<string, string[]> {
  const offers = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq);
    offers.set(
      name,
      eq < 0
        ? []
        : line
            .slice(eq + 1)
            .split(',')
            .filter((v) => v !== ''),
    );
  }
  return offers;
}

export function buildFrame(txnr: number, command: string, data: string | Buffer): Buffer {
  const len = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
  if (len === 0) return Buffer.from(`${txnr} ${command} 0\n`, 'ascii');
  return Buffer.concat([
    Buffer.from(`${txnr} ${command} ${len} `, 'ascii'),
    typeof data === 'string' ? Buffer.from(data, 'utf8') : data,
    Buffer.from('\n', 'ascii'),
  ]);
}

export interface RelpSessionOptions {
  readonly window: number;
  /** Highest TXNR this session uses before the transport rolls over to a new session (tests lower it). */
  readonly maxTxnr: number;
  readonly software: string;
  readonly openTimeoutMillis: number;
}

export class RelpSession {
  private nextTxnr = 1;
  private readonly pending = new Map<number, (outcome: RspOutcome) => void>();
  private readonly roomWaiters = new Set<() => void>();
  private rest: Buffer = Buffer.alloc(0);
  private outboxText = '';
  private outboxParts: Buffer[] = [];
  private serverClosing = false;
  private deadError: Error | undefined;

  private constructor(
    readonly socket: net.Socket,
    private readonly options: RelpSessionOptions,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('end', () =>
      this.fail(Object.assign(new Error('the RELP server closed the connection'), { code: 'ECONNRESET' })),
    );
    socket.on('close', () => this.fail(Object.assign(new Error('the RELP connection closed'), { code: 'ECONNRESET' })));
  }

  /** Connect, handshake (TLS if configured) and `open` the session. */
  static async open(target: StreamTarget, options: RelpSessionOptions, signal: AbortSignal): Promise<RelpSession> {
    const socket = await openStream(target, signal);
    const session = new RelpSession(socket, options);
    const offers = `relp_version=0\nrelp_software=${options.software}\ncommands=syslog`;
    const timer = setTimeout(
      () =>
        session.destroy(
          Object.assign(new Error(`no answer to RELP open within ${options.openTimeoutMillis} ms`), {
            code: 'ETIMEDOUT',
          }),
        ),
      options.openTimeoutMillis,
    );
    const onAbort = (): void => session.destroy(new AbortedError('aborted while opening the RELP session'));
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const outcome = await session.command('open', offers);
      if (outcome.kind === 'lost') throw outcome.error;
      if (outcome.status !== 200)
        throw new RelpProtocolError(`the receiver refused the RELP session: rsp ${outcome.status} ${outcome.text}`);
      const accepted = parseOffers(outcome.data);
      if (!(accepted.get('commands') ?? []).includes('syslog')) {
        throw new RelpProtocolError(
          `the RELP receiver does not accept the syslog command (its offers: ${JSON.stringify(outcome.data)})`,
        );
      }
      return session;
    } catch (err) {
      session.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** No new command can be sent (the server announced it closes, or the connection failed). */
  get unusable(): boolean {
    return this.deadError !== undefined || this.serverClosing;
  }

  get error(): Error | undefined {
    return this.deadError;
  }

  get unanswered(): number {
    return this.pending.size;
  }

  /** The next command would pass the TXNR limit: roll over to a new session first. */
  get exhausted(): boolean {
    return this.nextTxnr > this.options.maxTxnr;
  }

  get hasRoom(): boolean {
    return this.pending.size < this.options.window;
  }

  /**
   * Resolves when at most `lowWater` commands are unanswered (default: one slot free), or the session is unusable,
   * or `signal` aborted. Refilling from a low-water mark writes many frames at once instead of one per answer.
   */
  waitForRoom(signal: AbortSignal, lowWater = this.options.window - 1): Promise<void> {
    const ready = (): boolean => this.pending.size <= lowWater || this.unusable || signal.aborted;
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (!ready()) return;
        this.roomWaiters.delete(check);
        signal.removeEventListener('abort', check);
        resolve();
      };
      this.roomWaiters.add(check);
      signal.addEventListener('abort', check, { once: true });
    });
  }

  /**
   * Queue one `syslog` command; `onAnswer` gets its `rsp`, or `lost` when the session ends first. Queued frames are
   * written together by flush() (one write per window's worth instead of one per event).
   */
  syslog(message: string | Buffer, onAnswer: (outcome: RspOutcome) => void): void {
    if (this.deadError !== undefined) {
      onAnswer({ kind: 'lost', error: this.deadError });
      return;
    }
    const txnr = this.nextTxnr++;
    this.pending.set(txnr, onAnswer);
    if (typeof message === 'string') {
      this.outboxText += `${txnr} syslog ${Buffer.byteLength(message, 'utf8')} ${message}\n`;
    } else {
      this.flushText();
      this.outboxParts.push(buildFrame(txnr, 'syslog', message));
    }
    if (this.outboxText.length >= OUTBOX_FLUSH_CHARS) this.flush();
  }

  /** Write the queued frames. */
  flush(): void {
    this.flushText();
    if (this.outboxParts.length === 0) return;
    const parts = this.outboxParts;
    this.outboxParts = [];
    if (this.deadError === undefined)
      this.socket.write(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
  }

  private flushText(): void {
    if (this.outboxText === '') return;
    this.outboxParts.push(Buffer.from(this.outboxText, 'utf8'));
    this.outboxText = '';
  }

  /** Send one command now (open, close); resolves with its `rsp` or with `lost` when the session ends first. */
  command(command: string, data: string | Buffer): Promise<RspOutcome> {
    if (this.deadError !== undefined) return Promise.resolve({ kind: 'lost', error: this.deadError });
    this.flush();
    const txnr = this.nextTxnr++;
    return new Promise<RspOutcome>((resolve) => {
      this.pending.set(txnr, resolve);
      this.socket.write(buildFrame(txnr, command, data));
    });
  }

  /** Resolves when every command sent so far has its answer (or the session ended). */
  async drain(): Promise<void> {
    while (this.pending.size > 0 && this.deadError === undefined) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.roomWaiters.delete(done);
          resolve();
        };
        this.roomWaiters.add(done);
      });
    }
  }

  /** The orderly end: `close`, wait for its `rsp` (bounded), then close the socket. */
  async close(timeoutMillis: number): Promise<void> {
    if (this.unusable) {
      this.destroy(this.deadError ?? new Error('session closed'));
      return;
    }
    const timer = setTimeout(() => this.destroy(new Error('no answer to RELP close')), timeoutMillis);
    try {
      await this.command('close', '');
    } finally {
      clearTimeout(timer);
      this.socket.end();
      this.socket.destroySoon();
      this.fail(new Error('session closed by the client'));
    }
  }

  destroy(err: Error): void {
    this.fail(err);
    this.socket.destroy();
  }

  private fail(err: Error): void {
    if (this.deadError !== undefined) return;
    this.deadError = err;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const resolve of pending) resolve({ kind: 'lost', error: err });
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.roomWaiters]) w();
  }

  private onData(chunk: Buffer): void {
    const buf = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    let parsed: { frames: RelpFrame[]; consumed: number };
    try {
      parsed = parseRelpFrames(buf);
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    this.rest = parsed.consumed === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(parsed.consumed));
    for (const frame of parsed.frames) {
      if (frame.command === 'rsp') {
        const resolve = this.pending.get(frame.txnr);
        if (resolve === undefined) {
          this.destroy(new RelpProtocolError(`RELP rsp for unknown TXNR ${frame.txnr}`));
          return;
        }
        let rsp: { status: number; text: string; data: string };
        try {
          rsp = parseRsp(frame.data);
        } catch (err) {
          this.destroy(err as Error);
          return;
        }
        this.pending.delete(frame.txnr);
        resolve({ kind: 'rsp', ...rsp });
      } else if (frame.command === 'serverclose' && frame.txnr === 0) {
        // A hint: the server is about to close. Unanswered commands are reported lost when the socket closes.
        this.serverClosing = true;
      } else {
        this.destroy(
          new RelpProtocolError(`unexpected RELP command from the server: ${frame.command} (TXNR ${frame.txnr})`),
        );
        return;
      }
    }
    this.wake();
  }
}
