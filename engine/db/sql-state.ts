/** The SQLSTATE of a database error, looking through CleaverError causes; undefined when there is none. */
export function sqlState(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    // SQLSTATE classes start with a digit or F, H, P, X; this keeps Node's own codes (EPIPE) out.
    if (typeof code === 'string' && /^[0-9FHPX][0-9A-Z]{4}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Errors caused by the data in a statement (bad value, constraint): retrying the same batch won't help. */
export function isDataError(error: unknown): boolean {
  const state = sqlState(error);
  return state !== undefined && (state.startsWith('22') || state.startsWith('23'));
}
