/**
 * `aegisbpf debug bundle` and `aegisbpf debug profile` (the Blixard monitoring guide's forms): what support asks for,
 * collected from the running daemon over its control socket.
 *
 * bundle: a .tar.gz with manifest.json (what is in it, and why a part is missing), health.json (the daemon's
 * readiness), kernel-features.json (the feature probe, `aegisbpf health --json`), stats.json, config.json (the
 * running configuration, secrets redacted by the daemon), policy.json (the applied and previous policy from the
 * state directory), and with --include-metrics metrics.prom, with --include-logs logs.ndjson (the daemon's recent
 * log lines). Everything leaves the host, so it holds no secret: the daemon redacts the configuration and scrubs
 * the log lines of the secret values, and this command scrubs every file again of any value the configuration
 * marked secret.
 *
 * profile: a V8 CPU profile of the running daemon for --duration (node:inspector inside the daemon, started and
 * stopped through the control socket; no inspector port is opened), written as a .cpuprofile file that Chrome
 * DevTools (Performance > Load profile) and speedscope open.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveControlSocketPath } from '../../config/endpoints';
import { controlGet } from '../../daemon/control-client';
import { probeFeatures } from '../../sensor/feature-probe';
import { createPolicyStore } from '../../sensor/policy/policy-store';
import { AegisError, describeError } from '../../util/errors';
import { EXIT } from '../../util/exit-codes';
import { tarGzip } from '../../util/tar';
import type { TarEntry } from '../../util/tar';
import { parseCommandArgs } from '../args';
import type { Command, CommandIo } from '../command';
import { defaultDataDir } from '../default-config';
import { aegisVersion } from '../version';

const USAGE = `Usage: aegisbpf debug bundle [--include-logs] [--include-metrics] --output FILE.tar.gz [--socket PATH] [--state-dir DIR]
       aegisbpf debug profile [--duration 30s] --output FILE.cpuprofile [--socket PATH]

bundle   Collect health, kernel features, stats, the configuration (secrets redacted) and the applied policy of the
         running daemon into a .tar.gz (mode 0600); --include-metrics adds its /metrics exposition, --include-logs its
         recent log lines (the last 1000). Parts that cannot be collected are listed in manifest.json with the reason.
profile  A CPU profile of the running daemon for --duration (30s, 500ms, 2m; default 30s, at most 10m), as a
         .cpuprofile for Chrome DevTools or speedscope.

  --socket PATH     the daemon's control socket (default: AEGIS_CONTROL_SOCKET, else /run/aegisbpf/control.sock)
  --state-dir DIR   applied policies (default <data_dir>/policy: /var/lib/aegisbpf/policy as root)

Exit codes: 0 ok; 1 no daemon answers (profile), or the output cannot be written (AEGIS_ERR_DEBUG); 2 usage.`;

const OPTIONS = {
  output: { type: 'string', short: 'o' },
  'include-logs': { type: 'boolean' },
  'include-metrics': { type: 'boolean' },
  duration: { type: 'string' },
  socket: { type: 'string' },
  'state-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** "30s", "500ms", "2m", "30" (seconds) → milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (m === null) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000;
}

function writeOutput(file: string, data: Buffer | string): void {
  try {
    fs.writeFileSync(file, data, { mode: 0o600 });
  } catch (err) {
    throw new AegisError('AEGIS_ERR_DEBUG', `Cannot write ${file}: ${describeError(err)}`, { cause: err });
  }
}

/** Every string in `files` with each secret value replaced (values shorter than 4 characters are not secrets). */
function scrub(text: string, secrets: readonly string[]): string {
  return secrets.filter((s) => s.length >= 4).reduce((t, s) => t.split(s).join('[REDACTED]'), text);
}

/**
 * The secret values this command can know: those of environment variables whose names say secret (…TOKEN,
 * …PASSWORD, …API_KEY), what `${ENV}` references in a configuration resolve to. The daemon has redacted the
 * configuration's own secrets already.
 */
function secretEnvValues(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter(([k, v]) => v !== undefined && /(TOKEN|PASSWORD|PASSPHRASE|SECRET|API_?KEY|PRIVATE_?KEY)/i.test(k))
    .map(([, v]) => v as string);
}

