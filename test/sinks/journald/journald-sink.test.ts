/**
 * The journald sink against a real systemd-journald (its own journal namespace, test/helpers/journald.ts), read back
 * with `journalctl -o json`: the transport contract, the journal fields, the memfd path for a large entry, and
 * `aegisbpf run --log=journald`. Skips with the reason where journald cannot run (not root, no systemd package).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AegisEvent } from '../../../src/event/types';
import { loadNative, nativeStatus } from '../../../src/native/binding';
import { parseJournaldConfig } from '../../../src/sinks/journald/config';
import { journalFieldName } from '../../../src/sinks/journald/entry';
import { createJournaldTransport } from '../../../src/sinks/journald/transport';
import { syslogSeverity } from '../../../src/formatters/common';
import { formatJson } from '../../../src/formatters/json';
import { spawnCli } from '../../helpers/cli';
import { until } from '../../helpers/daemon';
import { generateEvents } from '../../helpers/events';
import type { JournaldService } from '../../helpers/journald';
import { startJournald } from '../../helpers/journald';
import { batchOf, runTransportContract } from '../transport-contract';

let journal: JournaldService | undefined;
let skipReason = '';
let seq = 0;

before(async () => {
  const native = nativeStatus();
  if (!native.available) {
    skipReason = `the journald sink needs the native addon: ${native.reason}`;
    return;
  }
  const started = await startJournald();
  if (started.ok) journal = started;
  else skipReason = started.reason;
});

after(async () => {
  await journal?.stop();
});

/** journalctl prints a field that is not valid UTF-8 text as an array of bytes; this test's values are text. */
function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return Buffer.from(value as number[]).toString('utf8');
  throw new Error(`unexpected journal field value ${JSON.stringify(value)}`);
}

function subjectTransport(identifier: string) {
  const config = parseJournaldConfig({ socket_path: journal!.socketPath, identifier });
  const stats: Record<string, number> = {};
  return { transport: createJournaldTransport(config, loadNative(), stats), stats };
}

runTransportContract({
  name: 'journald',
  create: () => {
    if (journal === undefined) return Promise.resolve({ skip: skipReason });
    const j = journal;
    const identifier = `aegiscontract${++seq}`;
    const { transport } = subjectTransport(identifier);
    return Promise.resolve({
      transport,
      received: async () => (await j.read(identifier)).map((e) => JSON.parse(text(e.MESSAGE)) as AegisEvent),
      breakReceiver: () => j.pause(),
      restoreReceiver: () => j.resume(),
      cleanup: () => Promise.resolve(),
    });
  },
  // journald stores UTF-8; JSON escapes every character that is not (MESSAGE is json), so nothing changes.
});

void test('journald entries: MESSAGE is the formatted event, PRIORITY from severity, fields as AEGIS_*', async (t) => {
  if (journal === undefined) return t.skip(skipReason);
  const identifier = `aegisfields${++seq}`;
  const { transport } = subjectTransport(identifier);
  const [exec] = generateEvents(1);
  const block: AegisEvent = {
    ...exec!,
    type: 'block',
    action: 'BLOCK',
    ino: 1234567,
    dev: 2049,
    path: '/tmp/evil\nsecond line',
    policy: 'deny-tmp',
  };
  const r = await transport.send(batchOf([exec!, block]), new AbortController().signal);
  assert.deepEqual(r, { kind: 'delivered' });
  const entries = await journal.read(identifier);
  assert.equal(entries.length, 2);
  const [e0, e1] = entries as [Record<string, unknown>, Record<string, unknown>];
  assert.equal(text(e0.MESSAGE), formatJson(exec!));
  assert.equal(e0.SYSLOG_IDENTIFIER, identifier);
  assert.equal(e0.AEGIS_TYPE, exec!.type);
  assert.equal(e0.AEGIS_PID, String(exec!.pid));
  assert.equal(e0.AEGIS_EXEC_ID, exec!.exec_id);
  assert.equal(e0.PRIORITY, String(syslogSeverity(exec!)));
  assert.equal(e1.AEGIS_TYPE, 'block');
  assert.equal(e1.AEGIS_ACTION, 'BLOCK');
  assert.equal(e1.AEGIS_INODE, '2049:1234567', 'the guide\'s "dev:ino"');
  assert.equal(text(e1.AEGIS_PATH), '/tmp/evil\nsecond line', 'a value with a newline is sent binary-safe');
  assert.equal(e1.PRIORITY, String(syslogSeverity(block)));
  assert.ok(Number(e1.PRIORITY) < Number(e0.PRIORITY), 'a BLOCK ranks above an exec');
  assert.equal(e1._TRANSPORT, 'journal', 'native protocol, not syslog or stdout');
});

void test('journald field names follow journald rules', () => {
  assert.equal(journalFieldName('remote_ip'), 'AEGIS_REMOTE_IP');
  assert.equal(journalFieldName('weird-key.ä'), 'AEGIS_WEIRD_KEY__');
  assert.equal(journalFieldName('x'.repeat(100)).length, 64);
  assert.match(journalFieldName('cgroup_path'), /^[A-Z][A-Z0-9_]*$/);
});

void test('a large entry goes through a sealed memfd (SCM_RIGHTS) and arrives whole', async (t) => {
  if (journal === undefined) return t.skip(skipReason);
  const identifier = `aegislarge${++seq}`;
  const { transport, stats } = subjectTransport(identifier);
  const [base] = generateEvents(1);
  // 600 KiB of arguments: more than one datagram can carry (the socket send buffer, about 208 KiB by default).
  const big = { ...base!, args: Array.from({ length: 600 }, (_, i) => `${i}:${'a'.repeat(1020)}`) } as AegisEvent;
  const r = await transport.send(batchOf([big]), new AbortController().signal);
  assert.deepEqual(r, { kind: 'delivered' });
  assert.equal(stats.memfds_total, 1);
  assert.equal(stats.datagrams_total, 0);
  const [entry] = await journal.read(identifier);
  assert.ok(entry !== undefined, 'the large entry is in the journal');
  assert.deepEqual(JSON.parse(text(entry.MESSAGE)), JSON.parse(formatJson(big)));
});

void test('aegisbpf run --log=journald writes events to the journal', async (t) => {
  if (journal === undefined) return t.skip(skipReason);
  const j = journal;
  const child = spawnCli(['run', '--log=journald', '--metrics-port=off'], { AEGIS_JOURNAL_SOCKET: j.socketPath });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const entries = await until(
      `an event in the journal (daemon stderr: ${stderr.slice(-300)})`,
      async () => {
        const got = (await j.read('aegisbpf')).filter((e) => typeof e.AEGIS_TYPE === 'string');
        return got.length > 0 ? got : undefined;
      },
      30_000,
    );
    const first = entries[0]!;
    const parsed = JSON.parse(text(first.MESSAGE)) as AegisEvent;
    assert.equal(first.AEGIS_TYPE, parsed.type);
    assert.equal(first.AEGIS_PID, String(parsed.pid));
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
  }
});
