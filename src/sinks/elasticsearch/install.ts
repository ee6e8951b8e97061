/**
 * Installs aegisbpf's Elastic content (rules/elastic/): ILM policies where the cluster has ILM, component templates,
 * index templates and the ingest pipeline. Idempotent: every body carries `_meta.aegisbpf_sha256`, the hash of the
 * body as installed; a resource whose stored hash matches is left alone (`unchanged`), anything else is PUT.
 *
 * Adapts to what the cluster has, and says so in the report:
 * - no ILM (`GET /_ilm/status` is not 200): policies are skipped and `index.lifecycle.name` is left out of the index
 *   templates (a template naming an unknown setting is rejected);
 * - field types from optional modules missing (`match_only_text`, `wildcard`, `constant_keyword`, …: minimal or
 *   OSS distributions): with `types: auto` the first rejection switches to the reduced types of REDUCED_TYPES,
 *   which search the same way (docs/elastic.md has the table);
 * - ingest processors missing (`GET /_nodes/ingest`): the pipeline is skipped with the list of missing processors.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AegisError } from '../../util/errors';
import { packagePath } from '../../util/paths';
import type { Logger } from '../../util/logger';
import type { Client } from './client';
import { rawRequest } from './client';
import { requestErrorReason } from './retry-policy';

export type JsonObject = { [key: string]: unknown };

export interface ContentItem {
  readonly name: string;
  readonly body: JsonObject;
}

export interface ElasticContent {
  readonly ilmPolicies: readonly ContentItem[];
  readonly componentTemplates: readonly ContentItem[];
  readonly indexTemplates: readonly ContentItem[];
  readonly ingestPipelines: readonly ContentItem[];
}

export const ELASTIC_CONTENT_DIR = packagePath('rules', 'elastic');

function readDir(dir: string): ContentItem[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      name: f.replace(/\.json$/, ''),
      body: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as JsonObject,
    }));
}

/** The content as shipped: file name (without .json) = resource name. */
export function loadElasticContent(dir: string = ELASTIC_CONTENT_DIR): ElasticContent {
  return {
    ilmPolicies: readDir(path.join(dir, 'ilm-policies')),
    componentTemplates: readDir(path.join(dir, 'component-templates')),
    indexTemplates: readDir(path.join(dir, 'index-templates')),
    ingestPipelines: readDir(path.join(dir, 'ingest-pipelines')),
  };
}

/**
 * Field types that need optional Elasticsearch modules, and what they become on a cluster without them. Each
 * replacement indexes the same values and answers the same term, wildcard, prefix and match queries; what is lost
 * is an optimization (storage, leading-wildcard speed) or a guarantee (a constant value).
 */
export const REDUCED_TYPES: Readonly<Record<string, { readonly type: string; readonly drop: readonly string[] }>> = {
  match_only_text: { type: 'text', drop: [] },
  wildcard: { type: 'keyword', drop: [] },
  constant_keyword: { type: 'keyword', drop: ['value'] },
  scaled_float: { type: 'double', drop: ['scaling_factor'] },
  unsigned_long: { type: 'long', drop: [] },
  version: { type: 'keyword', drop: [] },
};

/** A copy of a template body with every optional-module field type replaced by its reduced equivalent. */
export function reduceFieldTypes<T>(body: T): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const o = v as JsonObject;
    const out: JsonObject = {};
    const reduced = typeof o.type === 'string' ? REDUCED_TYPES[o.type] : undefined;
    for (const [k, x] of Object.entries(o)) {
      if (reduced !== undefined && reduced.drop.includes(k)) continue;
      out[k] = k === 'type' && reduced !== undefined ? reduced.type : walk(x);
    }
    return out;
  };
  return walk(body) as T;
}

