/**
 * The OpenAPI 3.1 document of the REST API, built from the route table (./routes.ts): the same JSON Schemas the
 * server validates queries and bodies with, the permission each route needs (`x-aegis-permission`), and the one
 * error shape. Nothing here is written by hand per route, so the document cannot drift from the handlers.
 */
import type { RouteSpec } from './routes';

const ERROR_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'A stable code from docs/errors.md (AEGIS_ERR_…).' },
        message: { type: 'string' },
      },
    },
  },
};

const errorRef = (description: string): Record<string, unknown> => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

export function buildOpenApi(routes: readonly RouteSpec[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const parameters: Record<string, unknown>[] = [];
    for (const m of r.path.matchAll(/\{([a-z_]+)\}/g))
      parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string', minLength: 1 } });
    const props = (r.query?.properties ?? {}) as Record<string, unknown>;
    for (const [name, schema] of Object.entries(props)) parameters.push({ name, in: 'query', required: false, schema });
    const responses: Record<string, unknown> = {
      [r.method === 'POST' && r.path.endsWith('/blocklist') ? '201' : '200']: {
        description: 'OK',
        content: { 'application/json': { schema: { type: 'object' } } },
      },
      '400': errorRef(
        'Invalid parameter or body (AEGIS_ERR_API_BAD_REQUEST, AEGIS_ERR_POLICY_INVALID, …); nothing changed.',
      ),
      '404': errorRef('No such route or entry (AEGIS_ERR_API_NOT_FOUND).'),
      '405': errorRef('Method not allowed (AEGIS_ERR_API_METHOD).'),
      '500': errorRef('Internal error (AEGIS_ERR_INTERNAL, AEGIS_ERR_AUDIT_WRITE, …).'),
    };
    if (r.permission !== undefined) {
      responses['401'] = errorRef('No key, or a wrong, expired or revoked key (AEGIS_ERR_API_UNAUTHORIZED).');
      responses['403'] = errorRef('The key’s role lacks the permission (AEGIS_ERR_API_FORBIDDEN).');
      responses['429'] = errorRef('Too many failed authentications from this address (AEGIS_ERR_API_RATE_LIMITED).');
    }
    if (r.body !== undefined) {
      responses['413'] = errorRef('Body larger than api.max_body_bytes (AEGIS_ERR_API_TOO_LARGE).');
      responses['415'] = errorRef('Body not application/json (AEGIS_ERR_API_UNSUPPORTED_MEDIA).');
    }
    if (r.auditAction?.startsWith('policy.') === true || r.auditAction === 'blocklist.add') {
      responses['422'] = errorRef(
        'The kernel cannot enforce it or a map would overflow (AEGIS_ERR_POLICY_UNENFORCEABLE, AEGIS_ERR_POLICY_MAP_FULL).',
      );
    }
    if (r.auditAction === 'blocklist.add')
      responses['409'] = errorRef('Already on the blocklist (AEGIS_ERR_API_CONFLICT).');
    (paths[r.path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${r.path.replace(/^\/api\/v1/, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      security: r.permission === undefined ? [] : [{ apiKey: [] }],
      ...(r.permission !== undefined ? { 'x-aegis-permission': r.permission } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(r.body !== undefined
        ? { requestBody: { required: true, content: { 'application/json': { schema: r.body } } } }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'aegisbpf control API',
      version,
      description:
        'Stats, policy, live blocklist, events, audit and analytics (anomalies, forecasts, host metrics) of an aegisbpf daemon. See docs/api.md.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    security: [{ apiKey: [] }],
    paths,
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: '`Authorization: Bearer aegis_ak_…` (aegisbpf auth create-key).',
        },
      },
      schemas: { Error: ERROR_SCHEMA },
    },
  };
}
