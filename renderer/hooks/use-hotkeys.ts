/**
 * Keyboard navigation. Single keys fire unless the user is typing in a field (Escape always fires);
 * "g r" style sequences switch pages. Lists use useListKeys for j / k / Enter.
 */
import { useEffect, useRef, useState } from 'react';

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el) return false;
  return el.isContentEditable || el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT';
}

export function useHotkeys(bindings: Record<string, (event: KeyboardEvent) => void>): void {
  const ref = useRef(bindings);
  ref.current = bindings;
  useEffect(() => {
    let prefix: string | null = null;
    let prefixTimer: ReturnType<typeof setTimeout> | null = null;
    const onKey = (event: KeyboardEvent) => {
      if (event.metaKey || event.ctrlKey || event.altKey) return;
      if (event.key !== 'Escape' && typing(event.target)) return;
      const key = prefix ? `${prefix} ${event.key}` : event.key;
      if (prefix) {
        prefix = null;
        if (prefixTimer) clearTimeout(prefixTimer);
      }
      const handler = ref.current[key];
      if (handler) {
        event.preventDefault();
        handler(event);
        return;
      }
      if (Object.keys(ref.current).some((k) => k.startsWith(`${event.key} `))) {
        prefix = event.key;
        prefixTimer = setTimeout(() => (prefix = null), 1200);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}

/** j / k move the highlighted row of a list, Enter opens it. Returns the highlighted index (-1: none). */
export function useListKeys(count: number, onOpen: (index: number) => void): [number, (index: number) => void] {
  const [active, setActive] = useState(-1);
  const activeRef = useRef(active);
  activeRef.current = active;
  useHotkeys({
    j: () => setActive((i) => Math.min(count - 1, i + 1)),
    k: () => setActive((i) => Math.max(0, i - 1)),
    Enter: () => {
      if (activeRef.current >= 0 && activeRef.current < count) onOpen(activeRef.current);
    },
  });
  useEffect(() => {
    if (active >= count) setActive(count - 1);
  }, [active, count]);
  return [active, setActive];
}

/** "/" focuses the page's filter field (marked data-hotkey-filter). */
export function focusFilter(): void {
  const field = document.querySelector<HTMLElement>('[data-hotkey-filter]');
  field?.focus();
  if (field instanceof HTMLInputElement) field.select();
}
