/**
 * The browser console's token. `cleaver serve` prints a URL carrying it in the fragment (never sent to
 * the server); the console takes it out of the address bar, so it does not end up in screenshots,
 * history or bookmarks, and keeps it in this tab's sessionStorage.
 *
 * A tab opened later — a run opened in a new tab, a link pasted into one — starts with an empty
 * sessionStorage. Rather than ask for the token again it asks the console's other open tabs, on a
 * BroadcastChannel, and takes the answer. What this keeps and what it does not:
 * - the token stays in memory-backed session storage, per tab, as before: never in localStorage or a
 *   cookie (nothing on disk beyond what the browser's own session restore keeps, and nothing the
 *   browser attaches to requests by itself, so other sites cannot make requests with it);
 * - a BroadcastChannel reaches only pages of the same origin (scheme, host and port) in the same
 *   browser profile and storage partition — script on that origin could already read sessionStorage;
 *   another site, or a page on another port, cannot join it;
 * - it lasts as long as a console tab is open: with the last one closed, the next tab asks again. A
 *   tab whose token the engine refused stops handing it out.
 */
const KEY = 'cleaver.token';
const CHANNEL = 'cleaver.console-token';
/** How long a new tab waits for another tab to answer before showing the token screen. */
const ASK_MS = 250;

type Message = { type: 'ask' } | { type: 'token'; token: string };

let channel: BroadcastChannel | null = null;

/** Answers other tabs' requests with this tab's token, for as long as it has one. */
function share(): void {
  if (channel || typeof BroadcastChannel === 'undefined') return;
  channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = (event: MessageEvent<Message>) => {
    const token = sessionStorage.getItem(KEY);
    if (event.data?.type === 'ask' && token) channel?.postMessage({ type: 'token', token } satisfies Message);
  };
}

function askOtherTabs(): Promise<string | null> {
  if (typeof BroadcastChannel === 'undefined') return Promise.resolve(null);
  return new Promise((resolve) => {
    const ask = new BroadcastChannel(CHANNEL);
    const done = (token: string | null) => {
      clearTimeout(timer);
      ask.close();
      resolve(token);
    };
    const timer = setTimeout(() => done(null), ASK_MS);
    ask.onmessage = (event: MessageEvent<Message>) => {
      if (event.data?.type === 'token' && typeof event.data.token === 'string') done(event.data.token);
    };
    ask.postMessage({ type: 'ask' } satisfies Message);
  });
}

/** The token from the address bar, this tab's storage, or another open console tab; null if none has one. */
export async function obtainToken(): Promise<string | null> {
  const match = /(?:^#|[#&?])token=([^&]+)/.exec(location.hash);
  if (match) {
    saveToken(decodeURIComponent(match[1]!));
    history.replaceState(null, '', `${location.pathname}${location.search}#/runs`);
    return sessionStorage.getItem(KEY);
  }
  const kept = sessionStorage.getItem(KEY);
  if (kept) {
    share();
    return kept;
  }
  const fromTab = await askOtherTabs();
  if (fromTab) saveToken(fromTab);
  return fromTab;
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
  share();
}
