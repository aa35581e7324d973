export const DOC: string;
export const BEGIN: string;
export const END: string;
/** The API reference generated from dist/*.d.ts. */
export function renderReference(root?: string): string;
/** The reference docs/embedding.md holds now, between the markers. */
export function committedReference(doc?: string): string;
