/**
 * End to end: 50 000 generated events (every type, adversarial strings) replayed by the real binary into the real
 * HEC test receiver through `/services/collector/event`, gzip, indexer acknowledgement. Every event arrives exactly
 * once with its fields intact, acks were polled, and the run summary shows delivered = 50 000.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../src/event/types';
import { eventClassId, severityOf } from '../../src/formatters/common';
import { formatJson } from '../../src/formatters/json';
import { parseLogs, spawnCli, waitExit } from '../helpers/cli';
import { makeEventFactory } from '../helpers/events';
import { readHecRecords, startHecReceiver } from '../helpers/services';
import { makeTempDir } from '../helpers/tmp';

/** As a UTF-8 receiver holds it: lone surrogates become U+FFFD (see hec-receiver.test.ts). */
const plain = (v: unknown): unknown =>
  JSON.parse(JSON.stringify(v), (_k, x: unknown) =>
    typeof x === 'string'
      ? x.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
      : x,
  );

test('50 000 events through /services/collector/event with acks: all arrive exactly once, fields intact; acks polled; delivered = 50 000', async (t) => {
  const receiver = await startHecReceiver();
  if (!receiver.ok) return t.skip(receiver.reason);
  const { dir, cleanup } = makeTempDir();
  try {
    const total = 50_000;
    const input = path.join(dir, 'in.ndjson');
    const make = makeEventFactory({ adversarial: true, seed: 11 });
    const events: AegisEvent[] = [];
    const fd = fs.openSync(input, 'w');
    for (let i = 0; i < total; i++) {
      const e = make(i);
      events.push(e);
      fs.writeSync(fd, formatJson(e) + '\n');
    }
    fs.closeSync(fd);
    const cfg = path.join(dir, 'c.yml');
    fs.writeFileSync(
      cfg,
      [
        `data_dir: ${dir}`,
        `sources: { r: { type: replay, path: ${input} } }`,
        'sinks:',
        '  splunk:',
        '    type: splunk_hec',
        `    endpoint: ${receiver.url}`,
        '    token: ${SPLUNK_HEC_TOKEN}',
        '    acknowledgements: { poll_interval_ms: 100 }',
      ].join('\n'),
    );
    const token = receiver.tokens[0]!;
    const r = await waitExit(spawnCli(['run', '--config', cfg], { SPLUNK_HEC_TOKEN: token }));
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.ok(!r.stderr.includes(token), 'the token is in no log line');
    const summary = parseLogs(r.stderr).find((l) => l.msg === 'aegisbpf stopped.');
    assert.ok(summary !== undefined);
    const s = (summary.sinks as Record<string, Record<string, unknown>>).splunk!;
    assert.equal(s.received, total);
    assert.equal(s.delivered, total);
    assert.equal(s.dead_lettered, 0);
    assert.equal(s.duplicates, 0);
    const extra = s.extra as Record<string, number>;
    assert.ok(extra.acks_received_total! > 0 && extra.ack_polls_total! > 0, `acks polled: ${JSON.stringify(extra)}`);
    assert.equal(extra.acks_pending, 0);
    assert.equal(extra.ack_fallback, 0);
    assert.equal(extra.ack_timeouts_total, 0);

    const records = await readHecRecords(receiver.outputFile);
    assert.equal(records.length, total, 'exactly 50 000 records');
    const byId = new Map<string, number>();
    records.forEach((rec, i) => byId.set((rec.body as unknown as AegisEvent).exec_id, i));
    assert.equal(byId.size, total, 'no duplicates');
    for (const e of events) {
      const i = byId.get(e.exec_id);
      if (i === undefined) assert.fail(`event ${e.exec_id} missing`);
      const rec = records[i]!;
      assert.deepEqual(rec.body, plain(e));
      assert.equal(rec.resource['host.name'], e.host);
      assert.equal(rec.resource['com.splunk.sourcetype'], 'aegisbpf');
      assert.deepEqual(rec.attributes, { event_class: eventClassId(e), vendor_severity: severityOf(e) });
    }
    t.diagnostic(
      `50 000 events: ${String(extra.acks_received_total)} acknowledged requests, ${String(extra.ack_polls_total)} ack polls`,
    );
  } finally {
    cleanup();
    await receiver.stop();
  }
});
