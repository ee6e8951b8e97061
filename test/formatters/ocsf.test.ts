/**
 * OCSF output validated against the official class definitions: JSON Schemas generated, by the PyPI package
 * ocsf-json-schema (fetched by scripts/setup.sh test into .cache/), from the official schema exports for 1.8.0 and
 * 1.1.0 — required attributes, types, enum values, object constraints (at_least_one), no attribute the class or its
 * selected profiles do not define. On top, checks the schema cannot express: uid arithmetic, enum captions of the
 * sibling attributes, metadata.version, and the profiles list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv';
import fc from 'fast-check';
import type { AegisEvent } from '../../src/event/types';
import { eventTime, ocsfSeverityId } from '../../src/formatters/common';
import { OCSF_VERSIONS, ocsfFormatter } from '../../src/formatters/ocsf';
import type { OcsfVersion } from '../../src/formatters/ocsf';
import { createFormatter } from '../../src/formatters/registry';
import { packagePath } from '../../src/util/paths';
import { adversarialEvent } from '../helpers/adversarial';
import { compareGolden, GOLDEN_CONTEXT, goldenBytes, goldenCases } from './golden';

const OCSF_PKG = packagePath('.cache', 'ocsf-json-schema-1.2.0');
const HELPER = packagePath('test', 'helpers', 'ocsf-schema.py');
const CLASS_NAMES: Readonly<Record<number, string>> = {
  1001: 'file_activity',
  1007: 'process_activity',
  4001: 'network_activity',
  6002: 'application_lifecycle',
};
const PROFILE_SETS = [
  ['host'],
  ['host', 'security_control'],
  ['container', 'host'],
  ['container', 'host', 'security_control'],
];

function unavailable(): string | false {
  if (!fs.existsSync(path.join(OCSF_PKG, '.complete')))
    return `OCSF schema package missing at ${OCSF_PKG} (run: bash scripts/setup.sh test; it needs PyPI)`;
  if (spawnSync('python3', ['--version']).status !== 0) return 'python3 is not installed';
  return false;
}
const skip = unavailable();

interface Export {
  readonly classes: Record<string, { readonly uid: number; readonly attributes: Record<string, ExportAttribute> }>;
  readonly objects: Record<string, { readonly attributes: Record<string, ExportAttribute> }>;
}
interface ExportAttribute {
  readonly type: string;
  readonly object_type?: string;
  readonly sibling?: string;
  readonly enum?: Record<string, { readonly caption: string }>;
}

interface Loaded {
  /** Compiled on first use: compiling all of them costs seconds, a run needs a few. */
  readonly validator: (key: string) => ValidateFunction | undefined;
  readonly exports: Map<string, Export>;
}
let loaded: Loaded | undefined;

/** Generate (once) every class × profile-set schema for every version. */
function schemas(): Loaded {
  if (loaded !== undefined) return loaded;
  const requests = OCSF_VERSIONS.flatMap((version) =>
    Object.values(CLASS_NAMES).flatMap((cls) => PROFILE_SETS.map((profiles) => ({ version, class: cls, profiles }))),
  );
  const r = spawnSync('python3', [HELPER], {
    input: JSON.stringify(requests),
    env: { ...process.env, PYTHONPATH: OCSF_PKG },
    encoding: 'utf8',
    maxBuffer: 512 << 20,
    timeout: 300_000,
  });
  assert.equal(r.status, 0, `ocsf-schema.py failed: ${r.stderr}`);
  const generated = JSON.parse(r.stdout) as Record<string, Record<string, unknown>>;
  const validators = new Map<string, ValidateFunction>();
  const validator = (key: string): ValidateFunction | undefined => {
    const schema = generated[key];
    if (schema === undefined) return undefined;
    let v = validators.get(key);
    if (v === undefined) {
      v = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
      validators.set(key, v);
    }
    return v;
  };
  const exports = new Map<string, Export>();
  for (const v of OCSF_VERSIONS)
    exports.set(
      v,
      JSON.parse(fs.readFileSync(path.join(OCSF_PKG, 'ocsf_json_schema', 'ocsf', `${v}.json`), 'utf8')) as Export,
    );
  loaded = { validator, exports };
  return loaded;
}

/** Every `*_id` enum value with a sibling caption attribute present must carry that value's caption (except Other). */
function checkCaptions(
  value: Record<string, unknown>,
  attributes: Record<string, ExportAttribute>,
  ex: Export,
  where: string,
): void {
  for (const [name, def] of Object.entries(attributes)) {
    const v = value[name];
    if (v === undefined) continue;
    if (
      def.enum !== undefined &&
      def.sibling !== undefined &&
      value[def.sibling] !== undefined &&
      (typeof v === 'number' || typeof v === 'string')
    ) {
      const id = String(v);
      const caption = def.enum[id]?.caption;
      if (caption !== 'Other' && !id.endsWith('99'))
        assert.equal(value[def.sibling], caption, `${where}.${def.sibling} is the caption of ${name}=${id}`);
    }
    if (def.type === 'object_t' && def.object_type !== undefined && typeof v === 'object' && v !== null) {
      const obj = ex.objects[def.object_type];
      const items = Array.isArray(v) ? (v as unknown[]) : [v];
      if (obj !== undefined)
        for (const item of items)
          checkCaptions(item as Record<string, unknown>, obj.attributes, ex, `${where}.${name}`);
    }
  }
}

