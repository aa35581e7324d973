/** RFC 7643 core schemas (sections 3.1, 4, 8.7.1) as data: the single source of truth for every layer. */
import { attr, complex, multiValuedSubs } from './attribute.ts';
import type { AttributeDefinition, ResourceTypeDefinition, SchemaDefinition } from './types.ts';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_RESPONSE_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SEARCH_REQUEST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const BULK_REQUEST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
export const SERVICE_PROVIDER_CONFIG_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
export const RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
export const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

const readOnly = { mutability: 'readOnly' } as const;

/** Attributes every resource has (section 3.1); they belong to no schema URN. */
export const COMMON_ATTRIBUTES: readonly AttributeDefinition[] = [
  attr('id', 'string', 'A unique identifier for a SCIM resource as defined by the service provider.', {
    caseExact: true,
    mutability: 'readOnly',
    returned: 'always',
    uniqueness: 'server',
  }),
  attr('externalId', 'string', 'A String that is an identifier for the resource as defined by the provisioning client.', {
    caseExact: true,
  }),
  complex(
    'meta',
    'A complex attribute containing resource metadata.',
    [
      attr('resourceType', 'string', 'The name of the resource type of the resource.', { ...readOnly, caseExact: true }),
      attr('created', 'dateTime', 'The DateTime that the resource was added to the service provider.', readOnly),
      attr('lastModified', 'dateTime', 'The most recent DateTime that the details of this resource were updated.', readOnly),
      attr('location', 'reference', 'The URI of the resource being returned.', { ...readOnly, caseExact: true, referenceTypes: ['uri'] }),
      attr('version', 'string', 'The version of the resource being returned.', { ...readOnly, caseExact: true }),
    ],
    readOnly,
  ),
];

export const USER_SCHEMA_DEFINITION: SchemaDefinition = {
  id: USER_SCHEMA,
  name: 'User',
  description: 'User Account',
  attributes: [
    attr('userName', 'string', 'Unique identifier for the User, typically used by the user to directly authenticate to the service provider.', {
      required: true,
      uniqueness: 'server',
    }),
    complex('name', "The components of the user's real name.", [
      attr('formatted', 'string', "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display."),
      attr('familyName', 'string', 'The family name of the User.'),
      attr('givenName', 'string', 'The given name of the User.'),
      attr('middleName', 'string', 'The middle name(s) of the User.'),
      attr('honorificPrefix', 'string', 'The honorific prefix(es) of the User.'),
      attr('honorificSuffix', 'string', 'The honorific suffix(es) of the User.'),
    ]),
    attr('displayName', 'string', 'The name of the User, suitable for display to end-users.'),
    attr('nickName', 'string', 'The casual way to address the user in real life.'),
    attr('profileUrl', 'reference', "A fully qualified URL pointing to a page representing the User's online profile."),
    attr('title', 'string', "The user's title, such as \"Vice President.\""),
    attr('userType', 'string', 'Used to identify the relationship between the organization and the user.'),
    attr('preferredLanguage', 'string', "Indicates the User's preferred written or spoken language."),
    attr('locale', 'string', "Used to indicate the User's default location for purposes of localizing items."),
    attr('timezone', 'string', "The User's time zone in the 'Olson' time zone database format."),
    attr('active', 'boolean', "A Boolean value indicating the User's administrative status."),
    attr('password', 'string', "The User's cleartext password.", { mutability: 'writeOnly', returned: 'never' }),
    complex('emails', 'Email addresses for the user.', multiValuedSubs(['work', 'home', 'other']), { multiValued: true }),
    complex('phoneNumbers', 'Phone numbers for the User.', multiValuedSubs(['work', 'home', 'mobile', 'fax', 'pager', 'other']), { multiValued: true }),
    complex('ims', 'Instant messaging addresses for the User.', multiValuedSubs(['aim', 'gtalk', 'icq', 'xmpp', 'msn', 'skype', 'qq', 'yahoo']), { multiValued: true }),
    complex('photos', 'URLs of photos of the User.', multiValuedSubs(['photo', 'thumbnail'], 'reference', { referenceTypes: ['external'] }), { multiValued: true }),
    complex(
      'addresses',
      'A physical mailing address for this User.',
      [
        attr('formatted', 'string', 'The full mailing address, formatted for display or use with a mailing label.'),
        attr('streetAddress', 'string', 'The full street address component.'),
        attr('locality', 'string', 'The city or locality component.'),
        attr('region', 'string', 'The state or region component.'),
        attr('postalCode', 'string', 'The zip code or postal code component.'),
        attr('country', 'string', 'The country name component.'),
        attr('type', 'string', "A label indicating the attribute's function.", { canonicalValues: ['work', 'home', 'other'] }),
        attr('primary', 'boolean', "A Boolean value indicating the 'primary' or preferred attribute value for this attribute."),
      ],
      { multiValued: true },
    ),
    complex(
      'groups',
      'A list of groups to which the user belongs, either through direct membership, through nested groups, or dynamically calculated.',
      [
        attr('value', 'string', 'The identifier of the User\'s group.', readOnly),
        attr('$ref', 'reference', "The URI of the corresponding 'Group' resource to which the user belongs.", { ...readOnly, referenceTypes: ['User', 'Group'] }),
        attr('display', 'string', 'A human-readable name, primarily used for display purposes.', readOnly),
        attr('type', 'string', "A label indicating the attribute's function.", { ...readOnly, canonicalValues: ['direct', 'indirect'] }),
      ],
      { multiValued: true, mutability: 'readOnly' },
    ),
    complex('entitlements', 'A list of entitlements for the User that represent a thing the User has.', multiValuedSubs([]), { multiValued: true }),
    complex('roles', 'A list of roles for the User that collectively represent who the User is.', multiValuedSubs([]), { multiValued: true }),
    complex('x509Certificates', 'A list of certificates issued to the User.', multiValuedSubs([], 'binary'), { multiValued: true }),
  ],
};

