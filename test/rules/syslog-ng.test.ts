/**
 * rules/syslog-ng/: every configuration is started in a real syslog-ng (the Debian 12 package, unpacked by
 * scripts/setup-syslog-ng.sh) and shown to parse aegisbpf output with all fields, on each of its sources:
 * syslog() over TLS (mutual) and TCP with octet counting, and network() with LF framing (the documented caveat).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AegisEvent } from '../../src/event/types';
import { eventClassId, syslogSeverity } from '../../src/formatters/common';
import { packagePath } from '../../src/util/paths';
import { goldenCases } from '../formatters/golden';
import { expectedHeader, expectedSd, jsonRoundTrip } from '../formatters/syslog-expect';
import { makeTestPki, opensslSkipReason } from '../helpers/certs';
import type { TestPki } from '../helpers/certs';
import { readJsonLines, waitForLines } from '../helpers/rsyslog';
import { checkSyslogNgConfig, startSyslogNg, syslogNgSkipReason, syslogNgVersion } from '../helpers/syslog-ng';
import { adversarialEvents, buildSyslogSink } from '../sinks/syslog/harness';

const RULES = packagePath('rules', 'syslog-ng');
const FILES = ['aegisbpf-receiver.conf'] as const;

/** rules/syslog-ng/<file> for a test instance: paths, certificates and ports rewritten; every rewrite must match. */
function testConfig(file: string, dir: string, pki: TestPki, ports: Readonly<Record<string, number>>): string {
  let text = fs.readFileSync(path.join(RULES, file), 'utf8');
  const rewrite = (from: string, to: string): void => {
    if (!text.includes(from)) throw new Error(`${file}: expected ${from}`);
    text = text.split(from).join(to);
  };
  rewrite('/var/log/aegisbpf/', `${dir}/`);
  rewrite('/etc/syslog-ng/tls/server-key.pem', pki.serverKey);
  rewrite('/etc/syslog-ng/tls/server-cert.pem', pki.serverCert);
  rewrite('/etc/syslog-ng/tls/ca.pem', pki.caCert);
  rewrite('port(6514)', `port(${ports.tls ?? 0})`);
  rewrite('port(514)', `port(${ports.tcp ?? 0})`);
  rewrite('port(1514)', `port(${ports.lf ?? 0})`);
  rewrite('ip("0.0.0.0")', 'ip("127.0.0.1")');
  return text;
}

function skipReason(): string | undefined {
  return syslogNgSkipReason() ?? opensslSkipReason();
}

test('rules/syslog-ng: every file is covered by this test and passes syslog-ng --syntax-only', (t) => {
  assert.deepEqual(
    fs
      .readdirSync(RULES)
      .filter((f) => f.endsWith('.conf'))
      .sort(),
    [...FILES],
  );
  const skip = skipReason();
  if (skip !== undefined) {
    t.skip(skip);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-sng-'));
  try {
    const pki = makeTestPki(path.join(dir, 'tls'));
    for (const f of FILES) {
      const conf = path.join(dir, f);
      fs.writeFileSync(conf, testConfig(f, dir, pki, { tls: 10600, tcp: 10601, lf: 10602 }));
      assert.doesNotMatch(checkSyslogNgConfig(conf), /error/i);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'rules/syslog-ng/aegisbpf-receiver.conf: every event type and edge case plus adversarial events, on syslog() TLS, syslog() TCP and network() LF, parsed with every header field, SD param and JSON field',
  { timeout: 120_000 },
  async (t) => {
    const skip = skipReason();
    if (skip !== undefined) {
      t.skip(skip);
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-sng-'));
    const pki = makeTestPki(path.join(dir, 'tls'));
    const sng = await startSyslogNg({
      dir,
      ports: { tls: 'tcp', tcp: 'tcp', lf: 'tcp' },
      config: (ports) => testConfig('aegisbpf-receiver.conf', dir, pki, ports),
    });
    try {
      t.diagnostic(`syslog-ng ${syslogNgVersion()}`);
      const inputs = [
        {
          name: 'tls',
          raw: {
            transport: 'tls',
            port: sng.ports.tls,
            tls: { ca_file: pki.caCert, cert_file: pki.clientCert, key_file: pki.clientKey },
          },
        },
        { name: 'tcp', raw: { transport: 'tcp', port: sng.ports.tcp } },
        { name: 'lf', raw: { transport: 'tcp', port: sng.ports.lf, framing: 'lf' } },
      ] as const;
      const sent = new Map<string, { event: AegisEvent; input: string }>();
      for (const input of inputs) {
        const events = [
          ...goldenCases().map(({ name, event }): AegisEvent => ({ ...event, event_id: `${input.name}-${name}` })),
          ...adversarialEvents(500, `${input.name}-adv`),
        ];
        const s = buildSyslogSink({ type: 'syslog', host: '127.0.0.1', ...input.raw }, dir);
        await s.sink.accept(events);
        await s.sink.close(10_000);
        assert.equal(s.stats.delivered, events.length);
        for (const e of events) sent.set(e.event_id!, { event: e, input: input.name });
      }
      const file = path.join(dir, 'events.json');
      await waitForLines(file, sent.size, 'every event at syslog-ng');
      const lines = readJsonLines(file);
      assert.equal(lines.length, sent.size, 'none lost, none extra');
      assert.ok(!fs.existsSync(path.join(dir, 'unparsed.log')), 'every MSG parsed as JSON');
      const seen = new Set<string>();
      for (const line of lines) {
        const ev = line.event as { event_id: string };
        const entry = sent.get(ev.event_id);
        assert.ok(entry !== undefined, `unknown event ${ev.event_id}`);
        assert.ok(!seen.has(ev.event_id), `${ev.event_id} twice`);
        seen.add(ev.event_id);
        const { event: e, input } = entry;
        const h = line.syslog as Record<string, unknown>;
        const where = `${ev.event_id} via ${input}`;
        assert.equal(h.facility, 16, where);
        assert.equal(h.severity, syslogSeverity(e), where);
        assert.equal(Date.parse(String(h.timestamp)), Date.parse(e.ts), `${where}: timestamp`);
        assert.equal(String(h.timestamp).slice(19, 26), e.ts.slice(19, 26), `${where}: microseconds`);
        // A host named "-" is HOSTNAME NILVALUE on the wire; syslog-ng then records the sender's address instead.
        assert.equal(h.hostname, expectedHeader(e.host, 255) ?? '127.0.0.1', `${where}: hostname`);
        assert.equal(h.app_name, 'aegisbpf', where);
        assert.equal(h.procid, String(e.pid), where);
        assert.equal(h.msgid, expectedHeader(eventClassId(e), 32), where);
        const sd = (line.sd as Record<string, unknown>)['aegis@32473'];
        // Also through network() with LF framing: aegisbpf's messages never contain a raw newline.
        assert.deepEqual(sd, expectedSd(e), `${where}: SD params`);
        assert.deepEqual(line.event, jsonRoundTrip(e), `${where}: JSON fields, exactly`);
      }
    } catch (err) {
      t.diagnostic(`syslog-ng output:\n${sng.output().slice(-3000)}`);
      throw err;
    } finally {
      await sng.stop();
      if (process.env.AEGIS_KEEP_TEST_DIRS !== '1') fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
