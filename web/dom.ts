/** Small DOM helpers for the page: elements built by code, never from HTML strings of user text. */

type Child = Node | string | null | undefined | false;

/** `h("td", { class: "num" }, "1,024")`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Readonly<Record<string, string | undefined>> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`the page has no #${id}`);
  return e as T;
}

/** Style sheets already adopted, by their text (the report's charts share one). */
const adopted = new Map<string, CSSStyleSheet>();

/**
 * An SVG document of mnc's (a chart, the graph drawing) as a live element. Its
 * `<style>` elements are taken out of the markup before it is parsed and
 * become constructed style sheets (document.adoptedStyleSheets): the page's
 * Content-Security-Policy allows no inline style, and a constructed sheet is none.
 */
export function svgElement(markup: string): SVGSVGElement {
  const bare = markup.replace(/<style>([\s\S]*?)<\/style>/g, (_all, text: string) => {
    if (!adopted.has(text)) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(text);
      adopted.set(text, sheet);
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
    }
    return "";
  });
  const parsed = new DOMParser().parseFromString(bare, "image/svg+xml");
  const root = parsed.documentElement;
  if (root.nodeName !== "svg") throw new Error(`not an SVG document: ${root.textContent?.slice(0, 200) ?? ""}`);
  return document.importNode(root, true) as unknown as SVGSVGElement;
}

/** Offer bytes or text as a file download (a blob: URL, made and released here). */
export function download(name: string, content: Uint8Array | string, type: string): void {
  const blob = new Blob([content as BlobPart], { type });
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
