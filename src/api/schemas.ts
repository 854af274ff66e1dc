/**
 * Zod schemas of the public HTTP API (CONTRACT.md). The wire shapes live in ./wire (browser-safe, shared with
 * `arrakis/client`); this module keeps the server's imports in one place.
 */
export * from './wire/index.js';
