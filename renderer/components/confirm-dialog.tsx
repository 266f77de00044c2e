/**
 * Asks before an action that changes runs (cancel, replay): says what will happen, with the count, and
 * names the button after the action ("Cancel 3 runs"), so the answer is not a reflex "OK". A native
 * modal <dialog>: focus stays inside, Esc closes it, and the safe choice has the focus.
 */
import { useEffect, useRef, type ReactNode } from 'react';
import './confirm-dialog.css';

export function ConfirmDialog(props: {
  title: string;
  children: ReactNode;
  /** The action, on its button: "Cancel 3 runs". */
  confirmLabel: string;
  /** The way out, on its button: "Keep them running". */
  dismissLabel?: string;
  danger?: boolean;
  pending?: boolean;
  /** Why the action cannot be taken as things are (the button is disabled and this says why). */
  blocked?: string | null;
  onConfirm(): void;
  onClose(): void;
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const dismiss = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    dismiss.current?.focus();
    return () => dialog.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className="confirm"
      data-testid={props.testId ?? 'confirm-dialog'}
      aria-labelledby="confirm-title"
      onCancel={(e) => {
        e.preventDefault();
        if (!props.pending) props.onClose();
      }}
      onClick={(e) => {
        // A click on the backdrop (the dialog element itself, outside its content) closes it.
        if (e.target === ref.current && !props.pending) props.onClose();
      }}
    >
      <form
        method="dialog"
        className="confirm-body"
        onSubmit={(e) => {
          e.preventDefault();
          if (!props.pending && !props.blocked) props.onConfirm();
        }}
      >
        <h2 id="confirm-title" className="confirm-title">
          {props.title}
        </h2>
        <div className="confirm-text">{props.children}</div>
        {props.blocked && (
          <div className="field-error" role="alert" data-testid="confirm-blocked">
            {props.blocked}
          </div>
        )}
        <div className="confirm-actions">
          <button type="button" className="btn" ref={dismiss} onClick={props.onClose} disabled={props.pending} data-testid="confirm-dismiss">
            {props.dismissLabel ?? 'Back'}
          </button>
          <button type="submit" className={`btn ${props.danger ? 'btn-danger-solid' : 'btn-primary'}`} disabled={props.pending || !!props.blocked} data-testid="confirm-accept">
            {props.pending ? 'Working…' : props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
