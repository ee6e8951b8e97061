import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  classifyHecAnswer,
  describeAnswer,
  parseHecAnswer,
  SLOW_DOWN_MILLIS,
} from '../../../src/sinks/splunk-hec/retry-policy';

const classify = (status: number, body: unknown, retryAfter?: string): ReturnType<typeof classifyHecAnswer> =>
  classifyHecAnswer(parseHecAnswer(status, typeof body === 'string' ? body : JSON.stringify(body), retryAfter, 0));

test('HEC answers by code: success, token, size, data, channel, busy, capacity, config', () => {
  const cases: [number, unknown, string][] = [
    [200, { text: 'Success', code: 0, ackId: 7 }, 'accepted'],
    [200, { text: 'Success', code: 0 }, 'accepted'],
    [200, '{"text": "Success", "code": 0, "ackId": 1}', 'accepted'],
    [403, { text: 'Token disabled', code: 1 }, 'retryable'],
    [401, { text: 'Token is required', code: 2 }, 'retryable'],
    [401, { text: 'Invalid authorization', code: 3 }, 'retryable'],
    [403, { text: 'Invalid token', code: 4 }, 'retryable'],
    [400, { text: 'Invalid token', code: 21 }, 'retryable'],
    [400, { text: 'Token disabled', code: 22 }, 'retryable'],
    [401, 'provided authorization does not match expected scheme or token', 'retryable'],
    [413, 'Request Entity Too Large', 'too_large'],
    [400, { text: 'Invalid data format', code: 6, 'invalid-event-number': 3 }, 'bad_event'],
    [400, { text: 'Invalid data format', code: 6 }, 'bad_event'],
    [400, { text: 'Event field is required', code: 12 }, 'bad_event'],
    [400, { text: 'Event field cannot be blank', code: 13 }, 'bad_event'],
    [400, { text: 'Error in handling indexed fields', code: 15, 'invalid-event-number': 1 }, 'bad_event'],
    [400, { text: 'Incorrect index', code: 7 }, 'retryable'],
    [400, { text: 'Query string authorization is not enabled', code: 16 }, 'retryable'],
    [400, { text: 'Data channel is missing', code: 10 }, 'channel'],
    [400, { text: 'Invalid data channel', code: 11 }, 'channel'],
    [500, { text: 'Internal server error', code: 8 }, 'retryable'],
    [503, { text: 'Server is busy', code: 9 }, 'retryable'],
    [503, { text: 'HEC is unhealthy, queues are full', code: 18 }, 'retryable'],
    [429, '', 'retryable'],
    [502, '<html>bad gateway</html>', 'retryable'],
    [503, { text: 'queue at capacity', code: 24 }, 'retryable'],
    [404, { text: 'The requested URL was not found on this server.', code: 404 }, 'retryable'],
    [400, { text: 'No data', code: 5 }, 'rejected'],
    [405, '', 'rejected'],
  ];
  for (const [status, body, kind] of cases)
    assert.equal(classify(status, body).kind, kind, `${status} ${JSON.stringify(body)}`);
});

test('token and configuration refusals mark the sink unhealthy (events wait); busy answers do not', () => {
  for (const [s, b] of [
    [403, { code: 4, text: 'Invalid token' }],
    [401, 'missing or empty authorization header'],
    [400, { code: 7, text: 'Incorrect index' }],
    [404, ''],
  ] as const) {
    const r = classify(s, b);
    assert.ok(r.kind === 'retryable' && r.unhealthy === true, `${s} ${JSON.stringify(b)}`);
  }
  const busy = classify(503, { code: 9, text: 'Server is busy' });
  assert.ok(busy.kind === 'retryable' && busy.unhealthy !== true);
});

test('Retry-After is honoured (seconds and HTTP date); 24/25 slow down to at least SLOW_DOWN_MILLIS', () => {
  const a = classify(503, { code: 9, text: 'Server is busy' }, '7');
  assert.ok(a.kind === 'retryable' && a.retryAfterMillis === 7000);
  const b = classifyHecAnswer(parseHecAnswer(429, '', new Date(5000).toUTCString(), 0));
  assert.ok(b.kind === 'retryable' && b.retryAfterMillis === 5000);
  const c = classify(503, { code: 25, text: 'queue at capacity' });
  assert.ok(c.kind === 'retryable' && c.retryAfterMillis === SLOW_DOWN_MILLIS);
  const d = classify(503, { code: 24, text: 'queue at capacity' }, '9');
  assert.ok(d.kind === 'retryable' && d.retryAfterMillis === 9000);
});

test('bad_event carries invalid-event-number when HEC gives it', () => {
  const r = classify(400, { text: 'Invalid data format', code: 6, 'invalid-event-number': 4 });
  assert.deepEqual(r, {
    kind: 'bad_event',
    index: 4,
    reason: 'HTTP 400, HEC code 6: Invalid data format (invalid-event-number 4)',
  });
  const n = classify(400, { text: 'Event field is required', code: 12 });
  assert.ok(n.kind === 'bad_event' && n.index === undefined);
});

test('answers are parsed, not string-compared: spacing, text/plain JSON, non-objects, long bodies', () => {
  assert.equal(parseHecAnswer(200, '{"text": "Success", "code": 0, "ackId": 12}', undefined).ackId, 12);
  assert.equal(
    parseHecAnswer(400, '"Only \\"POST\\" method is supported"', undefined).other,
    'Only "POST" method is supported',
  );
  const long = parseHecAnswer(502, 'x'.repeat(5000), undefined);
  assert.equal(long.other?.length, 200);
  assert.equal(
    describeAnswer(parseHecAnswer(503, '{"text":"Server is busy","code":9}', undefined)),
    'HTTP 503, HEC code 9: Server is busy',
  );
});
