/**
 * The official ECS field definitions, from the `@elastic/ecs` npm package (Elastic's generated ECS definitions,
 * Apache-2.0; a devDependency pinned to the release our `ecs` formatter targets, installed by the test command's
 * `npm ci`). Used to validate formatter output and the index templates against ECS: field names, types, array
 * normalization and allowed values of the categorization fields.
 */
import net from 'node:net';
import { EcsFlat, EcsVersion } from '@elastic/ecs';

export interface EcsFieldDefinition {
  readonly flat_name: string;
  readonly type: string;
  readonly normalize: readonly string[];
  readonly allowed_values?: readonly { readonly name: string; readonly expected_event_types?: readonly string[] }[];
  readonly multi_fields?: readonly { readonly flat_name: string; readonly name: string; readonly type: string }[];
  readonly object_type?: string;
  readonly ignore_above?: number;
  readonly scaling_factor?: number;
}

export const ECS_DEFINITIONS_VERSION: string = EcsVersion;

const FIELDS = EcsFlat as unknown as Readonly<Record<string, EcsFieldDefinition>>;

export function ecsField(name: string): EcsFieldDefinition | undefined {
  return Object.prototype.hasOwnProperty.call(FIELDS, name) ? FIELDS[name] : undefined;
}

export function allowedValues(name: string): string[] {
  return (ecsField(name)?.allowed_values ?? []).map((v) => v.name);
}

/** event.type values ECS expects with an event.category value. */
export function expectedTypesFor(category: string): string[] {
  return [
    ...(ecsField('event.category')?.allowed_values?.find((v) => v.name === category)?.expected_event_types ?? []),
  ];
}

/** Flatten a nested document into dotted leaf paths (arrays of scalars are leaves). */
export function flatten(doc: unknown, prefix = '', out: Map<string, unknown> = new Map()): Map<string, unknown> {
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
    for (const [k, v] of Object.entries(doc as Record<string, unknown>))
      flatten(v, prefix === '' ? k : `${prefix}.${k}`, out);
  } else {
    out.set(prefix, doc);
  }
  return out;
}

const DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** Problems with one value against its ECS field definition (empty when it conforms). */
export function checkEcsValue(name: string, value: unknown): string[] {
  const def = ecsField(name);
  if (def === undefined) return [`${name}: not an ECS ${ECS_DEFINITIONS_VERSION} field`];
  const problems: string[] = [];
  const isArrayField = def.normalize.includes('array');
  if (Array.isArray(value) && !isArrayField)
    problems.push(`${name}: an array, but ECS does not normalize it to an array`);
  const values = Array.isArray(value) ? (value as unknown[]) : [value];
  for (const v of values) {
    switch (def.type) {
      case 'keyword':
      case 'constant_keyword':
      case 'wildcard':
      case 'match_only_text':
      case 'text':
        if (typeof v !== 'string') problems.push(`${name}: ${def.type} wants a string, got ${typeof v}`);
        break;
      case 'long':
        if (typeof v !== 'number' || !Number.isSafeInteger(v))
          problems.push(`${name}: long wants an integer, got ${JSON.stringify(v)}`);
        break;
      case 'date':
        if (typeof v !== 'string' || !DATE.test(v))
          problems.push(`${name}: date wants an ISO 8601 string, got ${JSON.stringify(v)}`);
        break;
      case 'ip':
        if (typeof v !== 'string' || net.isIP(v) === 0)
          problems.push(`${name}: ip wants an IPv4/IPv6 address, got ${JSON.stringify(v)}`);
        break;
      case 'boolean':
        if (typeof v !== 'boolean') problems.push(`${name}: boolean wants true/false`);
        break;
      default:
        problems.push(`${name}: type ${def.type} not handled by this check`);
    }
    const allowed = allowedValues(name);
    if (allowed.length > 0 && typeof v === 'string' && !allowed.includes(v))
      problems.push(`${name}: '${v}' is not an allowed value (${allowed.join(', ')})`);
  }
  return problems;
}
