/** scimkit/scim: the SCIM 2.0 protocol layer. Pure: no I/O, no HTTP, no SQL. */
export * from './errors.ts';
export * from './schema/index.ts';
export * from './filter/ast.ts';
export * from './patch/types.ts';
