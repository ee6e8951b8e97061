/** Reading aegisbpf's Elastic content in tests: the effective mapping of an index template, flattened. */
import type { ElasticContent, JsonObject } from '../../src/sinks/elasticsearch/install';

export interface FieldMapping {
  readonly type: string;
  readonly [option: string]: unknown;
}

/** Flatten `properties` into `a.b.c` → mapping (objects without a type are descended into; multi-fields ignored). */
export function flattenProperties(
  properties: JsonObject | undefined,
  prefix = '',
  out = new Map<string, FieldMapping>(),
): Map<string, FieldMapping> {
  for (const [name, raw] of Object.entries(properties ?? {})) {
    const m = raw as JsonObject;
    const full = prefix === '' ? name : `${prefix}.${name}`;
    if (m.properties !== undefined) flattenProperties(m.properties as JsonObject, full, out);
    else out.set(full, m as unknown as FieldMapping);
  }
  return out;
}

/** The mappings an index template produces: its component templates in order, then its own `template.mappings`. */
export function effectiveMappings(content: ElasticContent, indexTemplate: string): Map<string, FieldMapping> {
  const tpl = content.indexTemplates.find((t) => t.name === indexTemplate);
  if (tpl === undefined) throw new Error(`no index template ${indexTemplate}`);
  const out = new Map<string, FieldMapping>();
  for (const name of (tpl.body.composed_of as string[] | undefined) ?? []) {
    const c = content.componentTemplates.find((x) => x.name === name);
    if (c === undefined) throw new Error(`${indexTemplate} is composed of missing ${name}`);
    const props = ((c.body.template as JsonObject | undefined)?.mappings as JsonObject | undefined)?.properties as
      JsonObject | undefined;
    for (const [k, v] of flattenProperties(props)) out.set(k, v);
  }
  const own = ((tpl.body.template as JsonObject | undefined)?.mappings as JsonObject | undefined)?.properties as
    JsonObject | undefined;
  for (const [k, v] of flattenProperties(own)) out.set(k, v);
  return out;
}

/** Every field path mapped by the `aegisbpf` index template (the one both templates share, minus data_stream.*). */
export function mappedFields(content: ElasticContent): Map<string, FieldMapping> {
  return effectiveMappings(content, 'aegisbpf');
}
