// The UI's stylesheet, served as /ui/style.css (kept in TypeScript so the tsc build carries it).

export const UI_STYLE = `
:root { --fg: #1d232a; --muted: #6b7580; --line: #dde2e7; --accent: #c2410c; --bg: #fbfbfc; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 14px; color: var(--fg); background: var(--bg); }
body { margin: 0; }
header { display: flex; gap: 16px; align-items: baseline; padding: 10px 20px; border-bottom: 1px solid var(--line); background: #fff; }
header .brand { font-weight: 700; font-size: 16px; color: var(--fg); text-decoration: none; }
header nav a { color: var(--muted); margin-right: 12px; }
main { padding: 16px 20px; max-width: 1200px; }
h1 { font-size: 20px; margin: 4px 0 12px; }
h2 { font-size: 16px; margin: 22px 0 8px; }
h3 { font-size: 14px; margin: 14px 0 6px; color: var(--muted); }
a { color: #0b5cad; }
.muted { color: var(--muted); }
.error { color: #b91c1c; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { text-align: left; padding: 3px 10px 3px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 16px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
.stats { display: flex; gap: 24px; flex-wrap: wrap; margin: 6px 0 10px; }
.stats div b { display: block; font-size: 18px; }
.example { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; line-height: 1.9; margin: 2px 0; padding: 2px 4px; border-bottom: 1px dotted var(--line); white-space: pre-wrap; word-break: break-all; }
.example .act { color: var(--muted); display: inline-block; min-width: 56px; }
.tok { white-space: pre; border-radius: 2px; }
.tok.peak { outline: 1px solid var(--accent); }
.tok.special { color: var(--muted); }
.tok.sel { outline: 2px solid #0b5cad; }
.logits td.tokname { font-family: ui-monospace, monospace; white-space: pre; }
.pos { color: #15803d; } .neg { color: #b91c1c; }
svg text { font-size: 10px; fill: var(--muted); }
textarea { width: 100%; min-height: 90px; font-family: ui-monospace, monospace; }
button { padding: 4px 12px; }
input[type=number] { width: 110px; padding: 3px; }
.pager { margin: 8px 0; display: flex; gap: 8px; align-items: center; }
.textout { font-family: ui-monospace, monospace; font-size: 13px; line-height: 2; white-space: pre-wrap; word-break: break-all; background: #fff; border: 1px solid var(--line); padding: 8px; }
.reports img { max-width: 100%; border: 1px solid var(--line); background: #fff; }
`;
