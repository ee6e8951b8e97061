/**
 * Sigma content in rules/sigma/: the rules pass `sigma check` (sigma-cli from PyPI; the two validators that download
 * MITRE data are left out, offline), every rule converts with both processing pipelines to Lucene (Elasticsearch) and
 * SPL (Splunk), and the Lucene query of every rule, run on a real Elasticsearch (one node for this file) over the
 * json and ecs formatters' output of the rule's samples, finds its positive samples and none of its negatives. The
 * correlation rule (event_count per host) is converted to SPL (the Lucene backend has no correlations) and checked
 * on Elasticsearch by its base rule's query with a per-host count.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { AegisEvent } from '../../src/event/types';
import { isValidEvent } from '../../src/event/validate';
import { formatEcs } from '../../src/formatters/ecs';
import { formatJson } from '../../src/formatters/json';
import { packagePath } from '../../src/util/paths';
import type { ElasticsearchService } from '../helpers/services';
import { startElasticsearch } from '../helpers/services';
import { siemTool } from '../helpers/siem-tools';
import { makeTempDir } from '../helpers/tmp';

const DIR = packagePath('rules', 'sigma');
const RULE_FILES = fs
  .readdirSync(path.join(DIR, 'rules'))
  .filter((f) => f.endsWith('.yml'))
  .sort();
const PIPELINES = {
  json: path.join(DIR, 'pipelines', 'aegisbpf-json.yml'),
  ecs: path.join(DIR, 'pipelines', 'aegisbpf-ecs.yml'),
};
type PipelineName = keyof typeof PIPELINES;

interface SigmaRule {
  title: string;
  id: string;
  name?: string;
  status: string;
  description: string;
  level: string;
  tags: string[];
  falsepositives: string[];
  logsource?: { product?: string; category?: string };
  detection?: Record<string, unknown>;
  correlation?: { type: string; rules: string[]; 'group-by': string[]; timespan: string; condition: { gte?: number } };
}
const rules = new Map(
  RULE_FILES.map((f) => [
    f.replace(/\.yml$/, ''),
    parseYaml(fs.readFileSync(path.join(DIR, 'rules', f), 'utf8')) as SigmaRule,
  ]),
);

interface Samples {
  positives: unknown[];
  negatives: unknown[];
}
const samples = new Map(
  [...rules.keys()].map((stem) => [
    stem,
    JSON.parse(fs.readFileSync(path.join(DIR, 'samples', `${stem}.json`), 'utf8')) as Samples,
  ]),
);

const sigma = siemTool('sigma');
const skipSigma = 'skip' in sigma ? sigma.skip : false;
const tmp = makeTempDir('sigma-');
after(() => tmp.cleanup());

function runSigma(args: string[]): { status: number | null; stdout: string; stderr: string } {
  if ('skip' in sigma) throw new Error(sigma.skip);
  return spawnSync(sigma.path, args, { encoding: 'utf8' });
}

/**
 * Every rule converted at once per (pipeline, target): {stem → query}. The Lucene backend has no correlation rules,
 * so it gets the other files; SPL gets the whole folder (one rule collection, in which the correlation finds its
 * base rule by name).
 */
