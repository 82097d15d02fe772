export const testIds = {
  appConfig: {
    apiUrl: 'data-testid ac-api-url',
    apiToken: 'data-testid ac-api-token',
    submit: 'data-testid ac-submit-form',
  },
};