function validate(out: Record<string, unknown>, version: OcsfVersion, e: AegisEvent): void {
  const { validator: validatorFor, exports } = schemas();
  const classUid = out.class_uid as number;
  const cls = CLASS_NAMES[classUid];
  assert.ok(cls !== undefined, `class_uid ${classUid}`);
  const metadata = out.metadata as { version: string; profiles: string[] };
  assert.equal(metadata.version, version, 'metadata.version is the OCSF schema version');
  const profiles = [...metadata.profiles].sort();
  const key = `${version}/${cls}/${profiles.join(',')}`;
  const validator = validatorFor(key);
  assert.ok(validator !== undefined, `a schema for ${key}`);
  if (!validator(out))
    assert.fail(
      `${key}: ${JSON.stringify(validator.errors?.slice(0, 5), null, 1)}\n${JSON.stringify(out).slice(0, 1500)}`,
    );
  // What JSON Schema cannot say.
  const ex = exports.get(version)!;
  const def = ex.classes[cls]!;
  assert.equal(classUid, def.uid);
  assert.equal(out.category_uid, Math.floor(classUid / 1000), 'class_uid = category_uid * 1000 + class id');
  assert.equal(out.type_uid, classUid * 100 + (out.activity_id as number), 'type_uid = class_uid * 100 + activity_id');
  assert.equal(out.time, eventTime(e).millis, 'time is the event time in epoch milliseconds');
  assert.equal(out.severity_id, ocsfSeverityId(e), 'severity from common.ocsfSeverityId');
  if (out.activity_id === 99)
    assert.ok(
      typeof out.activity_name === 'string' && out.activity_name !== '',
      'Other carries the source activity name',
    );
  assert.equal(
    profiles.includes('security_control'),
    out.action_id !== undefined,
    'security_control listed exactly when used',
  );
  assert.ok(profiles.includes('host'));
  checkCaptions(out, def.attributes, ex, cls);
}

const cases = goldenCases();

test('ocsf golden files: every event type and edge case, byte for byte (1.8.0 and 1.1.0)', () => {
  const problems: string[] = [];
  for (const version of OCSF_VERSIONS) {
    const f = ocsfFormatter.create({ version }, GOLDEN_CONTEXT);
    for (const { name, event } of cases) {
      const m = compareGolden(
        version === '1.8.0' ? 'ocsf' : `ocsf-${version}`,
        name,
        'json',
        goldenBytes(f.format(event)),
      );
      if (m !== undefined) problems.push(m);
    }
  }
  assert.deepEqual(problems, []);
});

test('every golden case validates against the official OCSF class definitions (1.8.0 and 1.1.0)', { skip }, () => {
  for (const version of OCSF_VERSIONS) {
    const f = ocsfFormatter.create({ version }, GOLDEN_CONTEXT);
    for (const { event } of cases) validate(JSON.parse(f.format(event)) as Record<string, unknown>, version, event);
  }
});

test('adversarial events validate too, and their strings come back exactly (property)', { skip }, () => {
  const formatters = OCSF_VERSIONS.map((version) => ({
    version,
    f: ocsfFormatter.create({ version }, GOLDEN_CONTEXT),
  }));
  fc.assert(
    fc.property(adversarialEvent, (e) => {
      for (const { version, f } of formatters) {
        const out = JSON.parse(f.format(e)) as Record<string, unknown> & {
          unmapped?: Record<string, unknown>;
          file?: { path?: string };
          actor?: { process?: { name?: string } };
          process?: { name?: string };
        };
        validate(out, version, e);
        assert.equal((out.unmapped ?? {}).cgroup_path, e.cgroup_path === '' ? '' : e.cgroup_path);
        if (e.type === 'block' && e.path !== undefined && e.path !== '') assert.equal(out.file?.path, e.path);
        if (e.type === 'block' || e.type === 'connect') assert.equal(out.actor?.process?.name, e.comm);
      }
    }),
    { numRuns: Number(process.env.AEGIS_FC_RUNS ?? 150) },
  );
});

test('the validator rejects what OCSF forbids (so a pass means something)', { skip }, () => {
  const f = ocsfFormatter.create({}, GOLDEN_CONTEXT);
  const e = cases.find((c) => c.name === 'block-audit')!.event;
  const good = JSON.parse(f.format(e)) as Record<string, unknown>;
  validate(good, '1.8.0', e);
  const v = schemas().validator('1.8.0/file_activity/host,security_control')!;
  assert.equal(v({ ...good, file: { path: '/etc/shadow' } }), false, 'file.name and file.type_id are required');
  assert.equal(v({ ...good, activity_id: 42 }), false, 'activity_id outside the enum');
  assert.equal(v({ ...good, time: '2026-11-21T10:30:00Z' }), false, 'time is an integer');
  assert.equal(v({ ...good, dst: '/etc/shadow' }), false, 'no attribute the class does not define');
  const { device: _device, ...noDevice } = good;
  assert.equal(v(noDevice), false, 'device is required for System Activity');
});

test('ocsf is registered; version option; metadata.product from the context', () => {
  const f = createFormatter({ type: 'ocsf', version: '1.1.0' }, GOLDEN_CONTEXT);
  const out = JSON.parse(f.format(cases[0]!.event)) as {
    metadata: { version: string; product: Record<string, string> };
  };
  assert.equal(out.metadata.version, '1.1.0');
  assert.deepEqual(out.metadata.product, { name: 'aegisbpf', vendor_name: 'aegisbpf', version: '1.2.3' });
  assert.deepEqual(f.schema, { name: 'ocsf', version: '1.1.0' });
});
