/** Comma-separated CLI values. */
export function splitList(s: string | undefined): string[] {
  return (s ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}
