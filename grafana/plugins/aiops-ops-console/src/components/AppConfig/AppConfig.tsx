import React, { FormEvent, useState } from 'react';
import { lastValueFrom } from 'rxjs';
import type { AppPluginMeta, PluginConfigPageProps, PluginMeta } from '@grafana/data';
import { getBackendSrv } from '@grafana/runtime';
import { Alert, Button, Field, FieldSet, Input, SecretInput } from '@grafana/ui';
import { testIds } from '../testIds';

export type AppPluginSettings = {
  /** The incident-api's root, e.g. http://aiops-node:8081 (the proxy route appends /api/v3). */
  apiUrl?: string;
};

type SecureSettings = {
  apiToken?: string;
};

export interface AppConfigProps extends PluginConfigPageProps<AppPluginMeta<AppPluginSettings>> {}

/** A URL Grafana's server can reach, without a trailing slash (the route appends /api/v3). */
export function normalizeApiUrl(value: string): string {
  return value
    .trim()
    .replace(/\/+$/, '')
    .replace(/\/api\/v3$/, '');
}

const AppConfig = ({ plugin }: AppConfigProps) => {
  const { enabled, pinned, jsonData, secureJsonFields } = plugin.meta;
  const [apiUrl, setApiUrl] = useState(jsonData?.apiUrl ?? '');
  const [apiToken, setApiToken] = useState('');
  const [tokenSet, setTokenSet] = useState(Boolean(secureJsonFields?.apiToken));
  const [error, setError] = useState<string>();
  const url = normalizeApiUrl(apiUrl);
  const invalidUrl = url !== '' && !/^https?:\/\/[^\s]+$/.test(url);
  const disabled = !url || invalidUrl || (!tokenSet && !apiToken);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (disabled) {
      return;
    }
    try {
      await updatePlugin(plugin.meta.id, {
        enabled,
        pinned,
        jsonData: { apiUrl: url },
        // Only sent when typed: a saved token is never read back into the browser.
        secureJsonData: apiToken ? ({ apiToken } satisfies SecureSettings) : undefined,
      });
      // Grafana only hands the new settings to the app's pages after a reload.
      window.location.reload();
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : 'Saving the settings failed');
    }
  };

  return (
    <form onSubmit={onSubmit}>
      <FieldSet label="Incident API">
        <Field
          label="Incident API URL"
          description="Reached by the Grafana server, not the browser, e.g. http://aiops-node:8081"
          invalid={invalidUrl}
          error={invalidUrl ? 'Must be an http(s) URL' : undefined}
        >
          <Input
            width={60}
            id="config-api-url"
            data-testid={testIds.appConfig.apiUrl}
            value={apiUrl}
            placeholder="http://aiops-node:8081"
            onChange={(e) => setApiUrl(e.currentTarget.value)}
          />
        </Field>
        <Field
          label="API token"
          description="An incident-api token (aiops token create --role approver --name grafana). Stored encrypted by Grafana; the proxy adds it to each request."
        >
          <SecretInput
            width={60}
            id="config-api-token"
            data-testid={testIds.appConfig.apiToken}
            value={apiToken}
            isConfigured={tokenSet}
            placeholder="aiops_…"
            onChange={(e) => setApiToken(e.currentTarget.value.trim())}
            onReset={() => {
              setApiToken('');
              setTokenSet(false);
            }}
          />
        </Field>
        <Button type="submit" data-testid={testIds.appConfig.submit} disabled={disabled}>
          Save settings
        </Button>
        {error && (
          <Alert severity="error" title="Could not save" style={{ marginTop: 16 }}>
            {error}
          </Alert>
        )}
      </FieldSet>
    </form>
  );
};

export default AppConfig;

const updatePlugin = async (pluginId: string, data: Partial<PluginMeta>) => {
  const response = getBackendSrv().fetch({ url: `/api/plugins/${pluginId}/settings`, method: 'POST', data });
  return lastValueFrom(response);
};