export const GROUP_SCHEMA_DEFINITION: SchemaDefinition = {
  id: GROUP_SCHEMA,
  name: 'Group',
  description: 'Group',
  attributes: [
    // Unique per organization, compared case-insensitively: IdPs find groups by displayName (Okta Group Push,
    // Entra's matching), and two groups of one name would make that lookup ambiguous.
    attr('displayName', 'string', 'A human-readable name for the Group.', { required: true, uniqueness: 'server' }),
    complex(
      'members',
      'A list of members of the Group.',
      [
        attr('value', 'string', 'Identifier of the member of this Group.', { mutability: 'immutable', caseExact: true }),
        attr('$ref', 'reference', 'The URI corresponding to a SCIM resource that is a member of this Group.', {
          mutability: 'immutable',
          referenceTypes: ['User', 'Group'],
        }),
        attr('display', 'string', 'A human-readable name, primarily used for display purposes.', { mutability: 'readOnly' }),
        attr('type', 'string', 'A label indicating the type of resource, e.g., \'User\' or \'Group\'.', {
          mutability: 'immutable',
          canonicalValues: ['User', 'Group'],
        }),
      ],
      { multiValued: true },
    ),
  ],
};

export const ENTERPRISE_USER_SCHEMA_DEFINITION: SchemaDefinition = {
  id: ENTERPRISE_USER_SCHEMA,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    attr('employeeNumber', 'string', 'Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization.'),
    attr('costCenter', 'string', 'Identifies the name of a cost center.'),
    attr('organization', 'string', 'Identifies the name of an organization.'),
    attr('division', 'string', 'Identifies the name of a division.'),
    attr('department', 'string', 'Identifies the name of a department.'),
    complex('manager', "The User's manager.", [
      attr('value', 'string', 'The id of the SCIM resource representing the User\'s manager.', { caseExact: true }),
      attr('$ref', 'reference', 'The URI of the SCIM resource representing the User\'s manager.', { referenceTypes: ['User'] }),
      attr('displayName', 'string', 'The displayName of the User\'s manager.', { mutability: 'readOnly' }),
    ]),
  ],
};

export const USER_RESOURCE_TYPE: ResourceTypeDefinition = {
  id: 'User',
  name: 'User',
  endpoint: '/Users',
  description: 'User Account',
  schema: USER_SCHEMA,
  schemaExtensions: [{ schema: ENTERPRISE_USER_SCHEMA, required: false }],
};

export const GROUP_RESOURCE_TYPE: ResourceTypeDefinition = {
  id: 'Group',
  name: 'Group',
  endpoint: '/Groups',
  description: 'Group',
  schema: GROUP_SCHEMA,
  schemaExtensions: [],
};

export const SCHEMAS: readonly SchemaDefinition[] = [USER_SCHEMA_DEFINITION, GROUP_SCHEMA_DEFINITION, ENTERPRISE_USER_SCHEMA_DEFINITION];
export const RESOURCE_TYPES: readonly ResourceTypeDefinition[] = [USER_RESOURCE_TYPE, GROUP_RESOURCE_TYPE];
