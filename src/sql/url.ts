/**
 * A database named by one string: `sqlite:PATH` or a `postgres://` URL. The server's `openStore` and
 * `serve --database`, and the connector's `destination`, all read this form.
 */
export type DatabaseUrl = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

/**
 * The text with the credentials of any URL in it masked (`postgres://***@host/db`), for messages: its user part, and
 * the `password` and `sslpassword` query parameters that node-postgres also reads.
 */
export function maskPassword(value: string): string {
  return value.replace(/\/\/[^@/\s]*@/g, '//***@').replace(/([?&](?:ssl)?password=)[^&#\s]*/gi, '$1***');
}

function quote(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
}

/**
 * The file path of `<scheme>:PATH` (`sqlite:`, `duckdb:`). `<scheme>:///abs/path` is the URL spelling of the absolute
 * path /abs/path. `<scheme>://x.db` and `<scheme>://./x.db` are refused: taken as paths, `//x.db` and `//./x.db` are
 * /x.db at the root of the filesystem, never where the writer of a URL with a host part meant.
 */
export function filePathOf(value: string, scheme: string, example: string, name: string): string {
  const rest = value.slice(scheme.length + 1);
  if (rest.startsWith('//') && !rest.startsWith('///')) {
    throw new Error(`${name} ${quote(maskPassword(value))} names no file: write ${scheme}:${example} for a path relative to the working directory, or ${scheme}:///abs/path for an absolute one`);
  }
  const path = rest.replace(/^\/\/(?=\/)/, '');
  if (path === '') throw new Error(`${name} ${scheme}: needs a file path, as in ${scheme}:${example}`);
  return path;
}

/**
 * Parses `sqlite:PATH` (`sqlite:./data/scimkit.db`, `sqlite:///var/lib/scimkit.db`, `sqlite::memory:`) or a
 * `postgres://` / `postgresql://` URL. Throws an Error whose message starts with `name` and never shows a password.
 */
export function parseDatabaseUrl(value: string, name = 'database'): DatabaseUrl {
  if (value.startsWith('sqlite:')) return { kind: 'sqlite', path: filePathOf(value, 'sqlite', './file.db', name) };
  if (/^postgres(ql)?:\/\//i.test(value)) {
    try {
      new URL(value);
    } catch {
      throw new Error(`${name} is not a valid postgres:// URL`);
    }
    return { kind: 'postgres', url: value };
  }
  throw new Error(`${name} must be sqlite:PATH or a postgres:// URL (got ${quote(maskPassword(value))})`);
}
