/** ProfileStore's warning when the OS cannot keep passwords properly (Linux without a keyring: "basic_text"). */
export function StorageWarning({ message }: { message: string }) {
  return (
    <div className="conn-warning" role="alert" data-testid="storage-warning">
      <svg width="18" height="18" viewBox="0 0 16 16" aria-hidden className="conn-warning-icon">
        <path d="M8 2.2 14.2 13H1.8zM8 6.5v3M8 11.3v.01" />
      </svg>
      <div>
        <div className="conn-warning-title">Saved passwords are not protected on this system</div>
        <div className="conn-warning-body">{message}</div>
      </div>
    </div>
  );
}
