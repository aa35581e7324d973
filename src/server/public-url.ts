/** The `publicUrl` option of the plugin and `serve --public-url`: one rule for both. */

/**
 * The origin of a `publicUrl` option: http(s), a host, nothing after it. Anything else is refused when the plugin is
 * registered: a bare host (`scim.example.com`) made every Location and $ref a relative path, and credentials in it
 * were copied into every link.
 */
export function checkPublicUrl(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // Refused below.
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new Error('must be http:// or https:// with a host and nothing after it, such as https://scim.example.com');
  }
  return url.origin;
}
