/**
 * Discovery documents (RFC 7643 sections 5, 6 and 7; RFC 9865 section on service provider configuration),
 * generated from the schema data so `/Schemas` and `/ResourceTypes` always describe what the server enforces.
 */
import { RESOURCE_TYPE_SCHEMA, SCHEMA_SCHEMA, SERVICE_PROVIDER_CONFIG_SCHEMA } from './schema/core.ts';
import type { AttributeDefinition, ResourceTypeDefinition, SchemaDefinition } from './schema/types.ts';

function meta(resourceType: string, location: string | undefined): Record<string, unknown> {
  return location === undefined ? { resourceType } : { resourceType, location };
}

/** One attribute with every characteristic of RFC 7643 section 7. */
export function attributeResource(def: AttributeDefinition): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: def.name,
    type: def.type,
    multiValued: def.multiValued,
    description: def.description,
    required: def.required,
    caseExact: def.caseExact,
    mutability: def.mutability,
    returned: def.returned,
    uniqueness: def.uniqueness,
  };
  if (def.canonicalValues) out.canonicalValues = [...def.canonicalValues];
  if (def.referenceTypes) out.referenceTypes = [...def.referenceTypes];
  if (def.subAttributes) out.subAttributes = def.subAttributes.map(attributeResource);
  return out;
}

/** The `/Schemas/{id}` representation of a schema (RFC 7643 section 7). */
export function schemaResource(def: SchemaDefinition, location?: string): Record<string, unknown> {
  return {
    schemas: [SCHEMA_SCHEMA],
    id: def.id,
    name: def.name,
    description: def.description,
    attributes: def.attributes.map(attributeResource),
    meta: meta('Schema', location),
  };
}

/** The `/ResourceTypes/{id}` representation of a resource type (RFC 7643 section 6). */
export function resourceTypeResource(rt: ResourceTypeDefinition, location?: string): Record<string, unknown> {
  return {
    schemas: [RESOURCE_TYPE_SCHEMA],
    id: rt.id,
    name: rt.name,
    endpoint: rt.endpoint,
    description: rt.description,
    schema: rt.schema,
    schemaExtensions: rt.schemaExtensions.map((ext) => ({ schema: ext.schema, required: ext.required })),
    meta: meta('ResourceType', location),
  };
}

export interface ServiceProviderFeatures {
  readonly patch: boolean;
  readonly bulk: { readonly supported: boolean; readonly maxOperations: number; readonly maxPayloadSize: number };
  readonly filter: { readonly supported: boolean; readonly maxResults: number };
  readonly changePassword: boolean;
  readonly sort: boolean;
  readonly etag: boolean;
  /** RFC 9865 cursor paging; index paging is always offered. */
  readonly cursorPaging?: boolean;
  /** Page sizes and cursor lifetime (seconds) advertised with cursor paging. */
  readonly pagination?: { readonly defaultPageSize: number; readonly maxPageSize: number; readonly cursorTimeout: number };
  readonly documentationUri?: string;
  readonly location?: string;
}

/** The `/ServiceProviderConfig` document (RFC 7643 section 5). */
export function serviceProviderConfig(features: ServiceProviderFeatures): Record<string, unknown> {
  const config: Record<string, unknown> = { schemas: [SERVICE_PROVIDER_CONFIG_SCHEMA] };
  if (features.documentationUri !== undefined) config.documentationUri = features.documentationUri;
  config.patch = { supported: features.patch };
  config.bulk = { supported: features.bulk.supported, maxOperations: features.bulk.maxOperations, maxPayloadSize: features.bulk.maxPayloadSize };
  config.filter = { supported: features.filter.supported, maxResults: features.filter.maxResults };
  config.changePassword = { supported: features.changePassword };
  config.sort = { supported: features.sort };
  config.etag = { supported: features.etag };
  config.authenticationSchemes = [
    {
      type: 'oauthbearertoken',
      name: 'OAuth Bearer Token',
      description: 'Authentication with a bearer token in the Authorization header (RFC 6750).',
      specUri: 'https://www.rfc-editor.org/info/rfc6750',
      primary: true,
    },
  ];
  if (features.cursorPaging) {
    const pagination: Record<string, unknown> = { cursor: true, index: true, defaultPaginationMethod: 'index' };
    if (features.pagination) {
      pagination.defaultPageSize = features.pagination.defaultPageSize;
      pagination.maxPageSize = features.pagination.maxPageSize;
      pagination.cursorTimeout = features.pagination.cursorTimeout;
    }
    config.pagination = pagination;
  }
  config.meta = meta('ServiceProviderConfig', features.location);
  return config;
}
