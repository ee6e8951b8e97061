import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { EVENT_FIELDS, FIELD_ORDER } from '../../src/event/fields';
import type { AegisEvent, EventType } from '../../src/event/types';
import { encodeJsonValue, formatJson, formatJsonOrdered } from '../../src/formatters/json';
import { EVENT_WRITERS, SLOT_COUNT } from '../../src/formatters/generated/event-writers';
import type { FieldSlots } from '../../src/formatters/generated/event-writers';
import { generateEvents } from '../helpers/events';

const ROOT = path.join(__dirname, '..', '..', '..');
const SCRIPT = path.join(ROOT, 'scripts', 'gen-event-writers.js');
const CHECKED_IN = path.join(ROOT, 'src', 'formatters', 'generated', 'event-writers.ts');

test('the checked-in writers are what the generator writes from the current field tables', () => {
  const r = spawnSync(process.execPath, [SCRIPT, '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // The check can fail: a copy that differs by one character is reported stale, with the command that fixes it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-writers-'));
  try {
    const copy = path.join(dir, 'event-writers.ts');
    fs.writeFileSync(copy, fs.readFileSync(CHECKED_IN, 'utf8').replace('"ts":', '"tz":'));
    const stale = spawnSync(process.execPath, [SCRIPT, '--check', '--out', copy], { encoding: 'utf8' });
    assert.equal(stale.status, 1);
    assert.match(stale.stderr, /stale; run: npm run build && node scripts\/gen-event-writers\.js/);
    const write = spawnSync(process.execPath, [SCRIPT, '--out', copy], { encoding: 'utf8' });
    assert.equal(write.status, 0, write.stderr);
    assert.equal(fs.readFileSync(copy, 'utf8'), fs.readFileSync(CHECKED_IN, 'utf8'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('each type has a writer, and it writes every field of its type in FIELD_ORDER', () => {
  for (const type of Object.keys(EVENT_FIELDS) as EventType[]) {
    // Every field of the type set to a distinct plain value of its kind.
    const event: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries(EVENT_FIELDS[type])) {
      const i = FIELD_ORDER.indexOf(name as (typeof FIELD_ORDER)[number]);
      event[name] =
        spec.kind === 'string'
          ? `v${i}`
          : spec.kind === 'integer'
            ? i
            : spec.kind === 'number'
              ? i + 0.25
              : spec.kind === 'boolean'
                ? i % 2 === 0
                : spec.kind === 'string[]'
                  ? [`a${i}`]
                  : { k: `l${i}` };
    }
    event.type = type;
    const slots: FieldSlots = new Array<undefined>(SLOT_COUNT).fill(undefined);
    const out = EVENT_WRITERS[type](event as never, slots, { json: encodeJsonValue, sd: () => 'slow' });
    assert.equal(out, formatJsonOrdered(event as unknown as AegisEvent), type);
    assert.deepEqual(
      Object.keys(JSON.parse(out) as object),
      FIELD_ORDER.filter((f) => f in EVENT_FIELDS[type]),
      type,
    );
    for (const [name, spec] of Object.entries(EVENT_FIELDS[type])) {
      const slot = slots[FIELD_ORDER.indexOf(name as (typeof FIELD_ORDER)[number])];
      if (spec.kind === 'string' || spec.kind === 'integer' || spec.kind === 'number' || spec.kind === 'boolean')
        assert.equal(slot, String(event[name]), `${type}.${name} slot`);
    }
  }
});

const oddValue = fc.oneof(
  fc.string({
    unit: fc.constantFrom('"', '\\', ']', '\u0000', '\n', '\u001f', '\ud800', '\udc00', '\ud83d\ude00', 'a', ' '),
    maxLength: 12,
  }),
  fc.constantFrom(null, Number.NaN, Infinity, -0, 1e21, true, false, 'x'.repeat(6000), [], ['a"b'], {
    b: '1',
    a: '\u0000',
  }),
  fc.integer(),
);

test('writers and the ordered loop write the same bytes, whatever the values (property)', () => {
  const names = FIELD_ORDER.filter((f) => f !== 'type');
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100_000 }),
      fc.array(fc.tuple(fc.constantFrom(...names), oddValue), { maxLength: 6 }),
      (seed, edits) => {
        const [base] = generateEvents(1, { seed, adversarial: true });
        const event: Record<string, unknown> = { ...base };
        // Only the event's own fields: the schema allows no others, and the writers write no others.
        for (const [name, value] of edits) if (name in EVENT_FIELDS[base!.type]) event[name] = value;
        assert.equal(formatJson(event as unknown as AegisEvent), formatJsonOrdered(event as unknown as AegisEvent));
      },
    ),
    { numRuns: 3000 },
  );
});
