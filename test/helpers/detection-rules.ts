/**
 * The Kibana rule JSON files under rules/elastic/detection-rules/kibana/ are the source of truth; the
 * elastic/detection-rules TOML files under ../toml/ are generated from them (AEGIS_UPDATE_GOLDEN=1 rewrites them; a
 * test compares byte for byte and parses them back with Python's tomllib).
 *
 * TOML layout as elastic/detection-rules writes it: `[metadata]` (creation_date, maturity, updated_date),
 * `[rule]` with the rule's keys (no `version`: that repository tracks versions in a lock file),
 * `[rule.threshold]`, and `[[rule.threat]]` tables with `[rule.threat.tactic]`, `[[rule.threat.technique]]` and
 * `[[rule.threat.technique.subtechnique]]`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { packagePath } from '../../src/util/paths';

export interface Technique {
  readonly id: string;
  readonly name: string;
  readonly reference: string;
  readonly subtechnique?: readonly { readonly id: string; readonly name: string; readonly reference: string }[];
}

export interface KibanaRule {
  readonly rule_id: string;
  readonly name: string;
  readonly description: string;
  readonly type: string;
  readonly language: string;
  readonly query: string;
  readonly threshold?: { readonly field: readonly string[]; readonly value: number };
  readonly index: readonly string[];
  readonly from: string;
  readonly interval: string;
  readonly risk_score: number;
  readonly severity: string;
  readonly max_signals: number;
  readonly enabled: boolean;
  readonly author: readonly string[];
  readonly license: string;
  readonly version: number;
  readonly tags: readonly string[];
  readonly threat: readonly {
    readonly framework: string;
    readonly tactic: { readonly id: string; readonly name: string; readonly reference: string };
    readonly technique: readonly Technique[];
  }[];
  readonly false_positives: readonly string[];
  readonly note: string;
}

export const RULES_DIR = packagePath('rules', 'elastic', 'detection-rules');

export function loadKibanaRules(): { file: string; rule: KibanaRule }[] {
  const dir = path.join(RULES_DIR, 'kibana');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      file: f.replace(/\.json$/, ''),
      rule: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as KibanaRule,
    }));
}

export interface Sample {
  readonly name: string;
  readonly expect: 'alert' | 'match' | 'none';
  readonly count?: number;
  readonly event: Record<string, unknown>;
}

export function loadSamples(ruleFile: string): Sample[] {
  return (
    JSON.parse(fs.readFileSync(path.join(RULES_DIR, 'samples', `${ruleFile}.json`), 'utf8')) as { samples: Sample[] }
  ).samples;
}

/** The TOML file name elastic/detection-rules would use: `<first tactic>_<name>.toml`. */
export function tomlFileName(file: string, rule: KibanaRule): string {
  const tactic = (rule.threat[0]?.tactic.name ?? 'other').toLowerCase().replace(/[^a-z0-9]+/g, '_');
  return `${tactic}_${file.replace(/^aegisbpf-/, '').replace(/-/g, '_')}.toml`;
}

// TOML basic strings: escape backslash, quote and control characters. Multi-line values use ''' literals when
// they contain no ''' (the detection-rules convention for queries and descriptions).
const basic = (s: string): string =>
  '"' +
  s.replace(/[\\"\u0000-\u001f\u007f]/g, (c) =>
    c === '\\'
      ? '\\\\'
      : c === '"'
        ? '\\"'
        : c === '\n'
          ? '\\n'
          : c === '\t'
            ? '\\t'
            : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  ) +
  '"';
const literalBlock = (s: string): string => {
  if (s.includes("'''") || /[\u0000-\u0008\u000b-\u001f\u007f]/.test(s)) return basic(s);
  return `'''\n${s}'''`;
};
const array = (xs: readonly string[]): string => (xs.length === 0 ? '[]' : `[${xs.map(basic).join(', ')}]`);

export function kibanaRuleToToml(
  rule: KibanaRule,
  dates: { readonly created: string; readonly updated: string },
): string {
  const lines: string[] = [];
  lines.push(
    '[metadata]',
    `creation_date = ${basic(dates.created)}`,
    'maturity = "production"',
    `updated_date = ${basic(dates.updated)}`,
    '',
  );
  lines.push('[rule]');
  lines.push(`author = ${array(rule.author)}`);
  lines.push(`description = ${literalBlock(rule.description)}`);
  lines.push(`false_positives = ${array(rule.false_positives)}`);
  lines.push(`from = ${basic(rule.from)}`);
  lines.push(`index = ${array(rule.index)}`);
  lines.push(`interval = ${basic(rule.interval)}`);
  lines.push(`language = ${basic(rule.language)}`);
  lines.push(`license = ${basic(rule.license)}`);
  lines.push(`max_signals = ${rule.max_signals}`);
  lines.push(`name = ${basic(rule.name)}`);
  lines.push(`note = ${literalBlock(rule.note)}`);
  lines.push(`risk_score = ${rule.risk_score}`);
  lines.push(`rule_id = ${basic(rule.rule_id)}`);
  lines.push(`severity = ${basic(rule.severity)}`);
  lines.push(`tags = ${array(rule.tags)}`);
  lines.push(`type = ${basic(rule.type)}`);
  lines.push(`query = ${literalBlock(rule.query)}`);
  if (rule.threshold !== undefined) {
    lines.push('', '[rule.threshold]', `field = ${array(rule.threshold.field)}`, `value = ${rule.threshold.value}`);
  }
  for (const t of rule.threat) {
    lines.push('', '[[rule.threat]]', `framework = ${basic(t.framework)}`);
    for (const tech of t.technique) {
      lines.push(
        '[[rule.threat.technique]]',
        `id = ${basic(tech.id)}`,
        `name = ${basic(tech.name)}`,
        `reference = ${basic(tech.reference)}`,
      );
      for (const sub of tech.subtechnique ?? []) {
        lines.push(
          '[[rule.threat.technique.subtechnique]]',
          `id = ${basic(sub.id)}`,
          `name = ${basic(sub.name)}`,
          `reference = ${basic(sub.reference)}`,
        );
      }
      lines.push('');
    }
    lines.push(
      '[rule.threat.tactic]',
      `id = ${basic(t.tactic.id)}`,
      `name = ${basic(t.tactic.name)}`,
      `reference = ${basic(t.tactic.reference)}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** The dates written into the TOML metadata (YYYY/MM/DD, as detection-rules writes them). */
export const TOML_DATES = { created: '2026/11/21', updated: '2026/11/21' } as const;
