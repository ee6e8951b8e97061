/**
 * `aegisbpf alerts` end to end through the real binary: configure writes the webhook sink into the file it is given
 * (keeping its comments), rule and custom add rules, an invalid rule leaves the file unchanged with the key path,
 * list prints them, and test sends one notification to a real local HTTP receiver.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { validateConfigText } from '../../src/config/load';
import { runCli, spawnCli, waitExit } from '../helpers/cli';
import { startRecorder } from '../helpers/http-recorder';
import { makeTempDir } from '../helpers/tmp';

test('alerts configure / rule / custom / list / test', async () => {
  const { dir, cleanup } = makeTempDir('aegis-alerts-cli-');
  const recorder = await startRecorder();
  recorder.answer = () => ({ status: 200, body: 'ok' });
  try {
    const file = path.join(dir, 'aegisbpf.yml');
    fs.writeFileSync(
      file,
      [
        '# production agent: keep this comment',
        `data_dir: ${dir}`,
        'sources:',
        '  events: { type: stdin }  # replaced by the sensor on hosts',
        'sinks:',
        '  out: { type: stdout }',
        '',
      ].join('\n'),
    );
    const cli = (...args: string[]) => runCli(['alerts', ...args, '--config', file]);

    const configured = cli('configure', '--webhook', `${recorder.url}/hook`);
    assert.equal(configured.code, 0, configured.stderr);
    let text = fs.readFileSync(file, 'utf8');
    assert.match(text, /# production agent: keep this comment/);
    assert.match(text, /# replaced by the sensor on hosts/);
    assert.match(text, /alerts-webhook:/);

    const rules = cli('rule', '--block-rate', '100/s', '--drops', '10/s', '--map-utilization', '80%');
    assert.equal(rules.code, 0, rules.stderr);

    const before = fs.readFileSync(file, 'utf8');
    const bad = cli('custom', '--condition', 'rate(typ == "x", 1m) > 1', '--message', 'm', '--severity', 'low');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /alerts\.3\.condition: rate\(…\): unknown field 'typ'/);
    assert.equal(fs.readFileSync(file, 'utf8'), before, 'an invalid result is not written');

    const custom = cli(
      'custom',
      '--name',
      'netcat',
      '--condition',
      'count(type == "exec" && comm == "nc", 5m) > 0',
      '--message',
      'nc ran on {{ host }}',
      '--severity',
      'critical',
      '--repeat',
      '1h',
    );
    assert.equal(custom.code, 0, custom.stderr);

    text = fs.readFileSync(file, 'utf8');
    const parsed = validateConfigText(text, {});
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(
      (parsed.config?.alerts ?? []).map((r) => [r.name, r.condition, r.sinks]),
      [
        ['block-rate', 'rate(type == "block", 1m) > 100', ['alerts-webhook']],
        ['drops', 'drops(1m) > 10', ['alerts-webhook']],
        ['map-utilization', 'map_utilization() >= 80', ['alerts-webhook']],
        ['netcat', 'count(type == "exec" && comm == "nc", 5m) > 0', ['alerts-webhook']],
      ],
    );

    const list = cli('list');
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^block-rate {2}\[high\] {2}rate\(type == "block", 1m\) > 100 → alerts-webhook$/m);
    assert.match(list.stdout, /^netcat {2}\[critical\] {2}count\(.*\) > 0 repeat 1h → alerts-webhook$/m);

    // `test` needs the receiver to answer while the CLI runs: spawn, not spawnSync.
    const sent = await waitExit(spawnCli(['alerts', 'test', 'block-rate', '--config', file]));
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /alerts-webhook: delivered/);
    assert.equal(recorder.requests.length, 1);
    const body = JSON.parse(recorder.requests[0]!.body.toString('utf8')) as Record<string, unknown>[];
    assert.equal(body.length, 1);
    assert.equal(body[0]!.type, 'alert');
    assert.equal(body[0]!.alert, 'block-rate');
    assert.match(String(body[0]!.message), /^\[test\] High enforcement rate: 100 blocks\/s on /);

    recorder.answer = () => ({ status: 403, body: 'forbidden' });
    const refused = await waitExit(spawnCli(['alerts', 'test', 'drops', '--config', file]));
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /alerts-webhook: not delivered: .*HTTP 403: forbidden/);
    assert.doesNotMatch(refused.stdout + refused.stderr, new RegExp(String(recorder.port)), 'the URL is a secret');
  } finally {
    await recorder.close();
    cleanup();
  }
});