/** A copy of an index template without `index.lifecycle.name` (for clusters without ILM). */
export function withoutLifecycle(body: JsonObject): JsonObject {
  const copy = JSON.parse(JSON.stringify(body)) as JsonObject;
  const index = ((copy.template as JsonObject | undefined)?.settings as JsonObject | undefined)?.index as
    JsonObject | undefined;
  if (index !== undefined) {
    delete index.lifecycle;
    const settings = (copy.template as JsonObject).settings as JsonObject;
    if (Object.keys(index).length === 0) delete settings.index;
    if (Object.keys(settings).length === 0) delete (copy.template as JsonObject).settings;
  }
  return copy;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    return (
      '{' +
      Object.keys(v)
        .sort()
        .map((k) => JSON.stringify(k) + ':' + canonical((v as JsonObject)[k]))
        .join(',') +
      '}'
    );
  }
  return JSON.stringify(v);
}

/** The body with `_meta.aegisbpf_sha256` (and `_meta.aegisbpf_version`) set; ILM policies keep `_meta` inside `policy`. */
export function stamp(
  body: JsonObject,
  version: string,
  metaHolder: 'root' | 'policy' = 'root',
): { body: JsonObject; sha256: string } {
  const copy = JSON.parse(JSON.stringify(body)) as JsonObject;
  const holder = metaHolder === 'policy' ? (copy.policy as JsonObject) : copy;
  const meta: JsonObject = { ...((holder._meta as JsonObject | undefined) ?? {}), aegisbpf_version: version };
  delete meta.aegisbpf_sha256;
  holder._meta = meta;
  const sha256 = crypto.createHash('sha256').update(canonical(copy)).digest('hex');
  holder._meta = { ...meta, aegisbpf_sha256: sha256 };
  return { body: copy, sha256 };
}

export type ItemStatus = 'created' | 'updated' | 'unchanged' | 'skipped';

export interface InstallItem {
  readonly kind: 'ilm_policy' | 'component_template' | 'index_template' | 'ingest_pipeline';
  readonly name: string;
  readonly status: ItemStatus;
  readonly reason?: string;
}

export interface InstallReport {
  readonly items: readonly InstallItem[];
  readonly ilm: boolean;
  readonly types: 'full' | 'reduced';
  /** Items skipped for a reason other than the cluster lacking ILM (which is normal for some clusters). */
  readonly incomplete: boolean;
}

export interface InstallOptions {
  readonly logger?: Logger;
  readonly version: string;
  readonly signal?: AbortSignal;
  /** `auto` (default): full ECS types, reduced when the cluster rejects them. */
  readonly types?: 'auto' | 'full' | 'reduced';
  /** `auto` (default): install ILM policies when the cluster has ILM. `off`: never. */
  readonly ilm?: 'auto' | 'off';
  readonly content?: ElasticContent;
}

export class InstallError extends AegisError {
  constructor(message: string) {
    super('AEGIS_ERR_SIEM_CONTENT', message);
    this.name = 'InstallError';
  }
}

const MISSING_MAPPER = /The mapper type \[([a-z_]+)\] declared on field/;

interface Endpoint {
  readonly kind: InstallItem['kind'];
  readonly path: (name: string) => string;
  /** The stored `_meta.aegisbpf_sha256` from a GET answer, if any. */
  readonly storedHash: (body: unknown, name: string) => string | undefined;
}

const getMeta = (o: unknown): string | undefined => {
  const h = (o as { _meta?: { aegisbpf_sha256?: unknown } } | undefined)?._meta?.aegisbpf_sha256;
  return typeof h === 'string' ? h : undefined;
};

const ENDPOINTS: Record<InstallItem['kind'], Endpoint> = {
  ilm_policy: {
    kind: 'ilm_policy',
    path: (n) => `/_ilm/policy/${encodeURIComponent(n)}`,
    storedHash: (b, n) => getMeta((b as Record<string, { policy?: unknown }> | null)?.[n]?.policy),
  },
  component_template: {
    kind: 'component_template',
    path: (n) => `/_component_template/${encodeURIComponent(n)}`,
    storedHash: (b) =>
      getMeta(
        (b as { component_templates?: { component_template?: unknown }[] } | null)?.component_templates?.[0]
          ?.component_template,
      ),
  },
  index_template: {
    kind: 'index_template',
    path: (n) => `/_index_template/${encodeURIComponent(n)}`,
    storedHash: (b) =>
      getMeta((b as { index_templates?: { index_template?: unknown }[] } | null)?.index_templates?.[0]?.index_template),
  },
  ingest_pipeline: {
    kind: 'ingest_pipeline',
    path: (n) => `/_ingest/pipeline/${encodeURIComponent(n)}`,
    storedHash: (b, n) => getMeta((b as Record<string, unknown> | null)?.[n]),
  },
};