function convertAll(pipeline: PipelineName, target: 'lucene' | 'splunk'): Map<string, string> {
  const out = path.join(tmp.dir, `${pipeline}-${target}`);
  const files =
    target === 'splunk'
      ? [path.join(DIR, 'rules')]
      : RULE_FILES.filter((f) => rules.get(f.replace(/\.yml$/, ''))?.correlation === undefined).map((f) =>
          path.join(DIR, 'rules', f),
        );
  const r = runSigma(['convert', '-t', target, '-p', PIPELINES[pipeline], '-od', out, ...files]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return new Map(
    fs.readdirSync(out).map((f) => [f.replace(/\.txt$/, ''), fs.readFileSync(path.join(out, f), 'utf8').trim()]),
  );
}

test('every rule has an id, level, ATT&CK tags, false positives, a description, and samples that are valid events', () => {
  const ids = new Set<string>();
  for (const [stem, r] of rules) {
    assert.match(r.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, stem);
    assert.ok(!ids.has(r.id), `${stem}: duplicate id`);
    ids.add(r.id);
    assert.ok(['informational', 'low', 'medium', 'high', 'critical'].includes(r.level), stem);
    assert.ok(
      r.tags.some((t) => /^attack\.t\d{4}(\.\d{3})?$/.test(t)),
      `${stem}: an ATT&CK technique tag`,
    );
    for (const t of r.tags) assert.match(t, /^attack\.([a-z]+(-[a-z]+)*|t\d{4}(\.\d{3})?)$/, `${stem}: ${t}`);
    assert.ok(r.falsepositives.length > 0 && r.description.length > 40, stem);
    const s = samples.get(stem) as Samples;
    assert.ok(s.positives.length > 0 && s.negatives.length > 0, `${stem}: positive and negative samples`);
    for (const x of [...s.positives, ...s.negatives]) {
      const e = (r.correlation === undefined ? x : (x as { event: unknown }).event) as AegisEvent;
      assert.ok(isValidEvent(e), `${stem}: sample is not a valid event: ${JSON.stringify(e)}`);
    }
  }
  // The five Elastic detections and the Splunk saved searches, in Sigma (by the names their descriptions cite).
  const cited = [...rules.values()].map((r) => r.description.replace(/\s+/g, ' ')).join('\n');
  for (const n of [
    'AegisBPF Execution from a World-Writable Directory',
    'AegisBPF Process Killed or Terminated by Policy',
    'AegisBPF Connection to a Denied Address',
    'AegisBPF Sensor Dropped Events',
    'AegisBPF High Block Rate',
    'aegisbpf - Process killed by enforcement',
    'aegisbpf - Execution from a temporary directory',
    'aegisbpf - Shell spawned by a network service',
    'aegisbpf - Outbound connection blocked',
    'aegisbpf - Sensor degraded or dropping events',
    'aegisbpf - Policy changed',
    'aegisbpf - High block rate per host',
  ])
    assert.ok(cited.includes(n), n);
  const splunk = fs.readFileSync(packagePath('rules', 'splunk', 'default', 'savedsearches.conf'), 'utf8');
  for (const m of splunk.matchAll(/^\[(aegisbpf - [^\]]+)\]/gm))
    assert.ok(cited.includes(m[1] as string), `${m[1]} has no Sigma rule`);
});

test('sigma check passes (offline: -x attacktag -x d3_fendtag)', { skip: skipSigma }, () => {
  const r = runSigma(['check', '-x', 'attacktag', '-x', 'd3_fendtag', path.join(DIR, 'rules')]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /Found 0 errors, 0 condition errors and 0 issues/);
});

const converted = new Map<string, Map<string, string>>();
test('every rule converts with each pipeline to Lucene and SPL; the correlation to SPL', { skip: skipSigma }, () => {
  for (const p of Object.keys(PIPELINES) as PipelineName[])
    for (const t of ['lucene', 'splunk'] as const) {
      const q = convertAll(p, t);
      converted.set(`${p}-${t}`, q);
      for (const [stem, r] of rules)
        if (r.correlation === undefined) assert.ok((q.get(stem) ?? '') !== '', `${stem} ${p} ${t}`);
    }
  // Field names land where each pipeline says: the json pipeline the event's names, the ecs pipeline ECS names.
  assert.match(
    converted.get('json-lucene')?.get('proc_creation_lnx_aegisbpf_exec_world_writable_dir') ?? '',
    /^type:exec AND .*exe:/,
  );
  assert.match(
    converted.get('ecs-lucene')?.get('proc_creation_lnx_aegisbpf_exec_world_writable_dir') ?? '',
    /aegisbpf\.type:exec AND .*process\.executable:/,
  );
  for (const [stem, r] of rules) {
    if (r.correlation === undefined) continue;
    const base = [...rules.values()].filter((b) => r.correlation?.rules.includes(b.name ?? ''));
    assert.equal(base.length, r.correlation.rules.length, `${stem}: base rules found by name`);
    for (const p of Object.keys(PIPELINES) as PipelineName[]) {
      const spl = converted.get(`${p}-splunk`)?.get(stem) ?? '';
      assert.match(spl, /\| stats count as event_count by _time (host|host\.name)\b/, `${stem} ${p}`);
      assert.match(spl, new RegExp(`event_count >= ${r.correlation.condition.gte}\\b`));
    }
  }
});

// ---- Elasticsearch -------------------------------------------------------------------------------------------------

