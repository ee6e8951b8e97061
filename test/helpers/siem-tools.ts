/**
 * The PyPI tools that check SIEM content (wazuhregex, sigma-cli, splunk-appinspect), as installed by
 * scripts/services/siem-tools.sh into cached virtual environments. A test asks for one tool and skips with the
 * returned reason when it is missing (PyPI unreachable on this machine, or the set-up not run).
 */
import { spawnSync } from 'node:child_process';
import { packagePath } from '../../src/util/paths';

export type SiemTool = 'python_wazuh' | 'sigma' | 'splunk_appinspect';

let info: Map<string, string> | undefined;

function readInfo(): Map<string, string> {
  if (info !== undefined) return info;
  const r = spawnSync('bash', [packagePath('scripts', 'services', 'siem-tools.sh'), 'info'], { encoding: 'utf8' });
  info = new Map();
  for (const line of (r.stdout ?? '').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) info.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return info;
}

/** The tool's path, or a skip reason. */
export function siemTool(tool: SiemTool): { path: string } | { skip: string } {
  const p = readInfo().get(tool) ?? '';
  if (p !== '') return { path: p };
  return {
    skip: `${tool} is not installed (bash scripts/services/siem-tools.sh install: PyPI packages in ${readInfo().get('root') ?? '~/.cache/aegisbpf/pytools'})`,
  };
}
