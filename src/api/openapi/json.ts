/** The JSON shapes the OpenAPI post-processing walks. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
export interface OpenApiDocument extends JsonObject {
  paths: { [path: string]: { [method: string]: JsonObject } };
  components: JsonObject & { schemas?: { [name: string]: Json } };
}

/** A JSON object (not null, not an array). */
export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
