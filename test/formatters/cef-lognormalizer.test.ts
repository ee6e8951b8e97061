/**
 * CEF output parsed by a real, widely deployed consumer: liblognorm's `cef` parser (what rsyslog's mmnormalize
 * uses), through the `lognormalizer` tool of Debian's liblognorm-utils (installed by scripts/setup.sh test).
 *
 * liblognorm 2.0.6 quirk, shown by the second test: without a space after the last header `|` it drops the first
 * character of the first extension key (`rt=…` arrives as `t=…`). With `space_after_header: true` every field
 * arrives intact, which the first test checks against the strict parser for every golden case and a few hundred
 * adversarial events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type { AegisEvent } from '../../src/event/types';
import { cefFormatter } from '../../src/formatters/cef';
import { parseCef } from '../parsers/cef';
import { adversarialEvent } from '../helpers/adversarial';
import { GOLDEN_CONTEXT, goldenCases } from './golden';

interface LognormCef {
  readonly cef?: {
    readonly DeviceVendor: string;
    readonly DeviceProduct: string;
    readonly DeviceVersion: string;
    readonly SignatureID: string;
    readonly Name: string;
    readonly Severity: string;
    readonly Extensions: Record<string, string>;
  };
  readonly 'unparsed-data'?: string;
}

function findLognormalizer(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/local/bin'])) {
    const p = path.join(dir, 'lognormalizer');
    if (dir !== '' && fs.existsSync(p)) return p;
  }
  return undefined;
}

const binary = findLognormalizer();
const skip =
  binary === undefined
    ? 'lognormalizer is not installed (Debian: apt-get install liblognorm-utils; scripts/setup.sh test does it)'
    : false;

/** Run lognormalizer once over many lines; one JSON result per line, in order. */
function lognormalize(lines: readonly string[]): LognormCef[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-lognorm-'));
  try {
    const rulebase = path.join(dir, 'cef.rb');
    fs.writeFileSync(rulebase, 'version=2\nrule=:%cef:cef%\n');
    const r = spawnSync(binary as string, ['-r', rulebase, '-e', 'json'], {
      input: lines.join('\n') + '\n',
      encoding: 'utf8',
      maxBuffer: 256 << 20,
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `lognormalizer failed: ${r.stderr}`);
    const out = r.stdout.split('\n').filter((l) => l !== '');
    assert.equal(out.length, lines.length, 'one result per input line');
    return out.map((l) => JSON.parse(l) as LognormCef);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function corpus(): AegisEvent[] {
  return [...goldenCases().map((c) => c.event), ...fc.sample(adversarialEvent, { numRuns: 300, seed: 4242 })];
}

test(
  'liblognorm cef parser, space after the header: every field of every event arrives exactly as the strict parser reads it',
  { skip },
  () => {
    const f = cefFormatter.create({ space_after_header: true }, GOLDEN_CONTEXT);
    const lines = corpus().map((e) => f.format(e));
    const results = lognormalize(lines);
    results.forEach((res, i) => {
      const line = lines[i] as string;
      assert.ok(
        res.cef !== undefined,
        `liblognorm parsed line ${i}: ${JSON.stringify(res['unparsed-data']?.slice(0, 200))}`,
      );
      const strict = parseCef(line, { allowLeadingSpace: true });
      assert.deepEqual(
        [
          res.cef.DeviceVendor,
          res.cef.DeviceProduct,
          res.cef.DeviceVersion,
          res.cef.SignatureID,
          res.cef.Name,
          res.cef.Severity,
        ],
        [strict.vendor, strict.product, strict.deviceVersion, strict.signatureId, strict.name, strict.severity],
      );
      assert.deepEqual(res.cef.Extensions, Object.fromEntries(strict.extension), `line ${i}`);
    });
  },
);

test(
  'liblognorm quirk, no space after the header (the spec form): the first key loses its first character, nothing else changes',
  { skip },
  () => {
    const f = cefFormatter.create({}, GOLDEN_CONTEXT);
    const lines = corpus().map((e) => f.format(e));
    const results = lognormalize(lines);
    results.forEach((res, i) => {
      const strict = parseCef(lines[i] as string);
      assert.ok(res.cef !== undefined, `liblognorm parsed line ${i}`);
      const expected = Object.fromEntries(strict.extension);
      // The formatter always writes rt first: liblognorm reports it as `t`.
      assert.equal(res.cef.Extensions.t, expected.rt);
      assert.ok(!('rt' in res.cef.Extensions));
      const { t, ...rest } = res.cef.Extensions;
      const { rt, ...expectedRest } = expected;
      assert.equal(t, rt);
      assert.deepEqual(rest, expectedRest);
    });
  },
);
