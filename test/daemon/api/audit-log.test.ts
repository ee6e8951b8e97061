/**
 * The hash-chained audit log and `aegisbpf audit verify`: an intact log verifies; one byte changed, a line
 * removed, two lines swapped, or a line inserted each make verify exit 1 naming the first broken record. Two
 * processes appending at once still make one chain.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createAuditLog, readAuditRecords, verifyAuditLog } from '../../../src/daemon/api/audit-log';
import { runCli } from '../../helpers/cli';
import { makeTempDir } from '../../helpers/tmp';

function makeLog(dir: string, n: number): { file: string; lines: string[] } {
  const file = path.join(dir, 'audit.log');
  const log = createAuditLog(file);
  for (let i = 0; i < n; i++)
    log.append({
      actor: `user${i}`,
      actor_type: 'api-key',
      action: i % 2 === 0 ? 'blocklist.add' : 'policy.apply',
      target: `t${i}`,
      source: '127.0.0.1',
      result: 'success',
      detail: `detail ${i} "quoted" \u00e9`,
    });
  return { file, lines: fs.readFileSync(file, 'utf8').trimEnd().split('\n') };
}

const verify = (file: string): { code: number | null; out: string } => {
  const r = runCli(['audit', 'verify', '--audit-file', file]);
  return { code: r.code, out: r.stdout + r.stderr };
};

void test('audit verify: intact passes; one byte changed, a line removed, two lines swapped, a line inserted: exit 1 naming the first broken record', () => {
  const t = makeTempDir('aegis-audit-');
  try {
    const { file, lines } = makeLog(t.dir, 6);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const ok = verify(file);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /6 records, the hash chain holds/);

    const original = fs.readFileSync(file);
    // One byte: the record's own hash no longer matches (line 3 = seq 3).
    const edited = Buffer.from(original);
    const at = original.indexOf('user2') + 4;
    edited[at] = '7'.charCodeAt(0);
    fs.writeFileSync(file, edited);
    let v = verify(file);
    assert.equal(v.code, 1);
    assert.match(v.out, /AEGIS_ERR_AUDIT_BROKEN: .* line 3 \(seq 3\): its content does not match its hash/);

    fs.writeFileSync(file, [...lines.slice(0, 3), ...lines.slice(4)].join('\n') + '\n');
    v = verify(file);
    assert.equal(v.code, 1);
    assert.match(v.out, /line 4 \(seq 5\): its prev hash does not match/);

    const swapped = [...lines];
    [swapped[1], swapped[2]] = [swapped[2] as string, swapped[1] as string];
    fs.writeFileSync(file, swapped.join('\n') + '\n');
    v = verify(file);
    assert.equal(v.code, 1);
    assert.match(v.out, /line 2 \(seq 3\): its prev hash does not match/);

    fs.writeFileSync(file, [...lines.slice(0, 2), lines[1], ...lines.slice(2)].join('\n') + '\n');
    v = verify(file);
    assert.equal(v.code, 1);
    assert.match(v.out, /line 3 \(seq 2\)/);

    // The first record removed: its successor no longer links to the start of the chain.
    fs.writeFileSync(file, lines.slice(1).join('\n') + '\n');
    assert.equal(verify(file).code, 1);

    fs.writeFileSync(file, original);
    assert.equal(verify(file).code, 0, 'restored: verifies again');
  } finally {
    t.cleanup();
  }
});

void test('audit list/search/export filter by time, user and action', () => {
  const t = makeTempDir('aegis-audit-');
  try {
    const { file } = makeLog(t.dir, 4);
    const search = runCli([
      'audit',
      'search',
      '--user',
      'user2',
      '--action',
      'blocklist.add',
      '--json',
      '--audit-file',
      file,
    ]);
    assert.equal(search.code, 0, search.stderr);
    assert.deepEqual(
      search.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { target: string }).target),
      ['t2'],
    );
    const exp = runCli([
      'audit',
      'export',
      '--format',
      'json',
      '--start',
      '1h',
      '--end',
      '2999-01-01',
      '--audit-file',
      file,
    ]);
    assert.equal((JSON.parse(exp.stdout) as unknown[]).length, 4);
    const none = runCli(['audit', 'export', '--format', 'json', '--start', '2999-01-01', '--audit-file', file]);
    assert.deepEqual(JSON.parse(none.stdout), []);
    assert.equal(runCli(['audit', 'list', '--since', '1h', '--audit-file', file]).stdout.trim().split('\n').length, 4);
    assert.equal(runCli(['audit', 'list', '--since', 'yesterday', '--audit-file', file]).code, 2);
    assert.equal(runCli(['audit', 'export', '--format', 'csv', '--audit-file', file]).code, 2);
  } finally {
    t.cleanup();
  }
});

void test('two processes appending at once make one unbroken chain (the lock file)', async () => {
  const t = makeTempDir('aegis-audit-');
  try {
    const file = path.join(t.dir, 'audit.log');
    const script = `
      const { createAuditLog } = require(${JSON.stringify(path.resolve(__dirname, '../../../src/daemon/api/audit-log.js'))});
      const log = createAuditLog(${JSON.stringify(file)});
      for (let i = 0; i < 100; i++) log.append({ actor: process.argv[1], actor_type: 'cli', action: 'key.create', target: String(i), source: 'local', result: 'success', detail: '' });`;
    const runs = ['a', 'b'].map(
      (name) =>
        new Promise<number | null>((resolve) =>
          spawn(process.execPath, ['-e', script, name], { stdio: 'inherit' }).on('close', resolve),
        ),
    );
    assert.deepEqual(await Promise.all(runs), [0, 0]);
    const v = verifyAuditLog(file);
    assert.ok(v.ok, JSON.stringify(v));
    assert.equal(readAuditRecords(file).length, 200);
  } finally {
    t.cleanup();
  }
});