/** Processor types a pipeline body uses (on_failure handlers included). */
export function pipelineProcessorTypes(body: JsonObject): string[] {
  const out = new Set<string>();
  const walk = (list: unknown): void => {
    if (!Array.isArray(list)) return;
    for (const p of list) {
      if (p === null || typeof p !== 'object') continue;
      for (const [type, opts] of Object.entries(p as JsonObject)) {
        out.add(type);
        walk((opts as JsonObject | null)?.on_failure);
      }
    }
  };
  walk(body.processors);
  walk(body.on_failure);
  return [...out].sort();
}

export async function installElasticContent(client: Client, options: InstallOptions): Promise<InstallReport> {
  const content = options.content ?? loadElasticContent();
  const signal = options.signal;
  const log = options.logger;
  const items: InstallItem[] = [];
  const req = (spec: Parameters<typeof rawRequest>[1]) =>
    rawRequest(client, signal === undefined ? spec : { ...spec, signal });
  const fail = (what: string, res: Awaited<ReturnType<typeof rawRequest>>): never => {
    throw new InstallError(
      `${what}: ${res.ok ? requestErrorReason(res.status, res.body) : res.error instanceof Error ? res.error.message : String(res.error)}`,
    );
  };

  /**
   * PUT a stamped body unless the stored hash matches. `alsoUnchanged` lists hashes of equivalent bodies that also
   * count as installed (the reduced-types variant under `types: auto`). Returns the status, or the failed response.
   */
  const put = async (
    endpoint: Endpoint,
    name: string,
    body: JsonObject,
    alsoUnchanged: readonly string[] = [],
  ): Promise<{ status: ItemStatus; storedHash?: string } | { failed: Awaited<ReturnType<typeof rawRequest>> }> => {
    const { body: stamped, sha256 } = stamp(body, options.version, endpoint.kind === 'ilm_policy' ? 'policy' : 'root');
    const current = await req({ method: 'GET', path: endpoint.path(name) });
    if (!current.ok) return { failed: current };
    const exists = current.status === 200;
    const stored = exists ? endpoint.storedHash(current.body, name) : undefined;
    if (stored !== undefined && (stored === sha256 || alsoUnchanged.includes(stored)))
      return { status: 'unchanged', storedHash: stored };
    if (!exists && current.status !== 404) return { failed: current };
    const res = await req({ method: 'PUT', path: endpoint.path(name), body: stamped });
    if (!res.ok || res.status < 200 || res.status >= 300) return { failed: res };
    return { status: exists ? 'updated' : 'created' };
  };

  // ILM: available?
  let ilm = false;
  if (options.ilm !== 'off') {
    const status = await req({ method: 'GET', path: '/_ilm/status' });
    if (!status.ok) fail('checking for ILM', status);
    ilm = status.ok && status.status === 200;
    if (status.ok && status.status === 403) ilm = true; // cannot tell: try, and let the PUT report the privileges
  }
  for (const p of content.ilmPolicies) {
    if (!ilm) {
      items.push({
        kind: 'ilm_policy',
        name: p.name,
        status: 'skipped',
        reason:
          options.ilm === 'off'
            ? 'ILM disabled by option'
            : 'the cluster has no ILM (GET /_ilm/status did not answer 200)',
      });
      continue;
    }
    const r = await put(ENDPOINTS.ilm_policy, p.name, p.body);
    if ('failed' in r) fail(`installing ILM policy ${p.name}`, r.failed);
    else items.push({ kind: 'ilm_policy', name: p.name, status: r.status });
  }

  // Component templates, full types first unless told otherwise.
  let types: 'full' | 'reduced' = options.types === 'reduced' ? 'reduced' : 'full';
  const prepare = (body: JsonObject): JsonObject => (types === 'reduced' ? reduceFieldTypes(body) : body);
  const installTemplate = async (
    endpoint: Endpoint,
    item: ContentItem,
    transform: (b: JsonObject) => JsonObject,
  ): Promise<void> => {
    // Under `auto`, a template installed earlier with reduced types is as good as the full one on this cluster.
    const reducedHash =
      options.types === undefined || options.types === 'auto'
        ? stamp(reduceFieldTypes(transform(item.body)), options.version).sha256
        : undefined;
    let r = await put(
      endpoint,
      item.name,
      prepare(transform(item.body)),
      reducedHash === undefined ? [] : [reducedHash],
    );
    if (
      !('failed' in r) &&
      r.status === 'unchanged' &&
      reducedHash !== undefined &&
      r.storedHash === reducedHash &&
      types === 'full'
    ) {
      const full = stamp(transform(item.body), options.version).sha256;
      if (full !== reducedHash) types = 'reduced';
    }
    if ('failed' in r && types === 'full' && options.types !== 'full' && r.failed.ok && r.failed.status === 400) {
      const m = MISSING_MAPPER.exec(JSON.stringify(r.failed.body));
      if (m !== null) {
        log?.warn(
          'The cluster lacks an optional field type; installing the templates with reduced types (docs/elastic.md).',
          { missingType: m[1], template: item.name },
        );
        types = 'reduced';
        r = await put(endpoint, item.name, prepare(transform(item.body)));
      }
    }
    if ('failed' in r) fail(`installing ${endpoint.kind.replace('_', ' ')} ${item.name}`, r.failed);
    else items.push({ kind: endpoint.kind, name: item.name, status: r.status });
  };
  for (const c of content.componentTemplates) await installTemplate(ENDPOINTS.component_template, c, (b) => b);
  for (const t of content.indexTemplates)
    await installTemplate(ENDPOINTS.index_template, t, (b) => (ilm ? b : withoutLifecycle(b)));

  // Ingest pipelines: only where the processors exist.
  let available: Set<string> | undefined;
  const nodes = await req({
    method: 'GET',
    path: '/_nodes/ingest',
    querystring: { filter_path: 'nodes.*.ingest.processors.type' },
  });
  if (nodes.ok && nodes.status === 200) {
    available = new Set<string>();
    const all = Object.values(
      (nodes.body as { nodes?: Record<string, { ingest?: { processors?: { type?: string }[] } }> } | null)?.nodes ?? {},
    );
    // A processor is usable when every ingest node has it.
    const per = all.map(
      (n) => new Set((n.ingest?.processors ?? []).map((p) => p.type).filter((t): t is string => typeof t === 'string')),
    );
    for (const t of per[0] ?? []) if (per.every((s) => s.has(t))) available.add(t);
  }
  for (const p of content.ingestPipelines) {
    const missing = available === undefined ? [] : pipelineProcessorTypes(p.body).filter((t) => !available.has(t));
    if (missing.length > 0) {
      items.push({
        kind: 'ingest_pipeline',
        name: p.name,
        status: 'skipped',
        reason: `the cluster's ingest nodes lack the processors ${missing.join(', ')}`,
      });
      continue;
    }
    const r = await put(ENDPOINTS.ingest_pipeline, p.name, p.body);
    if ('failed' in r) fail(`installing ingest pipeline ${p.name}`, r.failed);
    else items.push({ kind: 'ingest_pipeline', name: p.name, status: r.status });
  }

  const incomplete = items.some((i) => i.status === 'skipped' && i.kind !== 'ilm_policy');
  const report: InstallReport = { items, ilm, types, incomplete };
  log?.info('Elastic content installed.', {
    ilm,
    types,
    changed: items.filter((i) => i.status === 'created' || i.status === 'updated').map((i) => `${i.kind}:${i.name}`),
    skipped: items.filter((i) => i.status === 'skipped').map((i) => `${i.kind}:${i.name}`),
  });
  return report;
}
