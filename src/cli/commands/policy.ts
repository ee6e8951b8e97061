/**
 * `aegisbpf policy apply FILE | rollback | show`: the sensor's enforcement policy (docs/enforcement.md).
 *
 * The policy goes into the maps a running sensor pinned (`--pin-dir`), all or nothing, and into the state directory
 * (`--state-dir`), which a sensor reads when it starts. With no running sensor, apply stores the policy and says
 * that it takes effect at the next start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadNative } from '../../native/binding';
import { DEFAULT_PIN_DIR } from '../../sensor/bpf-object';
import { SensorError } from '../../native/errors';
import type { FeatureReport } from '../../sensor/feature-probe';
import { probeFeatures } from '../../sensor/feature-probe';
import type { ApplyResult, PolicyEngine } from '../../sensor/policy/policy-engine';
import { createPolicyEngine } from '../../sensor/policy/policy-engine';
import type { PolicyMapSet } from '../../sensor/policy/policy-maps';
import { closePolicyMaps, openPinnedPolicyMaps } from '../../sensor/policy/policy-maps';
import { keepBlocklistRules } from '../../sensor/policy/blocklist-layer';
import type { PolicyStore } from '../../sensor/policy/policy-store';
import { createPolicyStore } from '../../sensor/policy/policy-store';
import { createSpanTracer } from '../../telemetry/spans';
import { AegisError, isAegisError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import { createLogger } from '../../util/logger';
import { parseCommandArgs } from '../args';
import type { Command, CommandIo } from '../command';
import { defaultDataDir } from '../default-config';
import { EXIT } from '../../util/exit-codes';

const USAGE = `Usage: aegisbpf policy apply FILE [--replace-blocklist] | rollback | show [--state-dir DIR] [--pin-dir DIR] [--json]

  apply FILE   Validate FILE, check it against what this kernel can enforce (refusing, with the reason, any rule
               it cannot, unless the rule names a fallback), then write it into the running sensor's maps, all or
               nothing. Stored in the state directory either way; a sensor applies it when it starts.
               Blocklist entries added over the REST API (rules blocklist-…) are kept on top of FILE;
               --replace-blocklist drops them (FILE is then the whole policy).
  rollback     Re-apply the previously applied policy.
  show         The applied policy (with each rule's hits when a sensor runs), the previous one, and what the
               kernel holds (mode, entries per map).

  --state-dir DIR  applied policies (default <data_dir>/policy: /var/lib/aegisbpf/policy as root)
  --pin-dir DIR    where the running sensor pinned its maps (default ${DEFAULT_PIN_DIR})
  --json           machine-readable output

The policy format is in docs/enforcement.md. Needs root. Exit codes: 0 applied, 1 refused or failed, 2 usage or an
invalid policy file.`;

const OPTIONS = {
  'state-dir': { type: 'string' },
  'pin-dir': { type: 'string' },
  json: { type: 'boolean' },
  'replace-blocklist': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Session {
  readonly engine: PolicyEngine;
  readonly store: PolicyStore;
  readonly features: FeatureReport;
  readonly maps: PolicyMapSet | undefined;
  close(): void;
}

function openSession(stateDir: string, pinDir: string, logger: Logger): Session {
  if (process.geteuid?.() !== 0)
    throw new AegisError('AEGIS_ERR_USAGE', 'policy: needs root (it probes the kernel and writes BPF maps).');
  const native = loadNative();
  const features = probeFeatures({ native });
  const maps = openPinnedPolicyMaps(native, pinDir);
  const store = createPolicyStore(stateDir);
  const engine = createPolicyEngine({
    log: (level, message, fields) => logger[level](message, fields),
    store,
    capabilities: features.capabilities,
    ...(maps !== undefined ? { maps } : {}),
    ...(features.cgroupV2.path !== undefined ? { cgroupRoot: features.cgroupV2.path } : {}),
  });
  return { engine, store, features, maps, close: () => maps !== undefined && closePolicyMaps(maps) };
}

function printApply(io: CommandIo, result: ApplyResult, json: boolean, kept: number | undefined): void {
  if (json) {
    io.stdout.write(
      JSON.stringify(kept === undefined ? result : { ...result, blocklist_entries_kept: kept }, null, 2) + '\n',
    );
    return;
  }
  io.stdout.write(`${result.message}\n`);
  if (kept !== undefined && kept > 0)
    io.stdout.write(
      `Kept ${kept} blocklist ${kept === 1 ? 'entry' : 'entries'} added over the API (--replace-blocklist drops them).\n`,
    );
  for (const r of result.rules) {
    const fb = r.fallbackUsed ? ` (fallback for ${r.requestedAction})` : '';
    io.stdout.write(`  ${r.id}: ${r.action}${fb} on ${r.target}\n`);
  }
  for (const w of result.warnings) io.stderr.write(`warning: ${w}\n`);
}

const USAGE_CODES = new Set(['AEGIS_ERR_POLICY_INVALID', 'AEGIS_ERR_POLICY_READ', 'AEGIS_ERR_USAGE']);

export const policyCommand: Command = {
  name: 'policy',
  usage: USAGE,
  run(argv, io) {
    const { values, positionals } = parseCommandArgs('policy', argv, OPTIONS, 2);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return Promise.resolve(EXIT.OK);
    }
    const [action, file] = positionals;
    if (action !== 'apply' && action !== 'rollback' && action !== 'show')
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `policy: expected apply FILE, rollback or show. See 'aegisbpf policy --help'.`,
      );
    if (action === 'apply' && file === undefined)
      throw new AegisError('AEGIS_ERR_USAGE', `policy apply: which file? See 'aegisbpf policy --help'.`);
    if (action !== 'apply' && values['replace-blocklist'] === true)
      throw new AegisError('AEGIS_ERR_USAGE', `policy ${action}: --replace-blocklist goes with apply.`);
    if (action !== 'apply' && file !== undefined)
      throw new AegisError('AEGIS_ERR_USAGE', `policy ${action}: unexpected argument '${file}'.`);
    const stateDir = path.resolve(values['state-dir'] ?? path.join(defaultDataDir(io.env), 'policy'));
    const pinDir = path.resolve(values['pin-dir'] ?? DEFAULT_PIN_DIR);
    const json = values.json === true;

    let text = '';
    if (action === 'apply') {
      try {
        text = fs.readFileSync(file as string, 'utf8');
      } catch (err) {
        io.stderr.write(`aegisbpf policy apply: cannot read ${file as string}: ${(err as Error).message}\n`);
        return Promise.resolve(EXIT.USAGE);
      }
    }
    // JSON log lines on stderr: the guide's map-full line and, with AEGIS_OTEL_SPANS=1, the span logs
    // (cli.policy_apply → policy.apply | policy.rollback_last_applied → policy.apply_internal).
    const logger = createLogger({ level: 'INFO', write: (line) => void io.stderr.write(line) });
    const tracer = createSpanTracer({ logger, env: io.env });
    if (action !== 'show')
      return tracer.withSpan('cli.policy_apply', (span) => {
        const session = openSession(stateDir, pinDir, logger);
        try {
          // Under the store's lock, from reading the stored policy (its blocklist entries, its generation) to the
          // new one on disk: a running daemon's blocklist change of the same moment is either seen here or made after.
          const { result, kept } = session.store.withLock(() => {
            if (action !== 'apply') return { result: session.engine.rollback(), kept: undefined };
            let applied = text;
            let carried: number | undefined;
            if (values['replace-blocklist'] !== true) {
              const layered = keepBlocklistRules(text, session.store.current());
              applied = layered.text;
              carried = layered.carried;
            }
            return { result: session.engine.apply(applied, path.resolve(file as string)), kept: carried };
          });
          printApply(io, result, json, kept);
          return Promise.resolve(EXIT.OK);
        } catch (err) {
          if (isAegisError(err) && err.code === 'AEGIS_ERR_POLICY_LOCKED') {
            span.fail(err);
            io.stderr.write(`aegisbpf policy ${action}: ${err.message}\n`);
            return Promise.resolve(EXIT.FAILURE);
          }
          if (err instanceof SensorError) {
            span.fail(err);
            io.stderr.write(`aegisbpf policy ${action}: ${err.message}\n`);
            return Promise.resolve(USAGE_CODES.has(err.code) ? EXIT.USAGE : EXIT.FAILURE);
          }
          throw err;
        } finally {
          session.close();
        }
      });
    const session = openSession(stateDir, pinDir, logger);
    try {
      if (action === 'show') {
        const show = session.engine.show();
        if (json) {
          io.stdout.write(JSON.stringify({ backend: session.features.backend ?? null, ...show }, null, 2) + '\n');
        } else {
          const cur = show.current;
          io.stdout.write(
            cur === undefined
              ? 'No policy applied.\n'
              : `Applied: generation ${cur.generation} from ${cur.source} at ${cur.appliedAt}, mode ${cur.mode}, ${cur.rules.length} rules\n`,
          );
          const hits = show.kernel?.hits;
          for (const r of cur?.rules ?? []) {
            const hit = hits === undefined ? '' : `, ${hits[r.id] ?? 0} hits`;
            io.stdout.write(
              `  ${r.id}: ${r.action}${r.fallbackUsed ? ` (fallback for ${r.requestedAction})` : ''} on ${r.target}${hit}\n`,
            );
          }
          if (show.previous !== undefined)
            io.stdout.write(
              `Previous: generation ${show.previous.generation} from ${show.previous.source} at ${show.previous.appliedAt}\n`,
            );
          if (show.kernel === undefined) io.stdout.write(`Kernel: no running sensor has pinned maps in ${pinDir}\n`);
          else {
            io.stdout.write(
              `Kernel: generation ${show.kernel.generation}, mode ${show.kernel.mode}, backend ${session.features.backend ?? 'none'}\n`,
            );
            for (const m of show.kernel.maps)
              io.stdout.write(`  ${m.map.padEnd(16)} ${String(m.entries).padStart(6)} / ${m.capacity}\n`);
          }
        }
      }
      return Promise.resolve(EXIT.OK);
    } catch (err) {
      if (err instanceof SensorError) {
        io.stderr.write(`aegisbpf policy ${action}: ${err.message}\n`);
        return Promise.resolve(USAGE_CODES.has(err.code) ? EXIT.USAGE : EXIT.FAILURE);
      }
      throw err;
    } finally {
      session.close();
    }
  },
};
