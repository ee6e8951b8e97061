/**
 * `${VAR}` and `${VAR:-default}` substitution in configuration string values (after YAML parsing, so a variable's
 * value can never inject YAML structure). `$${` writes a literal `${`. When a whole scalar is one reference, the
 * result is typed like a YAML scalar (`port: ${PORT}` gives a number), still never parsed as YAML.
 */
import type { ErrorCode } from '../util/errors';

const REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

export interface EnvProblem {
  readonly path: string;
  readonly code: ErrorCode;
  readonly message: string;
}

function typedScalar(text: string): string | number | boolean {
  if (/^-?(?:0|[1-9][0-9]*)$/.test(text)) return Number(text);
  if (/^-?(?:0|[1-9][0-9]*)\.[0-9]+$/.test(text)) return Number(text);
  if (text === 'true') return true;
  if (text === 'false') return false;
  return text;
}

function substituteString(value: string, env: NodeJS.ProcessEnv, path: string, problems: EnvProblem[]): unknown {
  if (!value.includes('${')) return value;
  const whole = WHOLE.exec(value);
  const lookup = (name: string, fallback: string | undefined): string | undefined => {
    const v = env[name];
    if (v !== undefined && !(v === '' && fallback !== undefined)) return v;
    if (fallback !== undefined) return fallback;
    problems.push({
      path,
      code: 'AEGIS_ERR_ENV_MISSING',
      message: `environment variable ${name} is not set (use \${${name}:-default} for a default)`,
    });
    return undefined;
  };
  if (whole !== null) {
    const v = lookup(whole[1] as string, whole[2]);
    return v === undefined ? value : typedScalar(v);
  }
  return value.replace(REF, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    return lookup(name as string, fallback) ?? match;
  });
}

/** Return a copy of `value` with references substituted; problems name the key path. */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, problems: EnvProblem[], path = ''): unknown {
  if (typeof value === 'string') return substituteString(value, env, path, problems);
  if (Array.isArray(value))
    return value.map((v, i) => substituteEnv(v, env, problems, path === '' ? String(i) : `${path}.${i}`));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      out[k] = substituteEnv(v, env, problems, path === '' ? k : `${path}.${k}`);
    return out;
  }
  return value;
}
