/**
 * JSON Schemas of the directory and signals API bodies (DESIGN §3). Every string has a maxLength
 * and every array a maxItems (test/unit/schemas/limits.test.ts keeps it so): a record is read on
 * every decision of its agent, so its size is bounded by the schema, not only by the body limit.
 * Free-form members (attributes, detections) are bounded in breadth here and in depth by the
 * body's nesting limit (src/schemas/json-shape.ts).
 */
import { PRINCIPAL_ID_PATTERN, RISK_LEVELS } from '../vocabulary';

const attributes = { type: 'object', maxProperties: 64, propertyNames: { maxLength: 256 } } as const;
const riskLevel = { enum: RISK_LEVELS } as const;

/**
 * Graph's `customSecurityAttributes`: `{"<Set>": {"<Attr>": value, "<Attr>@odata.type":
 * "#Collection(String)", "@odata.type": "#microsoft.graph.customSecurityAttributeValue"}}`. A
 * value is a string, a number, a boolean or a collection of strings or integers; annotations
 * (`@odata.*` names) are kept as written and never match a filter path (Graph's attribute names
 * have no `@`).
 */
const attributeValue = {
  anyOf: [
    { type: 'string', maxLength: 256 },
    { type: 'number' },
    { type: 'boolean' },
    {
      type: 'array',
      maxItems: 64,
      items: { anyOf: [{ type: 'string', maxLength: 256 }, { type: 'integer' }] },
    },
  ],
} as const;
export const customSecurityAttributes = {
  type: 'object',
  maxProperties: 64,
  propertyNames: { maxLength: 32, pattern: '^[A-Za-z0-9_]{1,32}$' },
  additionalProperties: {
    type: 'object',
    maxProperties: 64,
    propertyNames: { maxLength: 64, pattern: '^(@odata\\.type|[A-Za-z0-9_]{1,32}(@odata\\.type)?)$' },
    patternProperties: { '@odata\\.type$': { type: 'string', maxLength: 128 } },
    additionalProperties: attributeValue,
  },
} as const;

/** resource → scopes: a blueprint's permissions, an agent's direct grants, an access package's resources. */
export const permissionsSchema = {
  type: 'object',
  maxProperties: 256,
  propertyNames: { minLength: 1, maxLength: 512 },
  additionalProperties: {
    type: 'array',
    uniqueItems: true,
    maxItems: 256,
    items: { type: 'string', minLength: 1, maxLength: 256 },
  },
} as const;

export const blueprintSchema = {
  $id: 'https://agent-pdp.dev/schemas/blueprint.json',
  type: 'object',
  required: ['enabled', 'permissions'],
  additionalProperties: false,
  properties: {
    display_name: { type: 'string', maxLength: 256 },
    enabled: { type: 'boolean' },
    permissions: permissionsSchema,
    max_ttl_seconds: { type: ['integer', 'null'], minimum: 60, maximum: 31536000 },
    // The blueprint's service principal (Entra: agent identity blueprint principal); unique in a tenant.
    principal_id: { type: 'string', maxLength: 128, pattern: PRINCIPAL_ID_PATTERN },
    attributes,
    custom_security_attributes: customSecurityAttributes,
  },
} as const;

export const agentSchema = {
  $id: 'https://agent-pdp.dev/schemas/agent.json',
  type: 'object',
  required: ['blueprint_id', 'enabled', 'sponsors'],
  additionalProperties: false,
  properties: {
    // A blueprint is stored under an id that matches PRINCIPAL_ID_PATTERN; nothing else can name one.
    blueprint_id: { type: 'string', maxLength: 128, pattern: PRINCIPAL_ID_PATTERN },
    display_name: { type: 'string', maxLength: 256 },
    enabled: { type: 'boolean' },
    // Entra requires a sponsor at creation; an empty list is stored but denies (agent_no_sponsor).
    sponsors: {
      type: 'array',
      uniqueItems: true,
      maxItems: 64,
      items: { type: 'string', minLength: 1, maxLength: 256 },
    },
    attributes,
    custom_security_attributes: customSecurityAttributes,
    expires_at: { type: ['string', 'null'], maxLength: 64, format: 'date-time' },
    // Direct grants to this agent, added to those it inherits from its blueprint.
    permissions: permissionsSchema,
  },
} as const;

/** An agent user (Entra agent ID user): 1:1 with its agent identity. */
export const agentUserSchema = {
  $id: 'https://agent-pdp.dev/schemas/agent-user.json',
  type: 'object',
  required: ['agent_id', 'enabled'],
  additionalProperties: false,
  properties: {
    agent_id: { type: 'string', maxLength: 128, pattern: PRINCIPAL_ID_PATTERN },
    display_name: { type: 'string', maxLength: 256 },
    enabled: { type: 'boolean' },
    custom_security_attributes: customSecurityAttributes,
  },
} as const;

/** A registered resource (Graph application): targeted by appId (its id) or an identifier URI. */
export const resourceSchema = {
  $id: 'https://agent-pdp.dev/schemas/resource.json',
  type: 'object',
  required: ['identifier_uris'],
  additionalProperties: false,
  properties: {
    display_name: { type: 'string', maxLength: 256 },
    identifier_uris: {
      type: 'array',
      maxItems: 50,
      uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 512 },
    },
    custom_security_attributes: customSecurityAttributes,
  },
} as const;

/** ID Protection actions on risky agents (Graph: riskyAgents confirmCompromised / confirmSafe / dismiss). */
export const MAX_RISKY_AGENT_IDS = 60;
export const riskyAgentsActionSchema = {
  $id: 'https://agent-pdp.dev/schemas/risky-agents-action.json',
  type: 'object',
  required: ['agentIds'],
  additionalProperties: false,
  properties: {
    agentIds: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_RISKY_AGENT_IDS,
      uniqueItems: true,
      items: { type: 'string', maxLength: 128, pattern: PRINCIPAL_ID_PATTERN },
    },
  },
} as const;

export const agentRiskSchema = {
  $id: 'https://agent-pdp.dev/schemas/agent-risk.json',
  type: 'object',
  required: ['level'],
  additionalProperties: false,
  properties: {
    level: riskLevel,
    state: { enum: ['none', 'atRisk', 'confirmedCompromised', 'confirmedSafe', 'dismissed', 'remediated'] },
    // A detection is an id or a Graph riskDetection-like object.
    detections: {
      type: 'array',
      maxItems: 100,
      items: { type: ['string', 'object'], maxLength: 256, maxProperties: 64 },
    },
  },
  // The state means something (Graph riskState): a closed state has no risk, a confirmed compromise is high.
  allOf: [
    {
      if: {
        properties: { state: { enum: ['confirmedSafe', 'dismissed', 'remediated'] } },
        required: ['state'],
      },
      then: { properties: { level: { const: 'none' } } },
    },
    {
      if: { properties: { state: { const: 'confirmedCompromised' } }, required: ['state'] },
      then: { properties: { level: { const: 'high' } } },
    },
  ],
} as const;

export const userRiskSchema = {
  $id: 'https://agent-pdp.dev/schemas/user-risk.json',
  type: 'object',
  required: ['level'],
  additionalProperties: false,
  properties: { level: riskLevel, state: { type: 'string', maxLength: 64 } },
} as const;

export const revocationSchema = {
  $id: 'https://agent-pdp.dev/schemas/revocation.json',
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: 1024 } },
} as const;
