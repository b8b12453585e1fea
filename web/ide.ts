/**
 * The language services of src/ide in the editor: hover on a layer (its
 * shapes, mult-adds, params and effective width, as `mnc lsp` answers) and
 * completion of ops, options and their values. The services answer in the
 * Language Server Protocol's positions and Markdown; this maps both.
 */
import { autocompletion, type Completion, type CompletionContext, type CompletionResult } from "@codemirror/autocomplete";
import type { Extension, Text } from "@codemirror/state";
import { hoverTooltip } from "@codemirror/view";
import { CompletionKind, languageDocument, type LanguageDocument, type Position } from "../src/ide/index.js";
import type { DocumentOptions } from "../src/ide/index.js";
import { h } from "./dom.js";

/** The settings the document is analysed with (the page's α, resolution, parameters), and its file name. */
export type OptionsSource = () => DocumentOptions & { readonly file: string };

/** One analysis per text and settings, reused by every hover and completion until either changes. */
function cachedDocument(options: OptionsSource): (text: Text) => LanguageDocument {
  let key = "";
  let doc: LanguageDocument | undefined;
  return (text) => {
    const o = options();
    const source = text.toString();
    const k = JSON.stringify(o) + "\u0000" + source;
    if (doc === undefined || k !== key) {
      doc = languageDocument(source, o);
      key = k;
    }
    return doc;
  };
}

function positionOf(text: Text, pos: number): Position {
  const line = text.lineAt(pos);
  return { line: line.number - 1, character: pos - line.from };
}

/** `**bold**` and `` `code` `` in one line of the services' Markdown. */
function inline(text: string): (Node | string)[] {
  const out: (Node | string)[] = [];
  const re = /\*\*(.+?)\*\*|`([^`]+)`/g;
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push(text.slice(last, m.index));
    out.push(m[1] !== undefined ? h("strong", {}, ...inline(m[1])) : h("code", {}, m[2]!));
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

/** The Markdown the services write (paragraphs, `- ` lists, pipe tables, bold, code) as elements; text stays text. */
export function markdown(value: string): HTMLElement {
  const root = h("div", { class: "hover" });
  const lines = value.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("|")) {
      const rows: string[][] = [];
      for (; i < lines.length && lines[i]!.startsWith("|"); i++) rows.push(lines[i]!.slice(1, -1).split("|").map((c) => c.trim()));
      i--;
      const [head, rule, ...body] = rows;
      const right = (rule ?? []).map((c) => c.endsWith(":"));
      const cell = (tag: "th" | "td", c: string, k: number): HTMLElement => h(tag, right[k] === true ? { class: "num" } : {}, ...inline(c));
      root.append(h("table", {}, h("thead", {}, h("tr", {}, ...(head ?? []).map((c, k) => cell("th", c, k)))), h("tbody", {}, ...body.map((r) => h("tr", {}, ...r.map((c, k) => cell("td", c, k)))))));
    } else if (line.startsWith("- ")) {
      const items: string[] = [];
      for (; i < lines.length && lines[i]!.startsWith("- "); i++) items.push(lines[i]!.slice(2));
      i--;
      root.append(h("ul", {}, ...items.map((t) => h("li", {}, ...inline(t)))));
    } else if (line.trim() !== "") {
      root.append(h("p", {}, ...inline(line)));
    }
  }
  return root;
}

const COMPLETION_TYPES: Readonly<Record<number, string>> = {
  [CompletionKind.Function]: "function",
  [CompletionKind.Field]: "property",
  [CompletionKind.Variable]: "variable",
  [CompletionKind.Class]: "class",
  [CompletionKind.Module]: "namespace",
  [CompletionKind.Property]: "property",
  [CompletionKind.Value]: "constant",
  [CompletionKind.Keyword]: "keyword",
  [CompletionKind.EnumMember]: "enum",
};

export function languageServices(options: OptionsSource): Extension {
  const documentOf = cachedDocument(options);
  const hover = hoverTooltip((view, pos) => {
    const doc = documentOf(view.state.doc);
    const answer = doc.hover(positionOf(view.state.doc, pos));
    if (answer === undefined) return null;
    const line = (p: Position): number => view.state.doc.line(p.line + 1).from + p.character;
    return { pos: line(answer.range.start), end: line(answer.range.end), above: true, create: () => ({ dom: markdown(answer.contents.value) }) };
  });
  const complete = (context: CompletionContext): CompletionResult | null => {
    const word = context.matchBefore(/[A-Za-z_][A-Za-z0-9_]*/);
    if (word === null && !context.explicit && !/[= ]$/.test(context.state.sliceDoc(Math.max(0, context.pos - 1), context.pos))) return null;
    const items = documentOf(context.state.doc).completion(positionOf(context.state.doc, context.pos));
    if (items.length === 0) return null;
    // The services list items in the order they mean: the first gets the largest boost.
    const options: Completion[] = items.map((c, i) => ({
      label: c.label,
      apply: c.insertText ?? c.label,
      type: COMPLETION_TYPES[c.kind] ?? "text",
      ...(c.detail === undefined ? {} : { detail: c.detail }),
      boost: Math.max(-99, 99 - i),
    }));
    return { from: word?.from ?? context.pos, options, validFor: /^[A-Za-z0-9_]*$/ };
  };
  return [hover, autocompletion({ override: [complete] })];
}
