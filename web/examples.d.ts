/** Bundled by web/build.mjs: every examples/*.mn, in name order. */
declare module "mnc:examples" {
  export const EXAMPLES: readonly { readonly name: string; readonly source: string }[];
}
