/**
 * RELP specifics. Against the real rsyslog: the TXNR rollover (a new session before TXNR would pass the limit;
 * the limit is lowered for the test) and the window bound. Against a scripted RELP peer, for what rsyslog cannot be
 * made to do on demand: a `500` answer to one message (dead-lettered with the receiver's text, the rest delivered),
 * a refused `open`, and garbage instead of RELP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { parseSyslogConfig } from '../../../src/sinks/syslog/config';
import { createRelpTransport } from '../../../src/sinks/syslog/relp';
import { parseRelpFrames } from '../../../src/sinks/syslog/relp-session';
import { createLogger } from '../../../src/util/logger';
import { formatJson } from '../../../src/formatters/json';
import { generateEvents } from '../../helpers/events';
import { makeTempDir } from '../../helpers/tmp';
import { waitForLines } from '../../helpers/rsyslog';
import { withReceiver } from '../../helpers/syslog-receiver';
import { batchOf } from '../transport-contract';
import { adversarialEvents, buildSyslogSink, checkReceived, feed } from './harness';

test(
  'syslog relp: sessions roll over before TXNR passes its limit (lowered to 97 here); nothing lost or duplicated',
  { timeout: 120_000 },
  async (t) => {
    await withReceiver(t, async (r) => {
      const s = buildSyslogSink(r.sinkConfig('relp', { relp: { window: 16 }, batch: { max_events: 300 } }), r.dir, {
        maxTxnr: 97,
      });
      const events = adversarialEvents(2000, 'rollover');
      await feed(s.sink, events, 250);
      await s.sink.close(30_000);
      assert.equal(s.stats.delivered, events.length);
      // TXNR 1 is the open, so each session carries at most 96 events: 2000 events need at least 21 sessions.
      assert.ok((s.counters.relp_rollovers_total ?? 0) >= 20, `rollovers: ${s.counters.relp_rollovers_total}`);
      assert.equal(s.counters.connection_lost_total ?? 0, 0);
      await waitForLines(r.eventsFile, events.length, 'every event');
      const check = checkReceived(r.lines(), events);
      assert.deepEqual([check.missing.length, check.duplicates, check.extra.length], [0, 0, 0]);
    });
  },
);

/** `rsp` data to send, or `garbage` (not RELP), or `silence` (no answer). */
type PeerAnswer = string;

/** A scripted RELP peer: answers `open` with `openReply`, then each `syslog` with `answer(n)` (n counts from 0). */
async function scriptedPeer(
  openReply: string,
  answer: (n: number) => PeerAnswer,
): Promise<{ port: number; received: string[]; close: () => Promise<void> }> {
  const received: string[] = [];
  const server = net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    let n = 0;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const { frames, consumed } = parseRelpFrames(buf);
      buf = buf.subarray(consumed);
      for (const f of frames) {
        const reply = (data: string): void =>
          void socket.write(`${f.txnr} rsp ${Buffer.byteLength(data)}${data === '' ? '' : ' ' + data}\n`);
        if (f.command === 'open') reply(openReply);
        else if (f.command === 'close') reply('');
        else if (f.command === 'syslog') {
          const a = answer(n++);
          received.push(f.data.toString());
          if (a === 'garbage') socket.write('HTTP/1.1 400 Bad Request\r\n\r\n');
          else if (a !== 'silence') reply(a);
        }
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const OK_OPEN = '200 OK\nrelp_version=0\nrelp_software=scripted\ncommands=syslog';

test("syslog relp: a 500 answer dead-letters that one event with the receiver's words; the others are delivered", async () => {
  const peer = await scriptedPeer(OK_OPEN, (n) => (n === 3 ? '500 message refused by policy' : '200 OK'));
  const { dir, cleanup } = makeTempDir();
  try {
    const s = buildSyslogSink({ type: 'syslog', transport: 'relp', host: '127.0.0.1', port: peer.port }, dir);
    const events = generateEvents(8);
    await s.sink.accept(events);
    await s.sink.close(5000);
    await s.deadLetter.close();
    assert.equal(s.stats.delivered, 7);
    assert.equal(s.stats.deadLettered, 1);
    const dl = fs
      .readFileSync(s.deadLetterPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(dl.length, 1);
    assert.equal(dl[0]!.code, 'AEGIS_ERR_SINK_REJECTED');
    assert.match(String(dl[0]!.reason), /rsp 500 message refused by policy/);
    assert.equal((dl[0]!.event as { exec_id: string }).exec_id, events[3]!.exec_id);
  } finally {
    await peer.close();
    cleanup();
  }
});

test('syslog relp: a refused open and a peer that does not speak RELP are errors that say so', async () => {
  const logger = createLogger({ level: 'ERROR', write: () => undefined });
  const refusing = await scriptedPeer('500 required command not supported by client', () => '200 OK');
  const garbage = await scriptedPeer(OK_OPEN, () => 'garbage');
  const noSyslog = await scriptedPeer('200 OK\nrelp_version=0\ncommands=', () => '200 OK');
  try {
    const send = async (port: number): Promise<string> => {
      const t = createRelpTransport(parseSyslogConfig({ transport: 'relp', host: '127.0.0.1', port }), {
        logger,
        counters: {},
      });
      const r = await t.send(batchOf(generateEvents(2), formatJson), new AbortController().signal);
      await t.close();
      assert.equal(r.kind, 'retryable');
      return r.kind === 'retryable' ? r.reason : '';
    };
    assert.match(await send(refusing.port), /refused the RELP session: rsp 500 required command not supported/);
    assert.match(await send(garbage.port), /malformed RELP frame/);
    assert.match(await send(noSyslog.port), /does not accept the syslog command/);
  } finally {
    await refusing.close();
    await garbage.close();
    await noSyslog.close();
  }
});

test('syslog relp: never more than `window` commands unanswered', async () => {
  let unanswered = 0;
  let maxUnanswered = 0;
  const pending: (() => void)[] = [];
  const peer = await scriptedPeer(OK_OPEN, () => 'silence');
  // Answer late, from a timer, so the client hits its window.
  const server = net.createServer((socket) => {
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const { frames, consumed } = parseRelpFrames(buf);
      buf = buf.subarray(consumed);
      for (const f of frames) {
        const reply = (data: string): void =>
          void socket.write(`${f.txnr} rsp ${Buffer.byteLength(data)}${data === '' ? '' : ' ' + data}\n`);
        if (f.command === 'open') reply(OK_OPEN);
        else if (f.command === 'close') reply('');
        else {
          unanswered++;
          maxUnanswered = Math.max(maxUnanswered, unanswered);
          pending.push(() => {
            unanswered--;
            reply('200 OK');
          });
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const timer = setInterval(() => pending.splice(0, 3).forEach((f) => f()), 2);
  try {
    const t = createRelpTransport(
      parseSyslogConfig({
        transport: 'relp',
        host: '127.0.0.1',
        port: (server.address() as net.AddressInfo).port,
        relp: { window: 7 },
      }),
      { logger: createLogger({ level: 'ERROR', write: () => undefined }), counters: {} },
    );
    const r = await t.send(batchOf(generateEvents(100), formatJson), new AbortController().signal);
    assert.equal(r.kind, 'delivered');
    assert.equal(maxUnanswered, 7);
    await t.close();
  } finally {
    clearInterval(timer);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await peer.close();
  }
});
