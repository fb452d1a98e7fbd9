/** JSON Schemas of the decision API bodies (DESIGN §3). Compiled once per app. */
import {
  FLOWS,
  PRINCIPAL_ID_PATTERN,
  RISK_LEVELS,
  TENANT_PATTERN,
  type Flow,
  type RiskLevel,
} from '../vocabulary';

const riskLevel = { enum: RISK_LEVELS } as const;
export const MAX_CONTEXT_BYTES = 4096;
/** Nesting of the free-form `context` (itself 1); below the body's limit, so a batch item that breaks it fails in its slot. */
export const MAX_CONTEXT_DEPTH = 32;
export const MAX_BATCH = 100;

const deviceText = { type: 'string', maxLength: 256 } as const;
function stringSet(maxItems: number, maxLength: number) {
  return {
    type: 'array',
    maxItems,
    uniqueItems: true,
    items: { type: 'string', minLength: 1, maxLength },
  } as const;
}

const decideProperties = {
  tenant: { type: 'string', maxLength: 64, pattern: TENANT_PATTERN },
  flow: { enum: FLOWS },
  agent_id: { type: 'string', maxLength: 128, pattern: PRINCIPAL_ID_PATTERN },
  blueprint_id: { type: 'string', maxLength: 128, pattern: PRINCIPAL_ID_PATTERN },
  resource: { type: 'string', minLength: 1, maxLength: 512 },
  scopes: {
    type: 'array',
    minItems: 1,
    maxItems: 100,
    uniqueItems: true,
    items: { type: 'string', minLength: 1, maxLength: 256 },
  },
  requested_ttl_seconds: { type: 'integer', minimum: 1, maximum: 31536000 },
  user: {
    type: 'object',
    required: ['id'],
    additionalProperties: false,
    properties: {
      id: { type: 'string', maxLength: 128, pattern: PRINCIPAL_ID_PATTERN },
      amr: { type: 'array', maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 64 } },
      risk: riskLevel,
      groups: stringSet(1000, 128),
      roles: stringSet(200, 128),
      // Graph's guestOrExternalUserTypes values; absent = a member.
      guest_type: {
        enum: [
          'internalGuest',
          'b2bCollaborationGuest',
          'b2bCollaborationMember',
          'b2bDirectConnectUser',
          'otherExternalUser',
          'serviceProvider',
        ],
      },
      device: {
        type: 'object',
        additionalProperties: false,
        properties: {
          id: { type: 'string', maxLength: 128 },
          platform: { type: 'string', minLength: 1, maxLength: 32 },
          compliant: { type: 'boolean' },
          trust_type: { enum: ['AzureAD', 'ServerAD', 'Workplace'] },
          display_name: deviceText,
          manufacturer: deviceText,
          model: deviceText,
          operating_system: deviceText,
          operating_system_version: deviceText,
          mdm_app_id: deviceText,
          profile_type: deviceText,
          device_ownership: deviceText,
          enrollment_profile_name: deviceText,
          system_labels: stringSet(64, 256),
          physical_ids: stringSet(64, 256),
          extension_attributes: {
            type: 'object',
            additionalProperties: false,
            patternProperties: { '^extensionAttribute([1-9]|1[0-5])$': deviceText },
          },
        },
      },
    },
  },
  client: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ip: { type: 'string', maxLength: 45, format: 'ip' },
      country: { type: 'string', maxLength: 2, pattern: '^[A-Z]{2}$' },
      sign_in_risk: riskLevel,
      app_type: { enum: ['browser', 'mobileAppsAndDesktopClients', 'exchangeActiveSync', 'other'] },
      compliant_network: { type: 'boolean' },
    },
  },
  context: { type: 'object' },
} as const;

const requiresUser = {
  if: { properties: { flow: { enum: ['on_behalf_of', 'agent_user'] } }, required: ['flow'] },
  then: { required: ['user'] },
} as const;

export const decideRequestSchema = {
  $id: 'https://agent-pdp.dev/schemas/decide-request.json',
  type: 'object',
  required: ['flow', 'agent_id', 'resource', 'scopes'],
  additionalProperties: false,
  properties: decideProperties,
  ...requiresUser,
} as const;

export const whatIfRequestSchema = {
  $id: 'https://agent-pdp.dev/schemas/whatif-request.json',
  type: 'object',
  required: ['flow', 'agent_id', 'resource', 'scopes'],
  additionalProperties: false,
  properties: {
    ...decideProperties,
    overrides: {
      type: 'object',
      additionalProperties: false,
      properties: {
        agent_risk: riskLevel,
        user_risk: riskLevel,
        sign_in_risk: riskLevel,
        now: { type: 'string', maxLength: 64, format: 'date-time' },
      },
    },
    policy_ids: {
      type: 'array',
      maxItems: 500,
      uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 256 },
    },
  },
  ...requiresUser,
} as const;

export const batchRequestSchema = {
  $id: 'https://agent-pdp.dev/schemas/decide-batch-request.json',
  type: 'object',
  required: ['requests'],
  additionalProperties: false,
  properties: { requests: { type: 'array', minItems: 1, maxItems: MAX_BATCH } },
} as const;

export type GuestType =
  | 'internalGuest'
  | 'b2bCollaborationGuest'
  | 'b2bCollaborationMember'
  | 'b2bDirectConnectUser'
  | 'otherExternalUser'
  | 'serviceProvider';

/** The device the request came from (CONTRACT B), in the names deviceFilter paths resolve. */
export interface DeviceInput {
  id?: string;
  platform?: string;
  compliant?: boolean;
  trust_type?: 'AzureAD' | 'ServerAD' | 'Workplace';
  display_name?: string;
  manufacturer?: string;
  model?: string;
  operating_system?: string;
  operating_system_version?: string;
  mdm_app_id?: string;
  profile_type?: string;
  device_ownership?: string;
  enrollment_profile_name?: string;
  system_labels?: string[];
  physical_ids?: string[];
  extension_attributes?: Record<string, string>;
}

export interface DecideRequest {
  tenant?: string;
  flow: Flow;
  agent_id: string;
  blueprint_id?: string;
  resource: string;
  scopes: string[];
  requested_ttl_seconds?: number;
  user?: {
    id: string;
    amr?: string[];
    risk?: RiskLevel;
    groups?: string[];
    roles?: string[];
    guest_type?: GuestType;
    device?: DeviceInput;
  };
  client?: {
    ip?: string;
    country?: string;
    sign_in_risk?: RiskLevel;
    app_type?: 'browser' | 'mobileAppsAndDesktopClients' | 'exchangeActiveSync' | 'other';
    compliant_network?: boolean;
  };
  context?: Record<string, unknown>;
}

export interface WhatIfRequest extends DecideRequest {
  overrides?: {
    agent_risk?: RiskLevel;
    user_risk?: RiskLevel;
    sign_in_risk?: RiskLevel;
    now?: string;
  };
  policy_ids?: string[];
}
