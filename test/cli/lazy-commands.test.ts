/**
 * Commands are loaded only when they run (src/cli/registry.ts): the registry's names and the commands agree, and
 * the light commands an orchestrator runs often (`health --ready`, `--help`) load none of the heavy libraries.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { COMMANDS } from '../../src/cli/registry';
import { packagePath } from '../../src/util/paths';

void test('every registry entry loads the command of its name', () => {
  assert.ok(COMMANDS.length >= 10);
  for (const entry of COMMANDS) {
    const command = entry.load();
    assert.equal(command.name, entry.name);
    assert.equal(typeof command.run, 'function');
    assert.ok(command.usage.includes(`aegisbpf ${entry.name}`), `${entry.name}: usage names the command`);
  }
});

/** The packages a CLI invocation loaded (by node_modules directory), run in a child so nothing is cached yet. */
function packagesLoadedBy(argv: readonly string[]): string[] {
  const script = `
    const main = require(${JSON.stringify(packagePath('dist', 'src', 'cli', 'main.js'))}).main;
    const sink = { write: () => true };
    main(${JSON.stringify(argv)}, { stdout: sink, stderr: sink, env: {} }).then(() => {
      const pkgs = new Set();
      for (const f of Object.keys(require.cache)) {
        const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f);
        if (m) pkgs.add(m[1]);
      }
      process.stdout.write(JSON.stringify([...pkgs].sort()));
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

void test('health --ready and --help load no YAML parser, validator, metrics library or SIEM client', () => {
  const heavy = ['ajv', 'yaml', 'prom-client', '@elastic/elasticsearch', 'undici'];
  for (const argv of [['health', '--ready', '--socket', '/nonexistent/aegisbpf.sock'], ['--help']]) {
    const loaded = packagesLoadedBy(argv);
    assert.deepEqual(
      loaded.filter((p) => heavy.includes(p)),
      [],
      `aegisbpf ${argv.join(' ')} loaded ${loaded.join(', ')}`,
    );
  }
  // The check can see a load: validate does need ajv and yaml.
  const validate = packagesLoadedBy(['validate', packagePath('examples', 'does-not-exist.yml')]);
  assert.ok(validate.includes('ajv') || validate.includes('yaml'), `validate loaded ${validate.join(', ')}`);
});

void test('a command whose module cannot be loaded fails like a command: one FATAL line, exit 1', () => {
  // Make loading the stats command throw (as a missing file or a broken install would), then run it.
  const script = `
    const Module = require('node:module');
    const load = Module._load;
    Module._load = function (request, parent, isMain) {
      if (request === './commands/stats') throw Object.assign(new Error('simulated: cannot load the stats command'), { code: 'MODULE_NOT_FOUND' });
      return load.call(this, request, parent, isMain);
    };
    const lines = [];
    const err = { write: (s) => { lines.push(String(s)); return true; } };
    require(${JSON.stringify(packagePath('dist', 'src', 'cli', 'main.js'))})
      .main(['stats'], { stdout: { write: () => true }, stderr: err, env: {} })
      .then((code) => process.stdout.write(JSON.stringify({ code, lines })));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { code, lines } = JSON.parse(r.stdout) as { code: number; lines: string[] };
  assert.equal(code, 1);
  assert.equal(lines.length, 1);
  const fatal = JSON.parse(lines[0] as string) as { level: string; msg: string; code: string };
  assert.equal(fatal.level, 'FATAL');
  assert.match(fatal.msg, /simulated: cannot load the stats command/);
});
