/**
 * A small JSON editor (no dependency): line numbers, highlighting, checking as you type with the line and
 * column of the first problem, Tab / Shift+Tab to indent, Enter keeping the indentation, and Format.
 *
 * It is a plain <textarea> over a highlighted <pre> with the same font and metrics: the textarea's text
 * is transparent (its caret and selection are not), so editing, undo, IME and the clipboard stay the
 * browser's own. Both grow with the text and scroll together in one box.
 */
import { useMemo, useRef, type KeyboardEvent } from 'react';
import { checkJson } from './json-check.ts';
import './json-editor.css';


type Token = { kind: 'key' | 'string' | 'number' | 'literal' | 'punct' | 'text'; text: string };

const TOKEN = /("(?:[^"\\\n]|\\.)*"?)(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b|([{}[\],:])|(\s+|[^\s"{}[\],:]+)/g;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  for (const m of text.matchAll(TOKEN)) {
    if (m[1] !== undefined) {
      tokens.push({ kind: m[2] !== undefined ? 'key' : 'string', text: m[1] });
      if (m[2] !== undefined) tokens.push({ kind: 'punct', text: m[2] });
    } else if (m[3] !== undefined) tokens.push({ kind: 'number', text: m[3] });
    else if (m[4] !== undefined) tokens.push({ kind: 'literal', text: m[4] });
    else if (m[5] !== undefined) tokens.push({ kind: 'punct', text: m[5] });
    else tokens.push({ kind: 'text', text: m[0] });
  }
  return tokens;
}

export function JsonEditor(props: {
  id?: string;
  value: string;
  onChange(text: string): void;
  /** Called on Ctrl/Cmd + Enter. */
  onSubmit?(): void;
  minLines?: number;
  placeholder?: string;
  /** Whether an empty text is acceptable (then it is not flagged). */
  optional?: boolean;
  testId?: string;
  'aria-describedby'?: string;
}) {
  const area = useRef<HTMLTextAreaElement>(null);
  const check = useMemo(() => (props.optional && !props.value.trim() ? null : checkJson(props.value)), [props.value, props.optional]);
  const lines = props.value.split('\n');
  const errorLine = check && !check.ok ? check.line : null;
  const tokens = useMemo(() => tokenize(props.value), [props.value]);

  /** Replaces the selection (or the lines it touches) and puts the caret where it belongs, keeping undo. */
  const edit = (from: number, to: number, text: string, caret: number) => {
    const el = area.current!;
    el.setSelectionRange(from, to);
    // execCommand keeps the browser's undo stack; setRangeText is the fallback where it is missing.
    if (!document.execCommand?.('insertText', false, text)) {
      el.setRangeText(text, from, to, 'end');
      props.onChange(el.value);
    }
    el.setSelectionRange(caret, caret);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    const el = e.currentTarget;
    const { selectionStart: start, selectionEnd: end, value } = el;
    if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) {
      e.preventDefault();
      props.onSubmit?.();
      return;
    }
    if (e.key === 'Tab') {
      e.preventDefault();
      const lineStart = value.lastIndexOf('\n', start - 1) + 1;
      if (!e.shiftKey && start === end) {
        edit(start, end, '  ', start + 2);
        return;
      }
      const block = value.slice(lineStart, end);
      const changed = e.shiftKey ? block.replace(/^ {1,2}/gm, '') : block.replace(/^/gm, '  ');
      edit(lineStart, end, changed, lineStart + changed.length);
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey && start === end) {
      e.preventDefault();
      const lineStart = value.lastIndexOf('\n', start - 1) + 1;
      const indent = /^ */.exec(value.slice(lineStart))![0];
      const before = value[start - 1];
      const after = value[start];
      if ((before === '{' && after === '}') || (before === '[' && after === ']')) {
        const text = `\n${indent}  \n${indent}`;
        edit(start, end, text, start + indent.length + 3);
      } else {
        const extra = before === '{' || before === '[' ? '  ' : '';
        const text = `\n${indent}${extra}`;
        edit(start, end, text, start + text.length);
      }
    }
  };

  const format = () => {
    if (!check?.ok) return;
    const el = area.current!;
    el.focus();
    el.select();
    const text = JSON.stringify(check.value, null, 2);
    if (!document.execCommand?.('insertText', false, text)) props.onChange(text);
  };

  const rows = Math.max(props.minLines ?? 6, lines.length);
  // As wide as the longest line (monospace: 1ch a character), so the textarea never scrolls apart from its highlighting.
  const width = `max(100%, calc(${Math.max(...lines.map((l) => l.length))}ch + 24px))`;
  return (
    <div className={`json-editor ${check && !check.ok ? 'json-editor-invalid' : ''}`} data-testid={props.testId}>
      <div className="json-editor-scroll">
        <div className="json-editor-gutter" aria-hidden>
          {Array.from({ length: rows }, (_, i) => (
            <div key={i} className={i + 1 === errorLine ? 'json-editor-gutter-error' : undefined}>
              {i < lines.length ? i + 1 : ''}
            </div>
          ))}
        </div>
        <div className="json-editor-code">
          <pre className="json-editor-highlight" aria-hidden style={{ width }}>
            {tokens.map((t, i) => (t.kind === 'text' || t.kind === 'punct' ? t.text : <span key={i} className={`json-${t.kind}`}>{t.text}</span>))}
            {'\n'}
          </pre>
          <textarea
            ref={area}
            id={props.id}
            className="json-editor-input"
            style={{ width }}
            value={props.value}
            onChange={(e) => props.onChange(e.target.value)}
            onKeyDown={onKeyDown}
            spellCheck={false}
            autoCapitalize="off"
            autoComplete="off"
            wrap="off"
            rows={rows}
            placeholder={props.placeholder}
            aria-invalid={check && !check.ok ? true : undefined}
            aria-describedby={props['aria-describedby']}
            data-testid={props.testId ? `${props.testId}-text` : undefined}
          />
        </div>
      </div>
      <div className="json-editor-status">
        {check === null ? (
          <span className="muted">empty: none</span>
        ) : check.ok ? (
          <span className="json-editor-ok" data-testid={props.testId ? `${props.testId}-ok` : undefined}>
            ✓ valid JSON
          </span>
        ) : (
          <span className="json-editor-problem" role="alert" data-testid={props.testId ? `${props.testId}-problem` : undefined}>
            Line {check.line}, column {check.column}: {check.message}
          </span>
        )}
        <button type="button" className="btn btn-ghost btn-small" onClick={format} disabled={!check?.ok} title="Indent the JSON (2 spaces)">
          Format
        </button>
      </div>
    </div>
  );
}
