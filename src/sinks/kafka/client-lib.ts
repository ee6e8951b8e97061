/**
 * The one place that loads the Kafka client library (@platformatic/kafka, chosen in docs/dependencies.md). It is an
 * ES module; Node >= 22.12 loads ES modules with require(), which keeps the transport's construction synchronous.
 * TypeScript's Node16 mode refuses a static import of an ES module from CommonJS, hence the type-only import with
 * `resolution-mode` and one require() here. Everything else imports the library's types and values from this file,
 * so a swap of the client touches this folder only.
 */
import type * as Lib from '@platformatic/kafka' with { 'resolution-mode': 'import' };

let loaded: typeof Lib | undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = (): typeof Lib => (loaded ??= require('@platformatic/kafka') as typeof Lib);
/*
 * Loaded at the first use, not when the sink and source registries import this file: the library's import (its ajv
 * option schemas compiled at module load) cost ~0.6 CPU s and tens of MiB at the start of every `aegisbpf run`,
 * Kafka configured or not.
 */
export const kafkaLib: typeof Lib = new Proxy({} as typeof Lib, {
  get: (_target, key) => (load() as unknown as Record<string | symbol, unknown>)[key],
  has: (_target, key) => key in load(),
});
export type { Lib as KafkaLib };
