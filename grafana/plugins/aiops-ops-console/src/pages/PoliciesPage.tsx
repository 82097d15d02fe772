import React, { useState } from 'react';
import { Badge, Button, Collapse, Field, Input, Stack, useStyles2 } from '@grafana/ui';
import { useConsole } from '../components/ConsoleContext';
import { ErrorNotice } from '../components/ErrorNotice';
import { getConsoleStyles } from '../components/styles';
import { useAsync } from '../components/useAsync';
import { describeValue, formatValue } from '../lib/format';
import { overridesIn } from '../lib/policy';

export function PoliciesPage() {
  const { api } = useConsole();
  const s = useStyles2(getConsoleStyles);
  const [shipInput, setShipInput] = useState('');
  const [shipId, setShipId] = useState('');
  const [open, setOpen] = useState<Record<string, boolean>>({});
  const policy = useAsync(() => api.policies(shipId || undefined), [api, shipId]);
  const view = policy.value;

  return (
    <div>
      <form
        className={s.toolbar}
        onSubmit={(event) => {
          event.preventDefault();
          setShipId(shipInput.trim());
        }}
      >
        <Field label="Ship" description="Empty: this node's own ship" noMargin>
          <Input
            aria-label="Policy ship"
            width={24}
            placeholder="this node's ship"
            value={shipInput}
            onChange={(event) => setShipInput(event.currentTarget.value)}
          />
        </Field>
        <Button type="submit" variant="secondary" icon="search">
          Show policy
        </Button>
      </form>
      <ErrorNotice title="Could not load the policy" error={policy.error} />
      {view && (
        <>
          <h3>Effective policy for {view.ship_id}</h3>
          <section className={s.panel} aria-label="Differences from the defaults">
            <h4 className={s.panelTitle}>Differences from the defaults ({view.diff.length})</h4>
            {view.diff.length === 0 ? (
              <p className={s.muted}>No overrides: this ship runs the default policy.</p>
            ) : (
              <table className={s.table}>
                <thead>
                  <tr>
                    <th>Setting</th>
                    <th>Default</th>
                    <th>Effective on {view.ship_id}</th>
                  </tr>
                </thead>
                <tbody>
                  {view.diff.map((entry) => (
                    <tr key={entry.path}>
                      <td className={s.mono}>{entry.path}</td>
                      <td className={s.mono}>
                        <PolicyValue value={entry.default} />
                      </td>
                      <td className={s.mono}>
                        <PolicyValue value={entry.effective} strong />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <h4>Segments</h4>
          {Object.entries(view.effective).map(([segment, body]) => {
            const overrides = overridesIn(segment, view.diff);
            return (
              <Collapse
                key={segment}
                isOpen={Boolean(open[segment])}
                onToggle={() => setOpen((previous) => ({ ...previous, [segment]: !previous[segment] }))}
                label={
                  <Stack gap={1} alignItems="center">
                    <span>{segment}</span>
                    {overrides > 0 && (
                      <Badge color="orange" text={`${overrides} override${overrides === 1 ? '' : 's'}`} />
                    )}
                  </Stack>
                }
              >
                <pre className={s.pre}>{JSON.stringify(body, null, 2)}</pre>
              </Collapse>
            );
          })}
        </>
      )}
    </div>
  );
}

/** Values longer than this are folded: a replaced list (thresholds, patterns) can be pages long. */
const INLINE_CHARS = 80;

function PolicyValue({ value, strong = false }: { value: unknown; strong?: boolean }) {
  const s = useStyles2(getConsoleStyles);
  const inline = formatValue(value);
  if (inline.length <= INLINE_CHARS) {
    return strong ? <strong>{inline}</strong> : <>{inline}</>;
  }
  return (
    <details>
      <summary>{describeValue(value)}</summary>
      <pre className={s.pre} style={{ maxHeight: 320, overflow: 'auto' }}>
        {JSON.stringify(value, null, 2)}
      </pre>
    </details>
  );
}

export default PoliciesPage;
