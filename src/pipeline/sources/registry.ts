/** Sources are found by type here. The sensor source registers here too. */
import { activitySource } from './activity';
import { hostSource } from './host';
import { kafkaSource } from './kafka';
import { replaySource } from './replay';
import { sensorSource } from './sensor';
import { stdinSource } from './stdin';
import { trendsSource } from './trends';
import type { SourceDefinition } from './types';

const SOURCES: readonly SourceDefinition[] = [
  replaySource,
  stdinSource,
  sensorSource,
  trendsSource,
  hostSource,
  activitySource,
  kafkaSource,
];

const BY_TYPE = new Map(SOURCES.map((s) => [s.type, s]));

export function sourceTypes(): string[] {
  return [...BY_TYPE.keys()].sort();
}

export function getSourceDefinition(type: string): SourceDefinition | undefined {
  return BY_TYPE.get(type);
}