async function bundle(io: CommandIo, values: Record<string, unknown>): Promise<number> {
  const output = values.output as string;
  const socketPath = resolveControlSocketPath(values.socket as string | undefined, io.env);
  const missing: Record<string, string> = {};
  const entries: TarEntry[] = [];
  const add = (name: string, content: string): void => void entries.push({ name, content });
  const fromDaemon = async (name: string, urlPath: string, file: string, json = true): Promise<string | undefined> => {
    const r = await controlGet(socketPath, urlPath);
    if (!r.ok) missing[name] = r.message;
    else if (r.status !== 200 && !(name === 'health' && r.status === 503))
      missing[name] = `the daemon answered ${r.status}: ${r.value.trim().slice(0, 200)}`;
    else {
      add(file, json ? JSON.stringify(JSON.parse(r.value), null, 2) + '\n' : r.value);
      return r.value;
    }
    return undefined;
  };
  await fromDaemon('health', '/v1/ready', 'health.json');
  await fromDaemon('stats', '/v1/stats', 'stats.json');
  const configText = await fromDaemon('config', '/v1/config', 'config.json');
  if (values['include-metrics'] === true) await fromDaemon('metrics', '/v1/metrics', 'metrics.prom', false);
  if (values['include-logs'] === true) {
    const r = await controlGet(socketPath, '/v1/logs');
    if (r.ok && r.status === 200) add('logs.ndjson', (JSON.parse(r.value) as string[]).join('\n') + '\n');
    else missing.logs = r.ok ? `the daemon answered ${r.status}` : r.message;
  }
  try {
    add('kernel-features.json', JSON.stringify(probeFeatures(), null, 2) + '\n');
  } catch (err) {
    missing['kernel-features'] = describeError(err);
  }
  // The state directory: --state-dir, else the running configuration's sensor policy_dir or data_dir, else default.
  let stateDir = values['state-dir'] as string | undefined;
  if (stateDir === undefined && configText !== undefined) {
    const doc = JSON.parse(configText) as {
      data_dir?: unknown;
      sources?: Record<string, { type?: unknown; policy_dir?: unknown }>;
    };
    const sensor = Object.values(doc.sources ?? {}).find((s) => s.type === 'sensor');
    if (typeof sensor?.policy_dir === 'string') stateDir = sensor.policy_dir;
    else if (typeof doc.data_dir === 'string') stateDir = path.join(doc.data_dir, 'policy');
  }
  stateDir = path.resolve(stateDir ?? path.join(defaultDataDir(io.env), 'policy'));
  const store = createPolicyStore(stateDir);
  add(
    'policy.json',
    JSON.stringify(
      { state_dir: stateDir, current: store.current() ?? null, previous: store.previous() ?? null },
      null,
      2,
    ) + '\n',
  );
  const manifest = {
    aegisbpf_version: aegisVersion(),
    created: new Date().toISOString(),
    host: os.hostname(),
    control_socket: socketPath,
    files: [...entries.map((e) => e.name), 'manifest.json'],
    missing,
  };
  add('manifest.json', JSON.stringify(manifest, null, 2) + '\n');
  const secrets = secretEnvValues(io.env);
  const scrubbed = entries.map((e) => ({ ...e, content: scrub(String(e.content), secrets) }));
  const dir = `aegisbpf-debug-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  writeOutput(output, tarGzip(scrubbed.map((e) => ({ ...e, name: `${dir}/${e.name}` }))));
  io.stderr.write(
    `Wrote ${output} (${entries.length} files${
      Object.keys(missing).length > 0
        ? `; missing: ${Object.entries(missing)
            .map(([k, v]) => `${k} (${v})`)
            .join(', ')}`
        : ''
    }).\n`,
  );
  return EXIT.OK;
}

async function profile(io: CommandIo, values: Record<string, unknown>): Promise<number> {
  const durationText = (values.duration as string | undefined) ?? '30s';
  const millis = parseDuration(durationText);
  if (millis === undefined || millis <= 0 || millis > 600_000)
    throw new AegisError(
      'AEGIS_ERR_USAGE',
      `debug profile: --duration must be like 30s, 500ms or 2m, at most 10m (got '${durationText}').`,
    );
  const socketPath = resolveControlSocketPath(values.socket as string | undefined, io.env);
  io.stderr.write(`Profiling the daemon for ${millis / 1000} s …\n`);
  const r = await controlGet(socketPath, `/v1/profile?seconds=${millis / 1000}`, millis + 15_000);
  if (!r.ok || r.status !== 200) {
    io.stderr.write(
      `aegisbpf debug profile: ${r.ok ? `the daemon answered ${r.status}: ${r.value.trim()}` : r.message} (AEGIS_ERR_DEBUG).\n`,
    );
    return EXIT.FAILURE;
  }
  writeOutput(values.output as string, r.value);
  io.stderr.write(`Wrote ${values.output as string} (open it in Chrome DevTools > Performance, or speedscope).\n`);
  return EXIT.OK;
}

export const debugCommand: Command = {
  name: 'debug',
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('debug', argv, OPTIONS, 1);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return EXIT.OK;
    }
    const action = positionals[0];
    if (action !== 'bundle' && action !== 'profile')
      throw new AegisError('AEGIS_ERR_USAGE', `debug: expected bundle or profile. See 'aegisbpf debug --help'.`);
    if (values.output === undefined || values.output === '')
      throw new AegisError('AEGIS_ERR_USAGE', `debug ${action}: --output FILE is required.`);
    if (action === 'bundle' && values.duration !== undefined)
      throw new AegisError('AEGIS_ERR_USAGE', 'debug bundle: --duration belongs to debug profile.');
    if (action === 'profile' && (values['include-logs'] === true || values['include-metrics'] === true))
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        'debug profile: --include-logs and --include-metrics belong to debug bundle.',
      );
    try {
      return action === 'bundle' ? await bundle(io, values) : await profile(io, values);
    } catch (err) {
      if (err instanceof AegisError && err.code === 'AEGIS_ERR_DEBUG') {
        io.stderr.write(`aegisbpf debug ${action}: ${err.message} (AEGIS_ERR_DEBUG).\n`);
        return EXIT.FAILURE;
      }
      throw err;
    }
  },
};
