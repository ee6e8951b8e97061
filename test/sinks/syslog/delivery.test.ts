/**
 * Issue 5: for each transport, 10 000 events with adversarial field values go through the whole sink (core +
 * transport) into a real rsyslog running the shipped receiver configuration; after rsyslog parsed them
 * (mmpstrucdata, mmjsonparse) every header field, SD param and JSON field equals what was sent; none lost, none extra.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { receiverSkipReason, startReceiver } from '../../helpers/syslog-receiver';
import type { ReceiverVariant } from '../../helpers/syslog-receiver';
import { waitForLines } from '../../helpers/rsyslog';
import { adversarialEvents, buildSyslogSink, checkReceived, feed } from './harness';

const COUNT = 10_000;

const CASES: readonly {
  name: string;
  variant: ReceiverVariant;
  transport: 'udp' | 'tcp' | 'tls' | 'relp';
  extra?: Record<string, unknown>;
  pauseMillis?: number;
}[] = [
  // UDP has no backpressure: pace the chunks so rsyslog's receive buffer is not the subject of this test.
  { name: 'udp', variant: 'aegisbpf-receiver.conf', transport: 'udp', pauseMillis: 15 },
  { name: 'tcp (octet counting)', variant: 'aegisbpf-receiver.conf', transport: 'tcp' },
  { name: 'tls (OpenSSL receiver, mutual TLS)', variant: 'aegisbpf-receiver.conf', transport: 'tls' },
  { name: 'relp', variant: 'aegisbpf-receiver.conf', transport: 'relp' },
  { name: 'tls (GnuTLS receiver)', variant: 'aegisbpf-receiver-gtls.conf', transport: 'tls' },
  { name: 'relp over TLS (GnuTLS receiver)', variant: 'aegisbpf-receiver-gtls.conf', transport: 'relp' },
];

for (const c of CASES) {
  test(
    `syslog ${c.name}: ${COUNT} adversarial events arrive and every header field, SD param and JSON field equals what was sent`,
    { timeout: 180_000 },
    async (t) => {
      const skip = receiverSkipReason(c.variant);
      if (skip !== undefined) {
        t.skip(skip);
        return;
      }
      const receiver = await startReceiver(c.variant);
      try {
        const events = adversarialEvents(COUNT, c.name.replace(/\W+/g, '_'));
        const s = buildSyslogSink(
          receiver.sinkConfig(c.transport, { batch: { max_events: 500 }, ...c.extra }),
          receiver.dir,
        );
        await feed(s.sink, events, 500, c.pauseMillis ?? 0);
        const report = await s.sink.close(60_000);
        assert.equal(report.undelivered, 0, 'nothing left undelivered at close');
        assert.equal(s.stats.delivered, COUNT);
        assert.equal(s.stats.deadLettered, 0);
        await waitForLines(receiver.eventsFile, COUNT, `${COUNT} events in rsyslog's output`, 120_000);
        const result = checkReceived(receiver.lines(), events);
        assert.deepEqual(result.missing.slice(0, 10), [], `${result.missing.length} events lost`);
        assert.deepEqual(result.extra.slice(0, 5), [], 'lines that were never sent');
        assert.equal(result.duplicates, 0, 'no event arrived twice');
        assert.equal(result.unique, COUNT);
        assert.equal(s.counters.truncated_total ?? 0, 0, 'nothing truncated');
        t.diagnostic(
          `${c.name}: ${COUNT} sent, ${result.unique} received and equal field by field; transport counters ${JSON.stringify(s.counters)}`,
        );
      } catch (err) {
        t.diagnostic(`rsyslogd output:\n${receiver.rsyslog.output().slice(-3000)}`);
        throw err;
      } finally {
        await receiver.cleanup();
      }
    },
  );
}
