/** `aegisbpf rules install elastic --url …`: index templates, component templates, ingest pipeline, ILM policies. */
import fs from 'node:fs';
import { AegisError, describeError } from '../../util/errors';
import { createLogger } from '../../util/logger';
import { createEsClient } from '../../sinks/elasticsearch/client';
import type { Auth } from '../../sinks/elasticsearch/config';
import { checkElasticsearchConfig } from '../../sinks/elasticsearch/config';
import { InstallError, installElasticContent } from '../../sinks/elasticsearch/install';
import { parseCommandArgs } from '../args';
import type { CommandIo } from '../command';
import { EXIT } from '../../util/exit-codes';
import { aegisVersion } from '../version';
import type { RulesTarget } from './rules-target';

const USAGE = `Usage: aegisbpf rules install elastic --url URL [options]

Install into Elasticsearch, idempotently (unchanged resources are left alone):
  ILM policies aegisbpf-daily, aegisbpf-stream (when the cluster has ILM),
  component templates aegisbpf-settings, aegisbpf-ecs-mappings, aegisbpf-json-mappings,
  index templates aegisbpf (aegisbpf-*) and logs-aegisbpf.events (data streams logs-aegisbpf.events-*),
  ingest pipeline aegisbpf-json-to-ecs (json lines shipped by Filebeat/Vector to ECS).
Kibana detection rules are files to import: rules/elastic/detection-rules/ (see docs/elastic.md).

Options:
  --url URL              Elasticsearch URL (repeat for several nodes)
  --api-key-file FILE    API key (base64 "id:key"), or set ELASTICSEARCH_API_KEY
  --username USER        basic authentication user, with
  --password-file FILE   its password, or set ELASTICSEARCH_PASSWORD
  --ca-file FILE         PEM CA of the cluster certificate (TLS is verified; default: system CAs)
  --server-name NAME     host name to verify instead of the URL's
  --insecure             do not verify the TLS certificate (throw-away clusters only)
  --types auto|full|reduced
                         field types: full ECS types (match_only_text, wildcard, constant_keyword), reduced
                         equivalents for clusters without those modules, or auto (default: full, reduced when refused)
  --no-ilm               do not install ILM policies or reference them
  --json                 print the report as JSON

Exit codes: 0 installed (or unchanged); 3 installed but something was skipped (e.g. missing ingest processors);
1 the cluster refused or could not be reached; 2 usage error.
Privileges: manage_index_templates, manage_ingest_pipelines, manage_ilm (cluster).`;

function readSecret(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new AegisError(
      'AEGIS_ERR_CONFIG_READ',
      `rules install elastic: cannot read the ${what} file ${file}: ${describeError(err)}`,
      { cause: err },
    );
  }
}

export const elasticRulesTarget: RulesTarget = {
  name: 'elastic',
  summary: 'Elasticsearch: index/component templates, ingest pipeline, ILM policies.',
  usage: USAGE,
  async install(argv: readonly string[], io: CommandIo): Promise<number> {
    const { values } = parseCommandArgs(
      'rules install elastic',
      argv,
      {
        help: { type: 'boolean', short: 'h' },
        url: { type: 'string', multiple: true },
        'api-key-file': { type: 'string' },
        username: { type: 'string' },
        'password-file': { type: 'string' },
        'ca-file': { type: 'string' },
        'server-name': { type: 'string' },
        insecure: { type: 'boolean' },
        types: { type: 'string' },
        'no-ilm': { type: 'boolean' },
        json: { type: 'boolean' },
      },
      0,
    );
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return EXIT.OK;
    }
    const urls = values.url ?? [];
    if (urls.length === 0)
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        "rules install elastic: --url is required. See 'aegisbpf rules install elastic --help'.",
      );
    const problems = checkElasticsearchConfig({ url: urls });
    if (problems.length > 0)
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `rules install elastic: ${problems.map((p) => p.replace(/^url(\.\d+)?/, '--url')).join('; ')}`,
      );
    const types = values.types ?? 'auto';
    if (types !== 'auto' && types !== 'full' && types !== 'reduced')
      throw new AegisError('AEGIS_ERR_USAGE', 'rules install elastic: --types must be auto, full or reduced.');

    let auth: Auth = { kind: 'none' };
    const apiKey =
      values['api-key-file'] !== undefined
        ? readSecret(values['api-key-file'], 'API key')
        : io.env.ELASTICSEARCH_API_KEY;
    if (apiKey !== undefined && apiKey !== '') auth = { kind: 'api_key', apiKey };
    if (values.username !== undefined) {
      if (auth.kind === 'api_key')
        throw new AegisError(
          'AEGIS_ERR_USAGE',
          'rules install elastic: use either an API key or --username, not both.',
        );
      const password =
        values['password-file'] !== undefined
          ? readSecret(values['password-file'], 'password')
          : io.env.ELASTICSEARCH_PASSWORD;
      if (password === undefined)
        throw new AegisError(
          'AEGIS_ERR_USAGE',
          'rules install elastic: --username needs --password-file or ELASTICSEARCH_PASSWORD.',
        );
      auth = { kind: 'basic', username: values.username, password };
    }

    const logger = createLogger({
      level: 'WARN',
      write: (line) => void io.stderr.write(line),
      component: 'rules.elastic',
    });
    const client = createEsClient({
      urls: urls.map((u) => u.replace(/\/+$/, '')),
      auth,
      tls: { caFile: values['ca-file'], verify: values.insecure !== true, serverName: values['server-name'] },
      requestTimeoutMillis: 60_000,
    });
    try {
      const report = await installElasticContent(client, {
        logger,
        version: aegisVersion(),
        types,
        ilm: values['no-ilm'] === true ? 'off' : 'auto',
      });
      if (values.json === true) io.stdout.write(JSON.stringify(report) + '\n');
      else {
        for (const i of report.items)
          io.stdout.write(
            `${i.status.padEnd(9)} ${i.kind.replace('_', ' ').padEnd(18)} ${i.name}${i.reason === undefined ? '' : `: ${i.reason}`}\n`,
          );
        io.stdout.write(`field types: ${report.types}; ILM: ${report.ilm ? 'yes' : 'not available'}\n`);
      }
      return report.incomplete ? EXIT.INCOMPLETE : EXIT.OK;
    } catch (err) {
      if (err instanceof InstallError) {
        io.stderr.write(`aegisbpf rules install elastic: ${err.message} (${err.code})\n`);
        return EXIT.FAILURE;
      }
      throw err;
    } finally {
      await client.close();
    }
  },
};
