import type { AttributeDefinition, AttributeType } from './types.ts';

/** Builds an attribute definition from the RFC 7643 section 2.2 defaults plus the given overrides. */
export function attr(
  name: string,
  type: AttributeType,
  description: string,
  overrides: Partial<Omit<AttributeDefinition, 'name' | 'type' | 'description'>> = {},
): AttributeDefinition {
  return {
    name,
    type,
    multiValued: false,
    description,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...(type === 'reference' ? { referenceTypes: ['external'] } : {}),
    ...overrides,
  };
}

export function complex(
  name: string,
  description: string,
  subAttributes: AttributeDefinition[],
  overrides: Partial<Omit<AttributeDefinition, 'name' | 'type' | 'description' | 'subAttributes'>> = {},
): AttributeDefinition {
  return attr(name, 'complex', description, { ...overrides, subAttributes });
}

/** The sub-attributes shared by the RFC's multi-valued attributes (section 2.4). */
export function multiValuedSubs(typeValues: readonly string[] | null, valueType: AttributeType = 'string', valueOverrides: Partial<AttributeDefinition> = {}): AttributeDefinition[] {
  const subs: AttributeDefinition[] = [
    attr('value', valueType, 'The attribute value.', valueOverrides),
    attr('display', 'string', 'A human-readable name, primarily used for display purposes.'),
  ];
  if (typeValues) subs.push(attr('type', 'string', "A label indicating the attribute's function.", { canonicalValues: typeValues }));
  subs.push(attr('primary', 'boolean', "A Boolean value indicating the 'primary' or preferred attribute value for this attribute."));
  return subs;
}
