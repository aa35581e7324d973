/** The SCIM filter language (RFC 7644 section 3.4.2.2): AST, parser, printer, evaluator and schema checks. */
export * from './ast.ts';
export { parseAttrPath, parseFilter, parsePatchPath } from './parser.ts';
export type { FilterParseOptions } from './parser.ts';
export { printAttrPath, printFilter, printPatchPath } from './printer.ts';
export {
  SCHEMAS_ATTRIBUTE,
  checkFilterAttributes,
  compileFilter,
  evaluateFilter,
  evaluateValueFilter,
  parseScimDateTime,
  resolveFilterPath,
} from './evaluate.ts';
