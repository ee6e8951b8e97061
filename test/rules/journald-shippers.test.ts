/**
 * The journald shipper configurations (rules/vector/aegisbpf-journald.toml, rules/filebeat/aegisbpf-journald.yml):
 * neither Vector nor Filebeat 8 runs here, so the names they reference are checked against entries that the journald
 * sink wrote to a real systemd-journald and `journalctl -o json` read back, and their filters are applied to those
 * entries as the tools document them. Skips where journald cannot run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { loadNative, nativeStatus } from '../../src/native/binding';
import { parseJournaldConfig } from '../../src/sinks/journald/config';
import { createJournaldTransport } from '../../src/sinks/journald/transport';
import { packagePath } from '../../src/util/paths';
import { generateEvents } from '../helpers/events';
import type { JournaldService } from '../helpers/journald';
import { startJournald } from '../helpers/journald';
import { batchOf } from '../sinks/transport-contract';

let journal: JournaldService | undefined;
let skipReason = '';
let entries: Record<string, unknown>[] = [];

before(async () => {
  const native = nativeStatus();
  if (!native.available) {
    skipReason = `the journald sink needs the native addon: ${native.reason}`;
    return;
  }
  const started = await startJournald();
  if (!started.ok) {
    skipReason = started.reason;
    return;
  }
  journal = started;
  // The default identifier, as `aegisbpf run --log=journald` writes.
  const transport = createJournaldTransport(parseJournaldConfig({ socket_path: journal.socketPath }), loadNative());
  const events = generateEvents(20);
  assert.equal((await transport.send(batchOf(events), new AbortController().signal)).kind, 'delivered');
  entries = await journal.read('aegisbpf');
  assert.equal(entries.length, 20);
});

after(async () => {
  await journal?.stop();
});

type Obj = Record<string, unknown>;

test('vector journald source: the matches and the filter select the sink’s entries by names journald really has', (t) => {
  if (journal === undefined) return t.skip(skipReason);
  const probe = spawnSync('python3', ['-c', 'import tomllib'], { encoding: 'utf8' });
  if (probe.status !== 0) return t.skip(`python3 with tomllib is not available: ${probe.stderr.trim()}`);
  const r = spawnSync(
    'python3',
    [
      '-c',
      'import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],"rb"))))',
      packagePath('rules', 'vector', 'aegisbpf-journald.toml'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const cfg = JSON.parse(r.stdout) as { sources: Record<string, Obj>; transforms: Record<string, Obj> };
  const source = cfg.sources.aegisbpf_journal!;
  assert.equal(source.type, 'journald');
  const matches = source.include_matches as Record<string, string[]>;
  const condition = String(cfg.transforms.aegisbpf_events!.condition);
  // Every field the filter names (`.NAME`) exists in every entry, and the values it compares against are journald's.
  const referenced = [...condition.matchAll(/\.([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!);
  assert.deepEqual(referenced.sort(), ['AEGIS_TYPE', '_TRANSPORT']);
  for (const e of entries) {
    for (const [field, values] of Object.entries(matches)) assert.ok(values.includes(String(e[field])), field);
    for (const name of referenced) assert.ok(name in e, `entry has ${name}`);
    assert.equal(e._TRANSPORT, 'journal');
    // Vector renames MESSAGE to message: the remap parses it as the json event.
    assert.equal((JSON.parse(String(e.MESSAGE)) as Obj).type, e.AEGIS_TYPE);
  }
});

test('filebeat journald input: the unit match and the has_fields filter name fields the sink writes', (t) => {
  if (journal === undefined) return t.skip(skipReason);
  const cfg = YAML.parse(fs.readFileSync(packagePath('rules', 'filebeat', 'aegisbpf-journald.yml'), 'utf8')) as Obj;
  const input = (cfg['filebeat.inputs'] as Obj[])[0]!;
  assert.equal(input.type, 'journald');
  assert.deepEqual(input['include_matches.match'], ['_SYSTEMD_UNIT=aegisbpf.service']);
  const hasFields = ((((input.processors as Obj[])[0]!.drop_event as Obj).when as Obj).not as Obj)
    .has_fields as string[];
  // Filebeat's documented mapping of a custom journal field: journald.custom.<lowercase name, leading _ removed>.
  for (const f of hasFields) {
    const m = /^journald\.custom\.([a-z0-9_]+)$/.exec(f);
    assert.ok(m, `${f} is a custom journal field`);
    const journalName = m[1]!.toUpperCase();
    for (const e of entries) assert.ok(journalName in e, `entry has ${journalName}`);
  }
});
