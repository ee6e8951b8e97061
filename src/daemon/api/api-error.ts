/** The one error shape of the REST API: `{"error":{"code","message"}}` with a code from docs/errors.md. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}
