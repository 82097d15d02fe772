import type {
  Action,
  ActionFilters,
  ApprovalScope,
  AuditEvent,
  AuditFilters,
  Decision,
  Identity,
  Incident,
  IncidentDetail,
  IncidentFilters,
  IncidentPatch,
  Page,
  PolicyView,
  Trace,
} from './types';

export type Method = 'GET' | 'POST' | 'PATCH';
export type QueryValue = string | number | boolean | null | undefined;
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
}

/** How a request reaches /api/v3: `path` starts with "/" and is relative to /api/v3. */
export interface Transport {
  request<T>(method: Method, path: string, options?: RequestOptions): Promise<T>;
}

/** An HTTP error from the incident-api, with FastAPI's `detail` turned into one readable line. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string
  ) {
    super(`${status}: ${detail}`);
    this.name = 'ApiError';
  }
}

/** FastAPI answers `detail` as a string, or as a list of {loc, msg} for validation errors. */
export function detailMessage(body: unknown, fallback: string): string {
  const detail =
    body && typeof body === 'object' && 'detail' in body ? (body as { detail: unknown }).detail : undefined;
  if (typeof detail === 'string' && detail) {
    return detail;
  }
  if (Array.isArray(detail) && detail.length > 0) {
    return detail
      .map((item) => {
        if (item && typeof item === 'object') {
          const { loc, msg } = item as { loc?: unknown; msg?: unknown };
          const where = Array.isArray(loc) ? loc.join('.') : loc;
          return where ? `${where}: ${String(msg ?? '')}` : String(msg ?? '');
        }
        return String(item);
      })
      .join('; ');
  }
  return fallback;
}

/** Drops empty filters so the API sees only what the user chose; keeps the order of `query`. */
export function queryString(query: Query | undefined): string {
  if (!query) {
    return '';
  }
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') {
      continue;
    }
    params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

export interface FetchTransportOptions {
  /** Where /api/v3 lives, e.g. "/api/v3" when the console is served by the incident-api itself. */
  baseUrl: string;
  /** The bearer token to send, read on every request so a sign-out takes effect at once. */
  token: () => string | null;
  /** Called on a 401 (token missing, revoked or wrong) before the error is thrown. */
  onUnauthorized?: () => void;
  fetchImpl?: typeof fetch;
}

/** The standalone console's transport: the browser's fetch with the user's bearer token. */
export function fetchTransport(options: FetchTransportOptions): Transport {
  const base = options.baseUrl.replace(/\/+$/, '');
  return {
    async request<T>(method: Method, path: string, request: RequestOptions = {}): Promise<T> {
      const headers: Record<string, string> = { accept: 'application/json' };
      const token = options.token();
      if (token) {
        headers.authorization = `Bearer ${token}`;
      }
      let body: string | undefined;
      if (request.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(request.body);
      }
      const doFetch = options.fetchImpl ?? fetch;
      const response = await doFetch(`${base}${path}${queryString(request.query)}`, { method, headers, body });
      const text = await response.text();
      let parsed: unknown = undefined;
      if (text) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
      }
      if (!response.ok) {
        if (response.status === 401) {
          options.onUnauthorized?.();
        }
        throw new ApiError(response.status, detailMessage(parsed, response.statusText || text || 'request failed'));
      }
      return parsed as T;
    },
  };
}

/** Every /api/v3 call the console makes, one method per route of the operations contract. */
export class OpsApi {
  constructor(private readonly transport: Transport) {}

  whoami(): Promise<Identity> {
    return this.transport.request('GET', '/whoami');
  }

  listIncidents(filters: IncidentFilters = {}): Promise<Page<Incident>> {
    return this.transport.request('GET', '/incidents', { query: { ...filters } });
  }

  getIncident(incidentId: string): Promise<IncidentDetail> {
    return this.transport.request('GET', `/incidents/${encodeURIComponent(incidentId)}`);
  }

  patchIncident(incidentId: string, patch: IncidentPatch): Promise<Incident> {
    return this.transport.request('PATCH', `/incidents/${encodeURIComponent(incidentId)}`, { body: patch });
  }

  trace(trackingId: string): Promise<Trace> {
    return this.transport.request('GET', `/trace/${encodeURIComponent(trackingId)}`);
  }

  listActions(filters: ActionFilters = {}): Promise<Page<Action>> {
    return this.transport.request('GET', '/actions', { query: { ...filters } });
  }

  getAction(actionId: string): Promise<Action> {
    return this.transport.request('GET', `/actions/${encodeURIComponent(actionId)}`);
  }

  approvals(scope: ApprovalScope): Promise<{ items: Action[] }> {
    return this.transport.request('GET', '/approvals', { query: { scope } });
  }

  decide(actionId: string, decision: Decision, comment: string): Promise<Action> {
    return this.transport.request('POST', `/approvals/${encodeURIComponent(actionId)}`, {
      body: { decision, comment },
    });
  }

  policies(shipId?: string): Promise<PolicyView> {
    return this.transport.request('GET', '/policies', { query: { ship_id: shipId } });
  }

  audit(filters: AuditFilters = {}): Promise<Page<AuditEvent>> {
    return this.transport.request('GET', '/audit', { query: { ...filters } });
  }
}
