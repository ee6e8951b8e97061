/**
 * Sinks are found by type here, never through an if-chain. Adding a sink is one directory plus one line below.
 */
import type { SinkDefinition } from './core/definition';
import { elasticsearchSink } from './elasticsearch/index';
import { fileSink } from './file/index';
import { journaldSink } from './journald/index';
import { natsSink } from './nats/index';
import { kafkaSink } from './kafka/index';
import { splunkHecSink } from './splunk-hec/index';
import { stdoutSink } from './stdout/index';
import { syslogSink } from './syslog/index';
import { webhookSink } from './webhook/index';

// Type-erased: each definition's parse() produces the config its createTransport() takes.
export type AnySinkDefinition = SinkDefinition<unknown, unknown>;

const SINKS: readonly AnySinkDefinition[] = [
  fileSink,
  stdoutSink,
  syslogSink,
  elasticsearchSink,
  splunkHecSink,
  journaldSink,
  webhookSink,
  natsSink,
  kafkaSink,
];

const BY_TYPE = new Map<string, AnySinkDefinition>(SINKS.map((d) => [d.type, d]));

export function sinkTypes(): string[] {
  return [...BY_TYPE.keys()].sort();
}

export function getSinkDefinition(type: string): AnySinkDefinition | undefined {
  return BY_TYPE.get(type);
}
