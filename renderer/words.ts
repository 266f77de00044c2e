/** How counts and lists of names read in the console's sentences ("3 runs", "a, b and 4 more"). */

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

/** "a", "a and b", "a, b and c", "a, b, c, d, e and 19 more". */
export function nameList(names: string[], max = 5): string {
  if (names.length === 0) return 'none';
  if (names.length === 1) return names[0]!;
  const shown = names.length > max + 1 ? names.slice(0, max) : names.slice(0, -1);
  const rest = names.length > max + 1 ? `${names.length - max} more` : names.at(-1)!;
  return `${shown.join(', ')} and ${rest}`;
}
