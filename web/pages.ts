/**
 * The HTML shells of the kiosk (`/`) and the admin portal (`/admin`). Each loads its bundle from
 * `/assets/{kiosk,admin}.js` (built by `deno task bundle` into `dist/ui/`). The shells are code,
 * so `deno compile` embeds them without an `--include`.
 *
 * @module
 */

function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** The range's flag mark as an inline SVG icon (no extra request, allowed by the CSP's data:). */
const FAVICON = "data:image/svg+xml," + encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48"><rect width="48" height="48" ' +
    'rx="13" fill="#15803d"/><path d="M21 10v27" stroke="#fff" stroke-width="3"/>' +
    '<path d="M22.3 10.5 35 15.5l-12.7 5z" fill="#fbbf24"/></svg>',
);

function shell(page: "kiosk" | "admin", title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="${FAVICON}">
</head>
<body data-page="${page}">
<div id="app"><noscript>This page needs JavaScript.</noscript></div>
<script type="module" src="/assets/${page}.js"></script>
</body>
</html>
`;
}

export function kioskPage(title: string): string {
  return shell("kiosk", title);
}

export function adminPage(title: string): string {
  return shell("admin", `${title} · Admin`);
}