let es: ElasticsearchService | undefined;
let esSkip: string | false = skipSigma;
before(async () => {
  if (skipSigma !== false) return;
  const started = await startElasticsearch();
  if (!started.ok) {
    esSkip = started.reason;
    return;
  }
  es = started;
});
after(async () => {
  await es?.stop();
});

async function esCall(method: string, p: string, body?: unknown, ndjson = false): Promise<Record<string, unknown>> {
  const r = await fetch(`${es?.url}${p}`, {
    method,
    headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const j = (await r.json()) as Record<string, unknown>;
  assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${JSON.stringify(j).slice(0, 800)}`);
  return j;
}

/** Sample documents of every rule for one pipeline: {doc, tag: "<stem>:pos|neg:<n>"}. */
function documents(p: PipelineName): { tag: string; doc: unknown }[] {
  const out: { tag: string; doc: unknown }[] = [];
  const render = (e: AegisEvent): unknown => JSON.parse(p === 'json' ? formatJson(e) : formatEcs(e));
  for (const [stem, r] of rules) {
    const s = samples.get(stem) as Samples;
    for (const [kind, list] of [
      ['pos', s.positives],
      ['neg', s.negatives],
    ] as const)
      list.forEach((x, i) => {
        if (r.correlation === undefined) out.push({ tag: `${stem}:${kind}:${i}`, doc: render(x as AegisEvent) });
        else {
          const { count, event } = x as { count: number; event: AegisEvent };
          for (let n = 0; n < count; n++) {
            const ts = new Date(Date.parse(event.ts) + n * 1000).toISOString().replace('Z', '000Z');
            out.push({
              tag: `${stem}:${kind}:${i}`,
              doc: render({ ...event, ts, event_id: `${event.host}:${n}` }),
            });
          }
        }
      });
  }
  return out;
}

test(
  'the Lucene query of every rule finds its positive samples and none of its negatives (json and ecs)',
  { skip: esSkip === false ? false : esSkip },
  async (t) => {
    if (esSkip !== false) return t.skip(esSkip);
    for (const p of Object.keys(PIPELINES) as PipelineName[]) {
      const index = `sigma-${p}`;
      await esCall('PUT', `/${index}`, {
        mappings: {
          date_detection: false,
          dynamic_templates: [{ strings: { match_mapping_type: 'string', mapping: { type: 'keyword' } } }],
          properties: { sample_tag: { type: 'keyword' } },
        },
      });
      const docs = documents(p);
      const bulk = docs
        .map((d) => `{"index":{}}\n${JSON.stringify({ ...(d.doc as object), sample_tag: d.tag })}\n`)
        .join('');
      const b = await esCall('POST', `/${index}/_bulk?refresh=true`, bulk, true);
      assert.equal(b.errors, false, JSON.stringify(b).slice(0, 1500));
      const queries = converted.get(`${p}-lucene`) ?? convertAll(p, 'lucene');
      for (const [stem, r] of rules) {
        const base =
          r.correlation === undefined
            ? stem
            : RULE_FILES.map((f) => f.replace(/\.yml$/, '')).find(
                (s) => rules.get(s)?.name === r.correlation?.rules[0],
              );
        const q = queries.get(base as string) as string;
        const res = (await esCall('POST', `/${index}/_search`, {
          size: 0,
          query: { bool: { must: [{ query_string: { query: q } }], filter: [{ prefix: { sample_tag: `${stem}:` } }] } },
          aggs: { tags: { terms: { field: 'sample_tag', size: 100 } } },
        })) as { aggregations: { tags: { buckets: { key: string; doc_count: number }[] } } };
        const counts = new Map(res.aggregations.tags.buckets.map((x) => [x.key, x.doc_count]));
        const s = samples.get(stem) as Samples;
        if (r.correlation === undefined) {
          const want = s.positives.map((_, i) => `${stem}:pos:${i}`).sort();
          assert.deepEqual([...counts.keys()].sort(), want, `${p} ${stem}: ${q}`);
        } else {
          // event_count >= threshold within the timespan, per group-by value: only the positive groups reach it.
          const threshold = r.correlation.condition.gte as number;
          const reached = [...counts].filter(([, n]) => n >= threshold).map(([k]) => k.split(':')[1]);
          assert.deepEqual([...new Set(reached)], ['pos'], `${p} ${stem}: ${JSON.stringify([...counts])}`);
        }
      }
    }
  },
);
