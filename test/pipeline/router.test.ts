import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRouter } from '../../src/pipeline/router';
import { generateEvents } from '../helpers/events';

test('without routes every sink gets every event', () => {
  const events = generateEvents(10);
  const { bySink, unrouted } = createRouter([], ['a', 'b']).route(events);
  assert.equal(bySink.get('a')!.length, 10);
  assert.equal(bySink.get('b')!.length, 10);
  assert.equal(unrouted, 0);
});

test('an event may take several routes; each sink gets it once, in order; unmatched events are counted', () => {
  const events = generateEvents(50);
  const router = createRouter(
    [
      { name: 'alerts', when: 'type == "block" && action != "AUDIT"', sinks: ['siem', 'archive'] },
      { name: 'all-blocks', when: 'type == "block"', sinks: ['archive'] },
      { name: 'procs', when: 'type == "exec"', sinks: ['siem'] },
    ],
    ['siem', 'archive'],
  );
  const { bySink, unrouted } = router.route(events);
  const archive = bySink.get('archive')!;
  assert.deepEqual(
    archive,
    events.filter((e) => e.type === 'block'),
  );
  const siem = bySink.get('siem')!;
  assert.deepEqual(
    siem,
    events.filter((e) => e.type === 'exec' || (e.type === 'block' && e.action !== 'AUDIT')),
  );
  assert.equal(unrouted, events.filter((e) => e.type !== 'block' && e.type !== 'exec').length);
});
