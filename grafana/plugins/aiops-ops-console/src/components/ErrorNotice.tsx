import React from 'react';
import { Alert } from '@grafana/ui';
import { ApiError } from '../api/client';

/** An API error in words an operator can act on (401 and 403 say what to do about them). */
export function explainError(error: Error): string {
  if (error instanceof ApiError) {
    if (error.status === 401) {
      return `Not signed in or the token is no longer valid (${error.detail}).`;
    }
    if (error.status === 403) {
      return `Your role may not do this: ${error.detail}.`;
    }
    return `${error.detail} (HTTP ${error.status})`;
  }
  return error.message;
}

export function ErrorNotice({ title, error }: { title: string; error: Error | undefined }) {
  if (!error) {
    return null;
  }
  return (
    <Alert severity="error" title={title}>
      {explainError(error)}
    </Alert>
  );
}
