import { lastValueFrom } from 'rxjs';
import { getBackendSrv, type FetchError } from '@grafana/runtime';
import { PLUGIN_ID } from '../constants';
import { ApiError, detailMessage, queryString, type Method, type RequestOptions, type Transport } from './client';

/**
 * Inside Grafana every call goes through the plugin proxy route "api" of plugin.json, which adds
 * the incident-api token from the app's secureJsonData on the Grafana server: the token never
 * reaches the browser, and Grafana's own session authenticates the user.
 */
export const PROXY_BASE = `/api/plugin-proxy/${PLUGIN_ID}/api`;

function isFetchError(error: unknown): error is FetchError {
  return Boolean(error) && typeof error === 'object' && typeof (error as FetchError).status === 'number';
}

export function grafanaTransport(base: string = PROXY_BASE): Transport {
  return {
    async request<T>(method: Method, path: string, options: RequestOptions = {}): Promise<T> {
      try {
        const response = await lastValueFrom(
          getBackendSrv().fetch<T>({
            url: `${base}${path}${queryString(options.query)}`,
            method,
            data: options.body,
            // The pages show errors next to what failed; Grafana's global toast would repeat them.
            showErrorAlert: false,
          })
        );
        return response.data;
      } catch (error) {
        if (isFetchError(error)) {
          throw new ApiError(error.status, detailMessage(error.data, error.statusText || 'request failed'));
        }
        throw error;
      }
    },
  };
}
