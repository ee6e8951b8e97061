/**
 * rules/rsyslog/: every configuration is started in a real rsyslog (Debian package) and shown to parse aegisbpf
 * output with all fields — the receivers on every input they define, the forwarders end to end into a receiver.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { AegisEvent } from '../../src/event/types';
import { formatJson } from '../../src/formatters/json';
import { goldenCases } from '../formatters/golden';
import { expectedSd, jsonRoundTrip } from '../formatters/syslog-expect';
import { createFormatter } from '../../src/formatters/registry';
import { makeTestPki } from '../helpers/certs';
import { generateEvents } from '../helpers/events';
import { RSYSLOGD, startRsyslog, waitForLines } from '../helpers/rsyslog';
import {
  receiverSkipReason,
  RSYSLOG_RULES_DIR,
  rulesConfig,
  startReceiver,
  withReceiver,
} from '../helpers/syslog-receiver';
import type { ReceiverVariant } from '../helpers/syslog-receiver';
import { buildSyslogSink, checkReceived, wellFormedDeep } from '../sinks/syslog/harness';

const RECEIVERS: Readonly<Record<ReceiverVariant, readonly ('udp' | 'tcp' | 'tls' | 'relp')[]>> = {
  'aegisbpf-receiver.conf': ['udp', 'tcp', 'tls', 'relp'],
  'aegisbpf-receiver-gtls.conf': ['tls', 'relp'],
};
const FORWARDERS = ['aegisbpf-forwarder-tls.conf', 'aegisbpf-forwarder-relp.conf'] as const;

test('rules/rsyslog: every file is covered by this test, and rsyslogd -N1 accepts each one', (t) => {
  const files = fs
    .readdirSync(RSYSLOG_RULES_DIR)
    .filter((f) => f.endsWith('.conf'))
    .sort();
  assert.deepEqual(
    files,
    [...Object.keys(RECEIVERS), ...FORWARDERS].sort(),
    'a new file in rules/rsyslog/ needs a test here',
  );
  const skip = receiverSkipReason();
  if (skip !== undefined) {
    t.skip(skip);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-rules-'));
  try {
    const pki = makeTestPki(path.join(dir, 'tls'));
    for (const f of files) {
      const conf = path.join(dir, f);
      fs.writeFileSync(conf, rulesConfig(f, { dir, ports: { udp: 10514, tcp: 10515, tls: 10516, relp: 10517 }, pki }));
      const r = spawnSync(RSYSLOGD!, ['-N1', '-f', conf], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${f}:\n${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stdout + r.stderr, /error|warning/i, `${f} validates without warnings`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('rules/rsyslog: both receivers parse with the same ruleset (no drift between the copies)', () => {
  const ruleset = (f: string): string => {
    const text = fs
      .readFileSync(path.join(RSYSLOG_RULES_DIR, f), 'utf8')
      .split('\n')
      .filter((l) => !l.trim().startsWith('#'))
      .join('\n');
    const start = text.indexOf('ruleset(name="aegisbpf"');
    return text.slice(start, text.indexOf('\n}', start) + 2).replace(/\s+/g, ' ');
  };
  assert.equal(ruleset('aegisbpf-receiver-gtls.conf'), ruleset('aegisbpf-receiver.conf'));
});

for (const [variant, transports] of Object.entries(RECEIVERS) as [
  ReceiverVariant,
  readonly ('udp' | 'tcp' | 'tls' | 'relp')[],
][]) {
  test(
    `rules/rsyslog/${variant}: every event type and edge case, on every input (${transports.join(', ')}), parsed with every header field, SD param and JSON field`,
    { timeout: 120_000 },
    async (t) => {
      const skip = receiverSkipReason(variant);
      if (skip !== undefined) {
        t.skip(skip);
        return;
      }
      const r = await startReceiver(variant);
      try {
        const sent: AegisEvent[] = [];
        for (const transport of transports) {
          const events: AegisEvent[] = goldenCases().map(({ name, event }) => ({
            ...event,
            event_id: `${transport}-${name}`,
          }));
          // The longest path the event schema allows, non-ASCII: its SD copy is cut at 16 KiB (mmpstrucdata's buffer is
          // 32 KiB), the JSON keeps it whole. (Over UDP it would not fit a datagram.)
          if (transport !== 'udp')
            events.push({
              ...goldenCases().find((c) => c.event.type === 'block')!.event, // a block case: the first in name order is an audit event
              type: 'block',
              ino: 1,
              dev: 1,
              action: 'AUDIT',
              path: '/' + 'ü☃😀'.repeat(4096),
              event_id: `${transport}-huge-path`,
            });
          // UDP: allow the 4 KiB-path case through whole (loopback carries 64 KiB datagrams; truncation has its own test).
          const s = buildSyslogSink(
            r.sinkConfig(transport, {
              format: { type: 'rfc5424', sd_fields: 'summary' },
              ...(transport === 'udp' ? { max_message_bytes: 65_000 } : {}),
            }),
            r.dir,
          );
          await s.sink.accept(events);
          await s.sink.close(10_000);
          assert.equal(s.stats.delivered, events.length, transport);
          sent.push(...events);
        }
        await waitForLines(r.eventsFile, sent.length, 'every event on every input');
        const check = checkReceived(r.lines(), sent);
        assert.deepEqual([check.missing, check.extra, check.duplicates], [[], [], 0]);
        for (const line of r.lines())
          assert.equal((line.syslog as Record<string, unknown>).unparsed_msg, undefined, 'every MSG parsed as JSON');
      } finally {
        await r.cleanup();
      }
    },
  );
}

test(
  'rules/rsyslog/aegisbpf-receiver.conf with msg: cef: SD params parsed, the CEF line kept whole as event.msg',
  { timeout: 60_000 },
  async (t) => {
    await withReceiver(t, async (r) => {
      const events = goldenCases().map(({ name, event }): AegisEvent => ({ ...event, event_id: `cef-${name}` }));
      const s = buildSyslogSink(r.sinkConfig('tcp', { format: { type: 'rfc5424', msg: 'cef' } }), r.dir);
      await s.sink.accept(events);
      await s.sink.close(10_000);
      await waitForLines(r.eventsFile, events.length, 'every CEF event');
      const cef = createFormatter({ type: 'cef' }, { hostname: 'test-fallback', version: '0.1.0' });
      const lines = r.lines();
      assert.equal(lines.length, events.length);
      const byExecAndPath = new Map(events.map((e) => [cef.format(e), e]));
      for (const line of lines) {
        const msg = (line.event as { msg?: string }).msg!;
        const e = byExecAndPath.get(msg);
        assert.ok(e !== undefined, `the CEF line arrived unchanged: ${msg.slice(0, 120)}`);
        assert.deepEqual((line['rfc5424-sd'] as Record<string, unknown>)['aegis@32473'], expectedSd(e));
      }
    });
  },
);

for (const forwarder of FORWARDERS) {
  test(
    `rules/rsyslog/${forwarder}: an agent-host rsyslog forwards aegisbpf's event log to the receiver; every JSON field arrives`,
    { timeout: 120_000 },
    async (t) => {
      const skip =
        receiverSkipReason() ??
        (fs.existsSync('/usr/lib/x86_64-linux-gnu/rsyslog/imfile.so') ? undefined : 'rsyslog imfile is missing');
      if (skip !== undefined) {
        t.skip(skip);
        return;
      }
      const receiver = await startReceiver();
      const fwdDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-rsyslog-fwd-'));
      const input = path.join(fwdDir, 'events.ndjson');
      // The event log as `aegisbpf run --log=file` writes it. (rsyslog's json-c cuts strings at an escaped NUL, which
      // kernel data never contains; the syslog formats send U+FFFD instead. Such events are left out here.)
      const events = [...goldenCases().map((c) => c.event), ...generateEvents(300, { adversarial: true, seed: 3 })]
        .map((e, i): AegisEvent => ({ ...e, event_id: `fwd-${i}` }))
        .filter((e) => !formatJson(e).includes('\\u0000'));
      fs.writeFileSync(input, events.map((e) => formatJson(e) + '\n').join(''));
      const fwd = await startRsyslog({
        dir: fwdDir,
        ports: {},
        config: () => rulesConfig(forwarder, { dir: fwdDir, ports: receiver.ports, pki: receiver.pki }),
      });
      try {
        await waitForLines(receiver.eventsFile, events.length, 'the forwarded events at the receiver', 60_000);
        const lines = receiver.lines();
        const byId = new Map(lines.map((l) => [(l.event as { event_id?: string } | undefined)?.event_id, l]));
        assert.equal(lines.length, events.length, 'none lost, none extra');
        for (const e of events) {
          const line = byId.get(e.event_id);
          assert.ok(line !== undefined, `event ${e.event_id} arrived`);
          assert.deepEqual(line.event, wellFormedDeep(jsonRoundTrip(e)), `event ${e.event_id}: every JSON field`);
          assert.equal((line.syslog as Record<string, unknown>).app_name, 'aegisbpf');
          assert.equal((line.syslog as Record<string, unknown>).unparsed_msg, undefined);
        }
      } catch (err) {
        t.diagnostic(
          `forwarder output:\n${fwd.output().slice(-2000)}\nreceiver output:\n${receiver.rsyslog.output().slice(-2000)}`,
        );
        throw err;
      } finally {
        await fwd.cleanup();
        await receiver.cleanup();
        fs.rmSync(fwdDir, { recursive: true, force: true });
      }
    },
  );
}
