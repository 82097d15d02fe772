// The standalone console keeps the pasted token in sessionStorage: it lives as long as the tab,
// is not shared with other tabs, and is gone when the browser closes (a shared bridge PC).
export const TOKEN_KEY = 'aiops.console.token';

export function readToken(storage: Storage = window.sessionStorage): string | null {
  return storage.getItem(TOKEN_KEY);
}

export function saveToken(token: string, storage: Storage = window.sessionStorage): void {
  storage.setItem(TOKEN_KEY, token);
}

export function clearToken(storage: Storage = window.sessionStorage): void {
  storage.removeItem(TOKEN_KEY);
}
