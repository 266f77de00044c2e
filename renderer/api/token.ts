/**
 * The browser console's token. `cleaver serve` prints a URL carrying it in the fragment (never sent to
 * the server); it is kept for this tab in sessionStorage and taken out of the address bar, so it does
 * not end up in screenshots, history or bookmarks.
 */
const KEY = 'cleaver.token';

export function takeTokenFromLocation(): string | null {
  const match = /(?:^#|[#&?])token=([^&]+)/.exec(location.hash);
  if (match) {
    const token = decodeURIComponent(match[1]!);
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, '', `${location.pathname}${location.search}#/runs`);
    return token;
  }
  return sessionStorage.getItem(KEY);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}
