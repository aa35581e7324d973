export * from './types.ts';
export * from './core.ts';
export * from './registry.ts';
export { attr, complex } from './attribute.ts';
export * from './declare.ts';
