import React, { useMemo } from 'react';
import type { AppRootProps } from '@grafana/data';
import { PluginPage } from '@grafana/runtime';
import { Alert, LoadingPlaceholder, TextLink } from '@grafana/ui';
import { OpsApi } from '../../api/client';
import { grafanaTransport } from '../../api/grafanaTransport';
import { PLUGIN_BASE_URL, PLUGIN_ID } from '../../constants';
import { ConsoleRoutes, type PageFrame } from '../../routes/ConsoleRoutes';
import { ConsoleProvider } from '../ConsoleContext';
import { explainError } from '../ErrorNotice';
import { useAsync } from '../useAsync';

// The four pages take their title from plugin.json's nav; a sub-page adds itself as a breadcrumb.
const inPluginPage: PageFrame = ({ title, subPage }, page) => (
  <PluginPage pageNav={subPage ? { text: title } : undefined}>{page}</PluginPage>
);

/** The Grafana app root: every call goes through the plugin proxy, which holds the token. */
function App(_props: AppRootProps) {
  const api = useMemo(() => new OpsApi(grafanaTransport()), []);
  const me = useAsync(() => api.whoami(), [api]);

  if (me.error) {
    return (
      <PluginPage>
        <Alert severity="error" title="The incident-api is not reachable through Grafana">
          {explainError(me.error)} Set the incident-api URL and a token on the app&apos;s{' '}
          <TextLink href={`/plugins/${PLUGIN_ID}`}>configuration page</TextLink>.
        </Alert>
      </PluginPage>
    );
  }
  if (!me.value) {
    return (
      <PluginPage>
        <LoadingPlaceholder text="Connecting to the incident-api…" />
      </PluginPage>
    );
  }
  return (
    <ConsoleProvider env={{ api, me: me.value, basePath: PLUGIN_BASE_URL }}>
      <ConsoleRoutes frame={inPluginPage} />
    </ConsoleProvider>
  );
}

export default App;
