/**
 * Conditional Access policy document (DESIGN §4): a subset of Microsoft Graph
 * `conditionalAccessPolicy` plus extensions. Unknown fields inside `conditions` and the controls
 * are rejected: a misspelt condition would otherwise match everything.
 */

const stringList = { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true } as const;
const riskLevels = {
  type: 'array',
  items: { enum: ['none', 'low', 'medium', 'high'] },
  uniqueItems: true,
} as const;
const includeExclude = (include: string, exclude: string) =>
  ({
    type: 'object',
    additionalProperties: false,
    properties: { [include]: stringList, [exclude]: stringList },
  }) as const;

export const caPolicySchema = {
  $id: 'https://agent-pdp.dev/schemas/ca-policy.json',
  type: 'object',
  required: ['id', 'displayName', 'state'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' },
    displayName: { type: 'string', minLength: 1, maxLength: 256 },
    description: { type: 'string' },
    state: { enum: ['enabled', 'disabled', 'enabledForReportingButNotEnforced'] },
    // Graph metadata an export may carry; accepted and ignored.
    createdDateTime: { type: ['string', 'null'] },
    modifiedDateTime: { type: ['string', 'null'] },
    templateId: { type: ['string', 'null'] },
    conditions: {
      type: 'object',
      additionalProperties: false,
      properties: {
        clientApplications: {
          type: 'object',
          additionalProperties: false,
          properties: {
            includeAgentIdServicePrincipals: stringList,
            excludeAgentIdServicePrincipals: stringList,
            includeAgentIdBlueprints: stringList,
            agentIdServicePrincipalFilter: {
              type: 'object',
              additionalProperties: false,
              required: ['mode', 'rule'],
              properties: { mode: { enum: ['include', 'exclude'] }, rule: { type: 'string', minLength: 1 } },
            },
          },
        },
        applications: includeExclude('includeApplications', 'excludeApplications'),
        users: includeExclude('includeUsers', 'excludeUsers'),
        locations: includeExclude('includeLocations', 'excludeLocations'),
        platforms: {
          type: 'object',
          additionalProperties: false,
          properties: {
            includePlatforms: {
              type: 'array',
              uniqueItems: true,
              items: { enum: ['all', 'android', 'iOS', 'windows', 'macOS', 'linux', 'windowsPhone'] },
            },
            excludePlatforms: {
              type: 'array',
              uniqueItems: true,
              items: { enum: ['android', 'iOS', 'windows', 'macOS', 'linux', 'windowsPhone'] },
            },
          },
        },
        agentIdRiskLevels: riskLevels,
        userRiskLevels: riskLevels,
        signInRiskLevels: riskLevels,
        flows: {
          type: 'array',
          uniqueItems: true,
          items: { enum: ['autonomous', 'on_behalf_of', 'agent_user'] },
        },
      },
    },
    grantControls: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['builtInControls'],
      properties: {
        operator: { enum: ['AND', 'OR'] },
        builtInControls: {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: { enum: ['block', 'mfa', 'compliantDevice'] },
        },
      },
    },
    sessionControls: {
      type: ['object', 'null'],
      additionalProperties: false,
      properties: {
        signInFrequency: {
          type: 'object',
          additionalProperties: false,
          required: ['isEnabled'],
          properties: {
            isEnabled: { type: 'boolean' },
            type: { enum: ['hours', 'days'] },
            value: { type: 'integer', minimum: 1, maximum: 365 },
            frequencyInterval: { enum: ['timeBased'] },
          },
          if: { properties: { isEnabled: { const: true } } },
          then: { required: ['type', 'value'] },
        },
      },
    },
    agentControls: {
      type: 'object',
      additionalProperties: false,
      properties: {
        allowedScopes: stringList,
        maxTokenTtlSeconds: { type: 'integer', minimum: 1 },
      },
    },
  },
} as const;

export const namedLocationsSchema = {
  $id: 'https://agent-pdp.dev/schemas/named-locations.json',
  type: 'array',
  items: {
    type: 'object',
    required: ['id', 'displayName'],
    additionalProperties: false,
    properties: {
      id: {
        type: 'string',
        pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
        not: { enum: ['All', 'AllTrusted'] },
      },
      displayName: { type: 'string', minLength: 1 },
      trusted: { type: 'boolean' },
      ipRanges: { type: 'array', items: { type: 'string', format: 'cidr' } },
      countries: { type: 'array', items: { type: 'string', pattern: '^[A-Z]{2}$' } },
    },
  },
} as const;
