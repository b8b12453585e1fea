/**
 * JPEG decoding with libjpeg-turbo's arithmetic (MozJPEG's decoder compiled to
 * WebAssembly, from @jsquash/jpeg): the accurate integer IDCT and fancy chroma
 * upsampling, so the pixels are those Pillow and TensorFlow decode. Pure: the
 * caller compiles the package's `codec/dec/mozjpeg_dec.wasm` (a file read in
 * Node, a fetch in a browser) and the decoder runs synchronously after that.
 */
import factory from "@jsquash/jpeg/codec/dec/mozjpeg_dec.js";
import { ImageInputError, type RgbaImage } from "./preprocess.js";

interface MozJpegModule {
  decode(data: Uint8Array, preserveOrientation: boolean): RgbaImage | null;
}

type Factory = (options: Record<string, unknown>) => Promise<unknown>;

/** The host's WebAssembly, as far as it is used here (lib ES2022 declares none). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const wasmApi = (): Wasm => (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

/** The path of the decoder's WebAssembly binary inside the @jsquash/jpeg package. */
export const JPEG_WASM_PATH = "@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm";

/**
 * A synchronous JPEG decoder on `mozjpeg_dec.wasm`, given compiled (a
 * `WebAssembly.Module`) or as bytes (compiled here, synchronously: in a
 * browser's main thread compile it with `WebAssembly.compile` first). The EXIF
 * orientation is not applied (as Pillow's `Image.open` does not).
 */
export function createJpegDecoder(wasm: object | Uint8Array): (bytes: Uint8Array) => RgbaImage {
  const compiled = wasm instanceof Uint8Array ? new (wasmApi().Module)(wasm) : wasm;
  let codec: MozJpegModule | undefined;
  const messages: string[] = [];
  return (bytes) => {
    messages.length = 0;
    codec ??= start(compiled, messages);
    let image: RgbaImage | null;
    try {
      image = codec.decode(bytes, false);
    } catch (e) {
      // libjpeg's fatal errors end the Emscripten runtime: start afresh next time.
      codec = undefined;
      const why = messages.at(-1)?.trim() || ((e as Error).message ?? String(e));
      throw new ImageInputError(`cannot decode the JPEG: ${why}`);
    }
    if (image === null) throw new ImageInputError("cannot decode the JPEG");
    return { width: image.width, height: image.height, data: image.data };
  };
}

function start(wasm: object, messages: string[]): MozJpegModule {
  // Instantiating synchronously lets Emscripten finish its start-up inside the
  // factory call, putting `decode` on the options object it was given.
  const quiet = (): void => undefined;
  const module: Record<string, unknown> = {
    noInitialRun: true,
    print: quiet,
    // libjpeg's messages (a fatal one before the runtime exits).
    printErr: (text: string) => messages.push(text),
    instantiateWasm: (imports: object, done: (instance: object) => void) => {
      const instance = new (wasmApi().Instance)(wasm, imports);
      done(instance);
      return instance.exports;
    },
  };
  void (factory as unknown as Factory)(module).catch(quiet);
  const codec = module as unknown as MozJpegModule;
  if (typeof codec.decode !== "function") throw new Error("the JPEG decoder did not start");
  return codec;
}

export function isJpeg(b: Uint8Array): boolean {
  return b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}
