/**
 * `/api/v1/organizations/{org_id}/schemas`: the organization's declared schema extensions (custom attributes), as
 * `scimkit schemas add|list|remove` manage them (docs/compatibility.md, "Custom attributes").
 *
 *   GET    /schemas          -> {"data": [extension...], "next_cursor": null}
 *   POST   /schemas          {"resource_type": "User"|"Group", "required": false, "schema": {RFC 7643 schema document}}
 *                            -> 201 extension; 400 naming what is wrong with the document; 409 when the URN is taken
 *   GET    /schemas/{urn}    -> extension, or 404
 *   DELETE /schemas/{urn}    -> {"urn", "resource_type", "resources_with_data", "data_kept": true}
 */
import type { FastifyInstance } from 'fastify';
import { parseSchemaDocument } from '../../scim/schema/declare.ts';
import type { ExtensibleResourceType, SchemaExtensionDeclaration } from '../../scim/schema/declare.ts';
import type { StoredSchemaExtension } from '../../store/types.ts';
import { ApiError, listJson, objectBody, organizationOf, sendJson } from './index.ts';
import type { ManagementContext } from './index.ts';

export function schemaExtensionJson(extension: StoredSchemaExtension): Record<string, unknown> {
  const { declaration } = extension;
  return {
    urn: declaration.schema.id,
    resource_type: declaration.resourceType,
    required: declaration.required,
    created_at: extension.created,
    schema: declaration.schema,
  };
}

const BODY_FIELDS = new Set(['resource_type', 'required', 'schema']);

/** Reads a POST body into a declaration; the schema document is checked by parseSchemaDocument (400 naming the problem). */
function declarationOf(body: Record<string, unknown>): SchemaExtensionDeclaration {
  for (const key of Object.keys(body)) {
    if (!BODY_FIELDS.has(key)) throw ApiError.badRequest('invalid_body', `Unknown field "${key}"; send resource_type, required and schema`);
  }
  const resourceType = body.resource_type ?? 'User';
  if (resourceType !== 'User' && resourceType !== 'Group') throw ApiError.badRequest('invalid_resource_type', '"resource_type" must be "User" or "Group"');
  const required = body.required ?? false;
  if (typeof required !== 'boolean') throw ApiError.badRequest('invalid_required', '"required" must be true or false');
  if (body.schema === undefined) throw ApiError.badRequest('invalid_schema', '"schema" must hold the RFC 7643 schema document (id, name, attributes)');
  return { resourceType: resourceType as ExtensibleResourceType, required, schema: parseSchemaDocument(body.schema) };
}

type UrnParams = { Params: { orgId: string; urn: string } };

export function registerSchemaRoutes(org: FastifyInstance, context: ManagementContext): void {
  const { store } = context;

  org.get('/schemas', async (request, reply) => {
    const list = await store.listSchemaExtensions(organizationOf(request).id);
    return sendJson(reply, 200, listJson(list.map(schemaExtensionJson), null));
  });

  org.post('/schemas', async (request, reply) => {
    const added = await store.addSchemaExtension(organizationOf(request).id, declarationOf(objectBody(request)));
    return sendJson(reply, 201, schemaExtensionJson(added));
  });

  org.get<UrnParams>('/schemas/:urn', async (request, reply) => {
    const urn = request.params.urn.toLowerCase();
    const found = (await store.listSchemaExtensions(organizationOf(request).id)).find((e) => e.declaration.schema.id.toLowerCase() === urn);
    if (!found) throw ApiError.notFound(`No schema extension ${JSON.stringify(request.params.urn)} is declared for this organization`);
    return sendJson(reply, 200, schemaExtensionJson(found));
  });

  org.delete<UrnParams>('/schemas/:urn', async (request, reply) => {
    const removed = await store.removeSchemaExtension(organizationOf(request).id, request.params.urn);
    return sendJson(reply, 200, {
      urn: removed.declaration.schema.id,
      resource_type: removed.declaration.resourceType,
      resources_with_data: removed.resourcesWithData,
      // The documents keep what they hold under the URN; declaring it again brings it back.
      data_kept: true,
    });
  });
}
