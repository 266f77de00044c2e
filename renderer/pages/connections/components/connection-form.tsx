/**
 * Adds or edits a saved connection. The password field starts empty even when editing: a saved
 * password never comes back from main, so empty means "keep it" and a checkbox forgets it.
 */
import { useState, type FormEvent } from 'react';
import type { ConnectionMode, ConnectionProfile, ConnectionSaveParams } from '../../../../shared/connections-api.ts';
import { toError } from '../../../../shared/errors.ts';
import type { ConnectionsClient } from '../../../api/connections-client.ts';

const MODES: Array<{ mode: ConnectionMode; label: string; detail: string }> = [
  {
    mode: 'administer',
    label: 'Administer only (no scheduling — safe against production)',
    detail: 'Browse runs, trigger, cancel and replay. The engines already running on that database do the work; this app runs no scheduling loops and never takes cron leadership.',
  },
  {
    mode: 'engine',
    label: 'Run engine here',
    detail: 'This app schedules and dispatches work on that database: workers on this computer connect to it. Use it for a database of your own.',
  },
];

export function ConnectionForm({
  connections,
  profile,
  storageWarning,
  onSaved,
  onCancel,
}: {
  connections: ConnectionsClient;
  /** null for a new connection. */
  profile: ConnectionProfile | null;
  storageWarning: string | null;
  onSaved(profile: ConnectionProfile, connect: boolean): void;
  onCancel(): void;
}) {
  const [name, setName] = useState(profile?.name ?? '');
  const [url, setUrl] = useState(profile?.url ?? '');
  const [password, setPassword] = useState('');
  const [forgetPassword, setForgetPassword] = useState(false);
  const [mode, setMode] = useState<ConnectionMode>(profile?.mode ?? 'administer');
  const [schema, setSchema] = useState(profile?.schema ?? '');
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const save = async (connect: boolean) => {
    const params: ConnectionSaveParams = { name, url, mode, schema: schema.trim() || null };
    if (profile) params.id = profile.id;
    if (forgetPassword) params.password = null;
    else if (password !== '') params.password = password;
    setSaving(true);
    setError(null);
    try {
      const saved = await connections.call('connectionSave', params);
      setPassword('');
      onSaved(saved, connect);
    } catch (e: unknown) {
      setError(toError(e).message);
    } finally {
      setSaving(false);
    }
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void save(false);
  };

  return (
    <form className="card conn-form" onSubmit={submit} data-testid="connection-form">
      <div className="card-head">
        <div className="section-title">{profile ? `Edit “${profile.name}”` : 'New connection'}</div>
      </div>
      <div className="conn-fields">
        <label className="conn-field">
          <span className="field-label">Name</span>
          <input className="input" value={name} onChange={(e) => setName(e.target.value)} placeholder="Production" autoFocus data-testid="connection-name" />
        </label>
        <label className="conn-field conn-field-wide">
          <span className="field-label">Postgres URL</span>
          <input className="input mono" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="postgres://user@db.example.com:5432/cleaver" spellCheck={false} data-testid="connection-url" />
          <span className="conn-hint">A password written in the URL is taken out of it and saved like the one below.</span>
        </label>
        <label className="conn-field">
          <span className="field-label">Password</span>
          <input
            className="input"
            type="password"
            autoComplete="new-password"
            value={password}
            disabled={forgetPassword}
            onChange={(e) => setPassword(e.target.value)}
            placeholder={profile?.hasPassword ? 'saved — leave empty to keep it' : 'none (trust, certificate or ~/.pgpass)'}
            data-testid="connection-password"
          />
          {profile?.hasPassword && (
            <span className="checkbox-label conn-hint">
              <input type="checkbox" checked={forgetPassword} onChange={(e) => setForgetPassword(e.target.checked)} data-testid="connection-forget-password" /> Forget the saved password
            </span>
          )}
          {storageWarning ? (
            <span className="conn-hint conn-hint-warn">Not protected by an OS keyring here — see the warning above.</span>
          ) : (
            <span className="conn-hint">Encrypted by the operating system; never shown again.</span>
          )}
        </label>
        <label className="conn-field">
          <span className="field-label">Schema (optional)</span>
          <input className="input mono" value={schema} onChange={(e) => setSchema(e.target.value)} placeholder="the server's default" spellCheck={false} data-testid="connection-schema" />
          <span className="conn-hint">Where Cleaver's tables are, when several Cleavers share one database.</span>
        </label>
      </div>
      <fieldset className="conn-modes">
        <legend className="field-label">What this app does with the database</legend>
        {MODES.map((m) => (
          <label key={m.mode} className={mode === m.mode ? 'conn-mode conn-mode-selected' : 'conn-mode'}>
            <input type="radio" name="mode" value={m.mode} checked={mode === m.mode} onChange={() => setMode(m.mode)} data-testid={`connection-mode-${m.mode}`} />
            <span>
              <span className="conn-mode-label">{m.label}</span>
              <span className="conn-mode-detail">{m.detail}</span>
            </span>
          </label>
        ))}
      </fieldset>
      {error && (
        <div className="field-error" role="alert" data-testid="connection-form-error">
          {error}
        </div>
      )}
      <div className="conn-form-actions">
        <button type="button" className="btn btn-ghost" onClick={onCancel} data-testid="connection-cancel">
          Cancel
        </button>
        <button type="submit" className="btn" disabled={saving} data-testid="connection-save">
          Save
        </button>
        <button type="button" className="btn btn-primary" disabled={saving} onClick={() => void save(true)} data-testid="connection-save-connect">
          Save and connect
        </button>
      </div>
    </form>
  );
}
