/** Shown in a browser opened without the token: where to find it, and a field to paste it. */
import { useState } from 'react';
import { saveToken } from '../api/token.ts';

export function TokenScreen({ onToken, rejected }: { onToken(): void; rejected: boolean }) {
  const [token, setToken] = useState('');
  return (
    <div className="token-screen" data-testid="token-screen">
      <div className="token-card">
        <h1>Cleaver console</h1>
        {rejected && (
          <div className="field-error" role="alert" data-testid="token-rejected">
            The engine refused this token: it may have been restarted with another one. Open the URL it prints now, or paste the current token.
          </div>
        )}
        <p>
          This console needs the engine's access token. Open the exact URL that <code>cleaver serve</code> printed when it started — it carries
          the token after <code>#token=</code>:
        </p>
        <pre className="code">console:   http://127.0.0.1:7878/#token=…</pre>
        <p>
          The token is also kept in the engine's data directory, in the <code>console-token</code> file (readable only by the user running
          the engine), e.g. <code>~/.cleaver/console-token</code> or <code>&lt;--data-dir&gt;/console-token</code>.
        </p>
        <form
          className="token-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (!token.trim()) return;
            saveToken(token.trim());
            onToken();
          }}
        >
          <input className="input" placeholder="Paste the token" value={token} onChange={(e) => setToken(e.target.value)} autoFocus data-testid="token-input" />
          <button className="btn btn-primary" type="submit">
            Connect
          </button>
        </form>
      </div>
    </div>
  );
}
