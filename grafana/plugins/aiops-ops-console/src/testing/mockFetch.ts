// A fetch double that answers like the incident-api, for tests of the client and the pages.

export interface Call {
  method: string;
  url: string;
  body: unknown;
  headers: Record<string, string>;
}

type Reply = { status?: number; body?: unknown };
/** Answers one request; `undefined` means "no such route" (a 404 the test will notice). */
export type Handler = (call: Call) => Reply | undefined;

/** A fetch double that records every call and answers from `handler`, as the incident-api would. */
export function mockFetch(handler: Handler) {
  const calls: Call[] = [];
  const fetchImpl = jest.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const call: Call = {
      method: init?.method ?? 'GET',
      url: String(input),
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
      headers: (init?.headers ?? {}) as Record<string, string>,
    };
    calls.push(call);
    const reply = handler(call) ?? { status: 404, body: { detail: `no route ${call.method} ${call.url}` } };
    const status = reply.status ?? 200;
    return {
      ok: status >= 200 && status < 300,
      status,
      statusText: String(status),
      text: async () => (reply.body === undefined ? '' : JSON.stringify(reply.body)),
    } as Response;
  });
  return { fetchImpl: fetchImpl as unknown as typeof fetch, calls };
}

/** Routes a mock by "METHOD /path" (query string ignored). */
export function routes(table: Record<string, Reply | ((call: Call) => Reply)>): Handler {
  return (call) => {
    const path = new URL(call.url, 'http://console.test').pathname.replace(/^\/api\/v3/, '');
    const entry = table[`${call.method} ${path}`];
    return typeof entry === 'function' ? entry(call) : entry;
  };
}

export function query(call: Call): URLSearchParams {
  return new URL(call.url, 'http://console.test').searchParams;
}
