/**
 * `.mn` highlighting for CodeMirror: a small stream tokenizer whose words come
 * from the compiler's own tables — the builtin layers (BUILTINS), the
 * structural statements (STRUCTURAL), every option a builtin takes, and the
 * words options accept (OPTION_WORDS: activations, norms, paddings, …) — so a
 * new op or option is highlighted the day the compiler learns it.
 */
import { StreamLanguage, syntaxHighlighting, type StringStream } from "@codemirror/language";
import { tagHighlighter, tags } from "@lezer/highlight";
import type { Extension } from "@codemirror/state";
import { BUILTINS, FROM, OPTION_WORDS, STRUCTURAL } from "../src/ir/builtins.js";

const DECLARATIONS = new Set(["network", "block"]);
const STATEMENTS = new Set<string>(STRUCTURAL);
const OPS = new Set(BUILTINS.keys());
const OPTIONS = new Set([FROM, ...[...BUILTINS.values()].flatMap((b) => b.params.map((p) => p.name))]);
const WORDS = new Set<string>(Object.values(OPTION_WORDS).flat());

/** The tokenizer's state: whether the next word names a declaration (after `network`/`block`). */
interface State {
  declaring: boolean;
}

function token(stream: StringStream, state: State): string | null {
  if (stream.eatSpace()) return null;
  if (stream.match(/^#.*/)) return "comment";
  // A shape (224x224x3) or a number, as the lexer reads them.
  if (stream.match(/^\d+(?:x\d+)+(?![A-Za-z0-9_.])/) || stream.match(/^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z0-9_.])/)) return "number";
  if (stream.match(/^[0-9.][A-Za-z0-9_.]*/)) return "invalid";
  const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
  if (word !== null) {
    const w = word[0];
    if (state.declaring) {
      state.declaring = false;
      return "typeName.definition";
    }
    if (DECLARATIONS.has(w)) {
      state.declaring = true;
      return "keyword";
    }
    // `name=`: an option (or a parameter's override), whatever its name.
    if (stream.match(/^\s*=/, false)) return OPTIONS.has(w) ? "propertyName" : "variableName.definition";
    if (STATEMENTS.has(w)) return "keyword";
    if (OPS.has(w)) return "operatorKeyword";
    if (WORDS.has(w)) return "atom";
    return "variableName";
  }
  const c = stream.next();
  if (c === "{" || c === "}" || c === "(" || c === ")") return "bracket";
  if (c === "=" || c === "+" || c === "-" || c === "*" || c === "/") return "operator";
  if (c === "," || c === ";") return "punctuation";
  return "invalid";
}

export const mnLanguage = StreamLanguage.define<State>({
  name: "mn",
  startState: () => ({ declaring: false }),
  token,
  copyState: (s) => ({ ...s }),
  languageData: { commentTokens: { line: "#" } },
});

const highlighter = tagHighlighter([
  { tag: tags.comment, class: "tok-comment" },
  { tag: tags.number, class: "tok-number" },
  { tag: tags.keyword, class: "tok-keyword" },
  { tag: tags.operatorKeyword, class: "tok-op" },
  { tag: tags.propertyName, class: "tok-option" },
  { tag: tags.atom, class: "tok-atom" },
  { tag: tags.definition(tags.typeName), class: "tok-def" },
  { tag: tags.definition(tags.variableName), class: "tok-param" },
  { tag: tags.variableName, class: "tok-name" },
  { tag: tags.invalid, class: "tok-invalid" },
]);

/** The language and its highlighting (colours in style.css, so no inline style is needed). */
export function mn(): Extension {
  return [mnLanguage, syntaxHighlighting(highlighter)];
}
