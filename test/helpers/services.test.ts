/**
 * Smoke tests of the real test services: each starts the service, does one real round trip, and stops it.
 * Skips (with the provisioning error as the reason) when a service cannot be provisioned here, unless
 * AEGIS_REQUIRE_SERVICES=1.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { test } from 'node:test';
import { parseHecOutput, readHecRecords, startElasticsearch, startHecReceiver } from './services';

async function json(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`HTTP ${res.status}: not JSON: ${text.slice(0, 300)}`);
  }
}

function field(obj: unknown, key: string): unknown {
  return typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[key] : undefined;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

void test('Elasticsearch: index a document and _count it', { timeout: 35 * 60_000 }, async (t) => {
  const es = await startElasticsearch();
  if (!es.ok) {
    t.skip(es.reason);
    return;
  }
  try {
    t.diagnostic(`Elasticsearch ${es.version} at ${es.url}, ready in ${es.startupMs} ms`);
    const put = await fetch(`${es.url}/aegis-smoke/_doc/1?refresh=wait_for`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ '@timestamp': new Date().toISOString(), message: 'hello from aegisbpf' }),
    });
    const putBody = await json(put);
    assert.equal(put.status, 201, JSON.stringify(putBody));
    assert.equal(field(putBody, 'result'), 'created');

    const count = await fetch(`${es.url}/aegis-smoke/_count`);
    const countBody = await json(count);
    assert.equal(count.status, 200, JSON.stringify(countBody));
    assert.equal(field(countBody, 'count'), 1);
  } finally {
    await es.stop();
  }
  assert.equal(fs.existsSync(es.workDir), false, 'stop() removes the work dir');
});

void test(
  'HEC receiver: send an event on a channel, poll its ack, read it back',
  { timeout: 35 * 60_000 },
  async (t) => {
    const hec = await startHecReceiver();
    if (!hec.ok) {
      t.skip(hec.reason);
      return;
    }
    try {
      t.diagnostic(`HEC receiver at ${hec.url}, ready in ${hec.startupMs} ms`);
      const token = hec.tokens[0];
      assert.ok(token !== undefined);
      const channel = randomUUID();
      const marker = `smoke-${randomUUID()}`;
      const headers = { authorization: `Splunk ${token}`, 'x-splunk-request-channel': channel };
      const envelope = {
        time: 1718000000.5,
        host: 'sensor-01',
        source: 'aegisbpf',
        sourcetype: 'aegisbpf:event',
        index: 'edr',
        event: { marker, action: 'process_start' },
        fields: { tenant: 't1' },
      };
      const sent = await fetch(`${hec.url}/services/collector/event`, {
        method: 'POST',
        headers,
        body: JSON.stringify(envelope),
      });
      const sentBody = await json(sent);
      assert.equal(sent.status, 200, JSON.stringify(sentBody));
      assert.equal(field(sentBody, 'code'), 0);
      const ackId = field(sentBody, 'ackId');
      assert.equal(typeof ackId, 'number', `ackId in ${JSON.stringify(sentBody)}`);

      await waitFor('ack to turn true', 10_000, async () => {
        const res = await fetch(`${hec.url}/services/collector/ack`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ acks: [ackId] }),
        });
        const body = await json(res);
        assert.equal(res.status, 200, JSON.stringify(body));
        return field(field(body, 'acks'), String(ackId)) === true ? true : undefined;
      });

      const record = await waitFor('the event in the output file', 10_000, async () => {
        const records = await readHecRecords(hec.outputFile);
        return records.find((r) => field(r.body, 'marker') === marker);
      });
      assert.deepEqual(record.body, { marker, action: 'process_start' });
      assert.equal(record.timeUnixNano, '1718000000500000000');
      assert.deepEqual(record.attributes, { tenant: 't1' });
      assert.deepEqual(record.resource, {
        'host.name': 'sensor-01',
        'com.splunk.source': 'aegisbpf',
        'com.splunk.sourcetype': 'aegisbpf:event',
        'com.splunk.index': 'edr',
      });
    } finally {
      await hec.stop();
    }
    assert.equal(fs.existsSync(hec.workDir), false, 'stop() removes the work dir');
  },
);

void test('parseHecOutput decodes OTLP/JSON values', () => {
  const line = JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'host.name', value: { stringValue: 'h' } }] },
        scopeLogs: [
          {
            scope: {},
            logRecords: [
              {
                timeUnixNano: '1',
                body: {
                  kvlistValue: {
                    values: [
                      { key: 'n', value: { doubleValue: 5 } },
                      { key: 'i', value: { intValue: '7' } },
                      { key: 'a', value: { arrayValue: { values: [{ boolValue: true }, { stringValue: 'x' }] } } },
                    ],
                  },
                },
              },
              { body: { stringValue: 'raw line' } },
            ],
          },
        ],
      },
    ],
  });
  const records = parseHecOutput(`${line}\n`);
  assert.equal(records.length, 2);
  assert.deepEqual(records[0]?.body, { n: 5, i: 7, a: [true, 'x'] });
  assert.equal(records[0]?.timeUnixNano, '1');
  assert.deepEqual(records[0]?.resource, { 'host.name': 'h' });
  assert.deepEqual(records[1]?.body, 'raw line');
  assert.equal(records[1]?.timeUnixNano, undefined);
  assert.deepEqual(records[1]?.attributes, {});
});
