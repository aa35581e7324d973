/** Why dist/ does not match src/, or null when it does (see build.mjs). */
export function staleReason(root?: string): string | null;
export function build(): void;
/** Builds when stale; returns the reason it built, or null. */
export function buildIfStale(): string | null;
