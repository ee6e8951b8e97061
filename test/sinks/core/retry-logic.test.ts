/**
 * Every sink's retry-policy.ts implements RetryLogic (the compiler checks the shape; this checks each one decides
 * as its policy says): whether to retry is the sink's, when is the core's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { elasticsearchRetryLogic } from '../../../src/sinks/elasticsearch/retry-policy';
import { fileRetryLogic } from '../../../src/sinks/file/retry-policy';
import { hecRetryLogic, parseHecAnswer } from '../../../src/sinks/splunk-hec/retry-policy';
import { stdoutRetryLogic } from '../../../src/sinks/stdout/retry-policy';
import { syslogRetryLogic } from '../../../src/sinks/syslog/retry-policy';
import type { RetryLogic } from '../../../src/sinks/core/types';

const errno = (code: string): Error => Object.assign(new Error(code), { code });

test('file, stdout and syslog: failures before any answer', () => {
  const logics: RetryLogic[] = [
    fileRetryLogic,
    stdoutRetryLogic,
    syslogRetryLogic({ transport: 'tcp', where: 'h:514', tls: undefined }),
  ];
  for (const l of logics) assert.equal(l.classifyFailure(errno('ECONNRESET')).kind, 'retryable');
  assert.deepEqual(fileRetryLogic.classifyFailure(errno('ENOSPC')), {
    kind: 'retryable',
    reason: 'file write failed: ENOSPC',
    unhealthy: true,
  });
  assert.equal(stdoutRetryLogic.classifyFailure(errno('EPIPE')).kind, 'rejected');
  const s = syslogRetryLogic({ transport: 'tcp', where: 'h:514', tls: undefined }).classifyFailure(errno('ENOTFOUND'));
  assert.ok(s.kind === 'retryable' && s.unhealthy === true);
});

test('elasticsearch: per-item on 2xx, by status otherwise', () => {
  assert.deepEqual(
    elasticsearchRetryLogic.classifyAnswer({
      status: 200,
      body: { errors: false, items: [] },
      retryAfterHeader: undefined,
      count: 0,
    }),
    { kind: 'delivered' },
  );
  assert.equal(
    elasticsearchRetryLogic.classifyAnswer({ status: 413, body: undefined, retryAfterHeader: undefined, count: 5 })
      .kind,
    'too_large',
  );
  const r = elasticsearchRetryLogic.classifyAnswer({ status: 503, body: undefined, retryAfterHeader: '2', count: 5 });
  assert.ok(r.kind === 'retryable' && r.retryAfterMillis === 2000);
  assert.equal(elasticsearchRetryLogic.classifyFailure(new Error('connect ECONNREFUSED')).kind, 'retryable');
});

test('splunk hec: answers and unanswered requests', () => {
  assert.equal(
    hecRetryLogic.classifyAnswer(parseHecAnswer(200, '{"text":"Success","code":0,"ackId":3}', undefined)).kind,
    'accepted',
  );
  assert.equal(hecRetryLogic.classifyAnswer(parseHecAnswer(413, 'too big', undefined)).kind, 'too_large');
  assert.deepEqual(hecRetryLogic.classifyFailure('socket hang up'), {
    kind: 'retryable',
    reason: 'HEC request failed: socket hang up',
  });
});
