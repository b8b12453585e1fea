/**
 * A design as a link: the URL's fragment carries the source (never sent to a
 * server), its file name and the playground's settings.
 *
 *   #name=net.mn&z=<base64url of the UTF-8 source, deflate-raw compressed>
 *   #name=net.mn&src=<base64url of the UTF-8 source>      (where CompressionStream is missing)
 *   …&alpha=0.5&resolution=160&network=N&set.classes=10
 *
 * `mnc serve FILE` writes the same `z=` form (Node's deflateRaw), docs/playground.md documents it.
 */

export interface Shared {
  readonly name?: string;
  readonly source?: string;
  readonly alpha?: number;
  readonly resolution?: number;
  readonly network?: string;
  readonly set: Readonly<Record<string, string>>;
}

export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

async function through(bytes: Uint8Array, stream: GenericTransformStream): Promise<Uint8Array> {
  const piped = new Blob([bytes as BlobPart]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(piped).arrayBuffer());
}

/** The fragment for a design (without the leading '#'). */
export async function encodeShared(s: Shared): Promise<string> {
  const params = new URLSearchParams();
  if (s.name !== undefined) params.set("name", s.name);
  if (s.source !== undefined) {
    const utf8 = new TextEncoder().encode(s.source);
    if (typeof CompressionStream === "function") params.set("z", base64url(await through(utf8, new CompressionStream("deflate-raw"))));
    else params.set("src", base64url(utf8));
  }
  if (s.network !== undefined) params.set("network", s.network);
  if (s.alpha !== undefined) params.set("alpha", String(s.alpha));
  if (s.resolution !== undefined) params.set("resolution", String(s.resolution));
  for (const [k, v] of Object.entries(s.set)) params.set(`set.${k}`, v);
  return params.toString();
}

/** A fragment read back; a part that does not decode is left out (the page then says so). */
export async function decodeShared(fragment: string): Promise<Shared & { readonly problem?: string }> {
  const params = new URLSearchParams(fragment.replace(/^#/, ""));
  let source: string | undefined;
  let problem: string | undefined;
  try {
    const z = params.get("z");
    const src = params.get("src");
    const decoder = new TextDecoder("utf-8", { fatal: true });
    if (z !== null) source = decoder.decode(await through(fromBase64url(z), new DecompressionStream("deflate-raw")));
    else if (src !== null) source = decoder.decode(fromBase64url(src));
  } catch {
    problem = "the link's source does not decode (it may have been cut short)";
  }
  const number = (key: string): number | undefined => {
    const v = params.get(key);
    const n = v === null ? NaN : Number(v);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  };
  const set: Record<string, string> = {};
  for (const [k, v] of params) if (k.startsWith("set.")) set[k.slice(4)] = v;
  const name = params.get("name");
  const network = params.get("network");
  const alpha = number("alpha");
  const resolution = number("resolution");
  return {
    ...(name === null ? {} : { name }),
    ...(source === undefined ? {} : { source }),
    ...(network === null ? {} : { network }),
    ...(alpha === undefined ? {} : { alpha }),
    ...(resolution === undefined ? {} : { resolution }),
    set,
    ...(problem === undefined ? {} : { problem }),
  };
}
