/** scimkit/scim: the SCIM 2.0 protocol layer. Pure: no I/O, no HTTP, no SQL. */
export * from './errors.ts';
export * from './schema/index.ts';
export * from './filter/index.ts';
export * from './patch/types.ts';
export * from './patch/index.ts';
export * from './validate.ts';
export * from './projection.ts';
export * from './list.ts';
export * from './discovery.ts';
