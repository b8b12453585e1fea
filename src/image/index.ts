/** Photos to network inputs: decoding, centre crop, resize, normalisation. */
export { imageTensor, imagePixels, normalise, ImageInputError, type RgbaImage, type Normalisation } from "./preprocess.js";
export { createJpegDecoder, isJpeg, JPEG_WASM_PATH } from "./jpeg.js";
export { checkImageSize, isPng, jpegSize, MAX_IMAGE_PIXELS, pngSize, type ImageSize } from "./header.js";
