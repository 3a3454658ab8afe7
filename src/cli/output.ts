// What a command prints: a human table or, with --json, one JSON document on stdout.

/** Print `value` as JSON (with --json) or call `human` to print it for people. */
export function emit(json: boolean, value: unknown, human: () => void): void {
  if (json) process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  else human();
}

/** Format rows as an aligned text table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
