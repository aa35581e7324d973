export * from './scim/index.ts';
