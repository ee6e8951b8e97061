/**
 * The running agent is called aegisbpf (the monitoring guide's quick start: `top -p $(pgrep aegisbpf)`): pgrep finds
 * it by name, ps shows aegisbpf as its name (its command line stays node's), /proc/PID/comm is exactly `aegisbpf`. Also after the launcher's
 * re-execution (process.execve, for the semi-space flag), which replaces the process image and its name.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import { spawnCli } from '../helpers/cli';

void test('pgrep aegisbpf finds the running daemon; ps and /proc show the name aegisbpf', async (t) => {
  if (spawnSync('pgrep', ['--version']).error !== undefined) return t.skip('pgrep (procps) is not installed');
  // A long-running command (the launcher re-executes these) that needs no root: replay in a loop, slowly.
  const child = spawnCli(['replay', 'samples/events.ndjson', '--loop', '--rate', '5', '--log-format=json']);
  child.stdout.resume();
  try {
    const pid = child.pid!;
    // Wait for the name to be set (the launcher runs before any output).
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`replay exited early (${String(code)})`)));
    });
    assert.equal(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'aegisbpf');
    const pgrep = spawnSync('pgrep', ['aegisbpf'], { encoding: 'utf8' });
    assert.ok(pgrep.stdout.split('\n').includes(String(pid)), `pgrep aegisbpf lists ${pid}: ${pgrep.stdout}`);
    const exact = spawnSync('pgrep', ['-x', 'aegisbpf'], { encoding: 'utf8' });
    assert.ok(exact.stdout.split('\n').includes(String(pid)), 'pgrep -x aegisbpf too');
    const ps = spawnSync('ps', ['-o', 'comm=,args=', '-p', String(pid)], { encoding: 'utf8' });
    assert.match(ps.stdout.trim(), /^aegisbpf\s+\S*node .*bin\/aegisbpf\.js replay samples\/events\.ndjson --loop/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
  }
});
