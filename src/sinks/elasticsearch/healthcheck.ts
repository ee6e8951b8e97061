/**
 * The Elasticsearch healthcheck asks what a send needs: is the cluster reachable with these credentials, is its
 * version one this sink speaks (8.x, 9.x), and does the write target exist or can it be created as intended (an
 * index template matches the name, so the documents get the aegisbpf mapping instead of a dynamic one)?
 *
 * `GET /` is not used for the version: clusters without the rest-root module (like the test distribution) answer
 * 405 there; `GET /_nodes/_local` is the fallback. A least-privilege writer (create_doc only) may not read
 * templates: a 403 on the target checks is reported in the log and not counted as unhealthy; the first write
 * tells the truth.
 */
import type { Logger } from '../../util/logger';
import type { HealthResult } from '../core/types';
import type { Client } from './client';
import { rawRequest } from './client';
import type { ElasticsearchSinkConfig } from './config';
import { requestErrorReason } from './retry-policy';
import { indexName } from './target';

export interface ServerVersion {
  readonly major: number;
  readonly minor: number;
  readonly number?: string;
}

export const SUPPORTED_MAJORS: readonly number[] = [8, 9];

function parseVersion(v: unknown): ServerVersion | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m === null ? undefined : { major: Number(m[1]), minor: Number(m[2]), number: v };
}

/** The cluster's version: `GET /`, else the local node's (`GET /_nodes/_local`). Throws when neither answers. */
export async function fetchVersion(client: Client, signal?: AbortSignal): Promise<ServerVersion> {
  const root = await rawRequest(client, { method: 'GET', path: '/', ...(signal === undefined ? {} : { signal }) });
  if (root.ok && root.status === 200) {
    const v = parseVersion((root.body as { version?: { number?: unknown } } | null)?.version?.number);
    if (v !== undefined) return v;
  }
  const nodes = await rawRequest(client, {
    method: 'GET',
    path: '/_nodes/_local',
    querystring: { filter_path: 'nodes.*.version' },
    ...(signal === undefined ? {} : { signal }),
  });
  if (nodes.ok && nodes.status === 200) {
    const first = Object.values(
      (nodes.body as { nodes?: Record<string, { version?: unknown }> } | null)?.nodes ?? {},
    )[0];
    const v = parseVersion(first?.version);
    if (v !== undefined) return v;
  }
  const why = !nodes.ok ? String(nodes.error) : requestErrorReason(nodes.status, nodes.body);
  throw new Error(`cannot determine the Elasticsearch version: ${why}`);
}

export interface HealthReport {
  readonly health: HealthResult;
  readonly version?: ServerVersion;
}

export async function checkElasticsearchHealth(
  client: Client,
  config: ElasticsearchSinkConfig,
  signal: AbortSignal,
  logger?: Logger,
): Promise<HealthReport> {
  const unhealthy = (reason: string, version?: ServerVersion): HealthReport => ({
    health: { healthy: false, reason },
    ...(version === undefined ? {} : { version }),
  });

  const health = await rawRequest(client, {
    method: 'GET',
    path: '/_cluster/health',
    querystring: { filter_path: 'status,cluster_name' },
    signal,
  });
  if (!health.ok)
    return unhealthy(
      `cannot reach Elasticsearch at ${config.urls.join(', ')}: ${health.error instanceof Error ? health.error.message : String(health.error)}`,
    );
  if (health.status === 401 || health.status === 403)
    return unhealthy(
      `${requestErrorReason(health.status, health.body)}: check api_key / username / password and the role (needs cluster monitor)`,
    );
  if (health.status !== 200) return unhealthy(requestErrorReason(health.status, health.body));
  if ((health.body as { status?: unknown } | null)?.status === 'red')
    logger?.warn('Elasticsearch cluster health is red; some writes may fail and be retried.', {});

  let version: ServerVersion;
  try {
    version = await fetchVersion(client, signal);
  } catch (err) {
    return unhealthy(err instanceof Error ? err.message : String(err));
  }
  if (!SUPPORTED_MAJORS.includes(version.major)) {
    return unhealthy(
      `Elasticsearch ${version.number ?? `${version.major}.${version.minor}`} is not supported (supported: ${SUPPORTED_MAJORS.map((m) => `${m}.x`).join(', ')})`,
      version,
    );
  }

  const target =
    config.target.kind === 'data_stream'
      ? config.target.name
      : indexName(config.target.pattern, new Date().toISOString());
  const resolved = await rawRequest(client, {
    method: 'GET',
    path: `/_resolve/index/${encodeURIComponent(target)}`,
    signal,
  });
  if (resolved.ok && resolved.status === 200) {
    const body = resolved.body as {
      indices?: { name?: string }[];
      data_streams?: { name?: string }[];
      aliases?: { name?: string }[];
    };
    const isStream = (body.data_streams ?? []).some((d) => d.name === target);
    const isIndex = (body.indices ?? []).some((d) => d.name === target);
    const isAlias = (body.aliases ?? []).some((d) => d.name === target);
    if (config.target.kind === 'data_stream') {
      if (isStream) return { health: { healthy: true }, version };
      if (isIndex || isAlias)
        return unhealthy(
          `${target} exists as a regular index or alias, not a data stream: writes cannot go to a data stream of that name`,
          version,
        );
    } else if (isIndex || isAlias || isStream) {
      return { health: { healthy: true }, version };
    }
  } else if (resolved.ok && resolved.status === 403) {
    logger?.info(
      'The Elasticsearch credentials may not read index metadata; the write target is checked by the first write instead.',
      { target },
    );
    return { health: { healthy: true }, version };
  }

  // The target does not exist yet: will a template give it the intended mapping (and make it a data stream)?
  const simulated = await rawRequest(client, {
    method: 'POST',
    path: `/_index_template/_simulate_index/${encodeURIComponent(target)}`,
    signal,
  });
  if (!simulated.ok)
    return unhealthy(
      `checking the index template for ${target} failed: ${simulated.error instanceof Error ? simulated.error.message : String(simulated.error)}`,
      version,
    );
  if (simulated.status === 403) {
    logger?.info(
      'The Elasticsearch credentials may not read index templates; the write target is checked by the first write instead.',
      { target },
    );
    return { health: { healthy: true }, version };
  }
  if (simulated.status !== 200)
    return unhealthy(
      `checking the index template for ${target}: ${requestErrorReason(simulated.status, simulated.body)}`,
      version,
    );
  const template = (simulated.body as { template?: { mappings?: { properties?: Record<string, unknown> } } } | null)
    ?.template;
  if (template === undefined) {
    return unhealthy(
      `no index template matches ${target}: documents would get a dynamic mapping. Install the aegisbpf templates: aegisbpf rules install elastic --url … (or set install_content: true)`,
      version,
    );
  }
  if (template.mappings?.properties?.['@timestamp'] === undefined) {
    return unhealthy(
      `the index template matching ${target} does not map @timestamp: it is not the aegisbpf template (aegisbpf rules install elastic)`,
      version,
    );
  }
  return { health: { healthy: true }, version };
}
