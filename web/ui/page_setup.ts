/**
 * Prepares the page for a bundle: its style sheets (bundled into the script as text, so the
 * HTML shell needs no extra requests) and a body class for page-specific rules.
 *
 * @module
 */

/** Adds `css` as one `<style>` element and `page-{name}` to the body's classes. */
export function setupPage(name: "kiosk" | "admin", ...css: string[]): void {
  const style = document.createElement("style");
  style.dataset.page = name;
  style.textContent = css.join("\n");
  document.head.append(style);
  document.body.classList.add(`page-${name}`);
}
