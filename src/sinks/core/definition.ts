/**
 * What a sink type registers: its config schema (pure), how to check and parse it (pure), and how to build its
 * transport (impure). Every sink directory has config.ts, transport.ts, retry-policy.ts, healthcheck.ts, index.ts;
 * index.ts exports the SinkDefinition and src/sinks/registry.ts lists it. src/sinks/build.ts turns a configured
 * entry into a running sink from it.
 */
import type { FormatSpec, Formatter, JsonSchemaObject } from '../../formatters/types';
import type { Logger } from '../../util/logger';
import type { SinkStats } from '../../telemetry/stats';
import type { CoreOverrides } from './config';
import type { Transport } from './types';

export interface SinkBuildContext<R = string> {
  readonly name: string;
  readonly logger: Logger;
  readonly formatter: Formatter<R>;
  readonly hostname: string;
  readonly dataDir: string;
  readonly version: string;
  /** The sink's counters (the core owns them); a transport adds its protocol's numbers under `stats.extra`. */
  readonly stats: SinkStats;
}

export interface SinkDefinition<C = unknown, R = string> {
  readonly type: string;
  readonly description: string;
  /** JSON Schema properties of the sink-specific keys (the common ones are added by the registry). */
  readonly configSchema: {
    readonly properties: Readonly<Record<string, JsonSchemaObject>>;
    readonly required?: readonly string[];
  };
  /**
   * Keys holding secrets. For each, the config schema also accepts `<key>_file` (the secret is read from that file
   * when the sink is built), and the value is redacted wherever configuration is printed or logged.
   */
  readonly secrets?: readonly string[];
  /**
   * `[userKey, secretKey]` pairs sent as HTTP Basic authentication: base64 of `user:secret` is redacted too (the
   * secret values themselves are redacted from every reason and log line in every encoding, src/sinks/core/redact.ts).
   */
  readonly credentialPairs?: readonly (readonly [userKey: string, secretKey: string])[];
  /** Formats this sink can carry and the default one. */
  readonly formats: { readonly allowed: readonly string[]; readonly default: FormatSpec };
  /** Defaults of the common options that differ for this sink (a file wants bigger batches than an HTTP API). */
  readonly coreDefaults?: CoreOverrides;
  /** Semantic checks a schema cannot express; pure; messages relative to the sink (`path: must be absolute`). */
  check?(raw: Readonly<Record<string, unknown>>): string[];
  /** Convert the validated sink-specific keys (secrets already resolved) into the transport's config; pure. */
  parse(raw: Readonly<Record<string, unknown>>): C;
  createTransport(config: C, context: SinkBuildContext<R>): Transport<R>;
  /**
   * Encoded size in bytes of one record, as the batch and buffer bounds count it. Optional: the core's default is
   * the UTF-8 length of a string and the byteLength of binary data. A record sink (key, headers, value) supplies
   * its own, so that its bounds count what it really sends.
   */
  sizeOf?(data: R): number;
}
