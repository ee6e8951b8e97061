/** kafka sink configuration and failure classification: pure checks, no broker. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigDocument } from '../../../src/config/load';
import { checkKafkaConfig, parseKafkaConfig, topicFor } from '../../../src/sinks/kafka/config';
import { classifyKafkaError } from '../../../src/sinks/kafka/retry-policy';

test('kafka config: defaults are idempotent, acks all, the default topic, no compression', () => {
  const c = parseKafkaConfig({ brokers: ['127.0.0.1:9092', '[::1]:9093'] });
  assert.deepEqual(c.brokers, [
    { host: '127.0.0.1', port: 9092 },
    { host: '::1', port: 9093 },
  ]);
  assert.equal(c.topic, 'aegisbpf.events');
  assert.equal(c.acks, 'all');
  assert.equal(c.idempotent, true);
  assert.equal(c.compression, 'none');
  assert.equal(c.key, undefined);
  assert.equal(parseKafkaConfig({ brokers: ['h:1'], acks: 'leader' }).idempotent, false);
});

test('kafka config: bad brokers, unknown placeholders, invalid topic names, idempotence with acks leader, sasl without a password are named', () => {
  const problems = checkKafkaConfig({
    brokers: ['nohost', 'h:70000'],
    topic: 'aegis.{{host}}',
    acks: 'leader',
    idempotent: true,
    tls: { cert_file: '/c.pem' },
    sasl: { mechanism: 'scram-sha-512', username: 'u' },
  });
  assert.deepEqual(problems, [
    'brokers.0: must be host:port (IPv6 as [addr]:port), got "nohost"',
    'brokers.1: port must be 1-65535, got "h:70000"',
    'topic: unknown placeholder "{{host}}"; the only one is {{type}}',
    'idempotent: needs acks: all (Kafka refuses an idempotent producer with acks: leader)',
    'tls: cert_file and key_file go together',
    'sasl.password_file: is required (or sasl.password)',
  ]);
  assert.deepEqual(checkKafkaConfig({ brokers: ['h:1'], topic: 'a b' }), [
    "topic: \"a b\" is not a valid Kafka topic name (1-249 of letters, digits, '.', '_', '-')",
  ]);
  assert.equal(topicFor('aegisbpf.{{type}}', 'exec'), 'aegisbpf.exec');
  assert.equal(topicFor('aegisbpf.{{ type }}.v1', 'connect'), 'aegisbpf.connect.v1');
});

test('kafka config: validate accepts the issue example and refuses a string format (the sink carries kafka records)', () => {
  const ok = validateConfigDocument(
    {
      sources: { s: { type: 'stdin' } },
      sinks: {
        bus: {
          type: 'kafka',
          brokers: ['127.0.0.1:9092'],
          topic: 'aegisbpf.events',
          key: 'host',
          compression: 'zstd',
          acks: 'all',
          tls: { ca_file: '/ca.pem', cert_file: '/c.pem', key_file: '/k.pem' },
          sasl: { mechanism: 'scram-sha-512', username: 'u', password_file: '/p' },
          format: { type: 'kafka', inner: 'ocsf' },
        },
      },
    },
    {},
  );
  assert.deepEqual(ok.problems, []);
  const bad = validateConfigDocument(
    { sources: { s: { type: 'stdin' } }, sinks: { bus: { type: 'kafka', brokers: ['h:1'], format: 'json' } } },
    {},
  );
  assert.ok(
    bad.problems.some((p) => p.startsWith('sinks.bus.format: ')),
    bad.problems.join('\n'),
  );
});

test('kafka failures: too large splits, unknown topic and authorization are unhealthy naming the topic, others retry', () => {
  const protocol = (apiId: string): Error => Object.assign(new Error(`broker said ${apiId}`), { apiId });
  const multi = (inner: Error): Error => Object.assign(new Error('Producing messages failed.'), { errors: [inner] });
  assert.equal(classifyKafkaError(multi(protocol('MESSAGE_TOO_LARGE')), ['t']).kind, 'too_large');
  const unknown = classifyKafkaError(multi(protocol('UNKNOWN_TOPIC_OR_PARTITION')), ['aegis.exec']);
  assert.ok(unknown.kind === 'retryable' && unknown.unhealthy === true);
  assert.match(unknown.reason, /topic 'aegis.exec' does not exist/);
  const authz = classifyKafkaError(protocol('TOPIC_AUTHORIZATION_FAILED'), ['a', 'b']);
  assert.ok(authz.kind === 'retryable' && authz.unhealthy === true);
  assert.match(authz.reason, /not authorized to write to topics 'a', 'b'/);
  assert.equal(classifyKafkaError(protocol('CORRUPT_MESSAGE'), ['t']).kind, 'rejected');
  const net = classifyKafkaError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'PLT_KFK_NETWORK' }), ['t']);
  assert.ok(net.kind === 'retryable' && net.unhealthy === undefined);
});
