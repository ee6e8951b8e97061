/**
 * Splunk's own validator on the packages users install: `aegisbpf rules package splunk` builds the two .tgz files
 * (from rules/splunk and rules/splunk-hec-inputs; a POSIX ustar writer of its own, read back here by GNU tar) and
 * splunk-appinspect (PyPI, installed by scripts/services/siem-tools.sh) inspects them in precert mode.
 * - TA-aegisbpf: 0 errors, 0 failures, 0 warnings (fit for Splunk Cloud).
 * - TA-aegisbpf-hec-inputs (on-premises HEC input): only the two Cloud findings, and nothing once the Cloud tags
 *   are excluded.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packagePath } from '../../src/util/paths';
import { spawnCli, waitExit } from '../helpers/cli';
import { siemTool } from '../helpers/siem-tools';
import { makeTempDir } from '../helpers/tmp';

const tool = siemTool('splunk_appinspect');
const skip = 'skip' in tool ? tool.skip : false;
const tmp = makeTempDir('appinspect-');
after(() => tmp.cleanup());

interface Check {
  name: string;
  result: string;
  messages: { message: string }[];
}
interface Report {
  summary: Record<string, number>;
  checks: Check[];
}

function inspect(pkg: string, extra: string[] = []): Report {
  if ('skip' in tool) throw new Error(tool.skip);
  const out = path.join(tmp.dir, `${path.basename(pkg)}-${extra.length}.json`);
  const r = spawnSync(
    tool.path,
    ['inspect', pkg, '--mode', 'precert', '--data-format', 'json', '--output-file', out, ...extra],
    { encoding: 'utf8' },
  );
  assert.ok(fs.existsSync(out), r.stdout + r.stderr);
  const d = JSON.parse(fs.readFileSync(out, 'utf8')) as {
    reports: { summary: Record<string, number>; groups: { checks: Check[] }[] }[];
  };
  const rep = d.reports[0];
  assert.ok(rep !== undefined);
  return { summary: rep.summary, checks: rep.groups.flatMap((g) => g.checks) };
}
const findings = (r: Report): string[] =>
  r.checks
    .filter((c) => ['error', 'failure', 'warning', 'future_failure'].includes(c.result))
    .map((c) => `${c.result} ${c.name}: ${c.messages.map((m) => m.message).join(' | ')}`);

function walk(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((d) => {
    const r = rel === '' ? d.name : `${rel}/${d.name}`;
    return d.isDirectory() ? walk(dir, r) : [r];
  });
}

let packages: string[] = [];
before(async () => {
  const r = await waitExit(spawnCli(['rules', 'package', 'splunk', '--out', tmp.dir]));
  assert.equal(r.code, 0, r.stderr);
  packages = r.stdout.trim().split('\n');
});

test('aegisbpf rules package splunk builds both apps, reproducibly, without test data', async () => {
  assert.deepEqual(
    packages.map((p) => path.basename(p)),
    ['TA-aegisbpf-0.1.0.tgz', 'TA-aegisbpf-hec-inputs-0.1.0.tgz'],
  );
  const list = spawnSync('tar', ['-tzf', packages[0] as string], { encoding: 'utf8' }).stdout.split('\n');
  assert.ok(list.includes('TA-aegisbpf/default/app.conf') && list.includes('TA-aegisbpf/app.manifest'), list.join(' '));
  assert.ok(!list.some((f) => f.includes('samples/') || f.endsWith('inputs.conf')), list.join(' '));
  const inputs = spawnSync('tar', ['-tzf', packages[1] as string], { encoding: 'utf8' }).stdout.split('\n');
  for (const f of walk(packagePath('rules', 'splunk-hec-inputs')))
    assert.ok(inputs.includes(`TA-aegisbpf-hec-inputs/${f}`), `${f} missing from ${inputs.join(' ')}`);
  const again = path.join(tmp.dir, 'again');
  assert.equal((await waitExit(spawnCli(['rules', 'package', 'splunk', '--out', again]))).code, 0);
  assert.ok(fs.readFileSync(path.join(again, 'TA-aegisbpf-0.1.0.tgz')).equals(fs.readFileSync(packages[0] as string)));
});

test('AppInspect precert on TA-aegisbpf: 0 errors, 0 failures, 0 warnings', { skip }, () => {
  const r = inspect(packages[0] as string);
  assert.deepEqual(findings(r), []);
  assert.equal(r.summary.failure, 0);
  assert.equal(r.summary.warning, 0);
  assert.equal(r.summary.error, 0);
  assert.ok((r.summary.success ?? 0) > 50, JSON.stringify(r.summary));
});

test(
  'AppInspect precert on TA-aegisbpf-hec-inputs: only the Splunk Cloud findings (HEC stanza, Victoria sync)',
  { skip },
  () => {
    const r = inspect(packages[1] as string);
    assert.deepEqual(
      findings(r).map((f) => f.split(':')[0]),
      ['failure check_inputs_conf_for_http_inputs', 'warning check_for_indexer_synced_configs'],
      findings(r).join('\n'),
    );
    const onPrem = inspect(packages[1] as string, [
      '--excluded-tags',
      'cloud',
      '--excluded-tags',
      'migration_victoria',
    ]);
    assert.deepEqual(findings(onPrem), []);
  },
);

test('the ustar writer: every file and directory, exact sizes and bytes, as GNU tar reads them back', async () => {
  const dir = path.join(tmp.dir, 'extract');
  fs.mkdirSync(dir);
  const x = spawnSync('tar', ['-xzf', packages[0] as string, '-C', dir], { encoding: 'utf8' });
  assert.equal(x.status, 0, x.stderr);
  const src = packagePath('rules', 'splunk');
  const files = walk(src).filter((f) => !f.startsWith('samples/'));
  assert.deepEqual(walk(path.join(dir, 'TA-aegisbpf')).sort(), files.sort());
  for (const f of files)
    assert.ok(fs.readFileSync(path.join(dir, 'TA-aegisbpf', f)).equals(fs.readFileSync(path.join(src, f))), f);
  const bad = await waitExit(spawnCli(['rules', 'package', 'qradar']));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown target 'qradar' \(known: splunk\)/);
});
