/**
 * JSON Schemas of the access-package API (src/routes/access-packages.ts): packages, assignment
 * requests and the bodies of approve / deny / revoke. Bounded like every directory body.
 */
import { PRINCIPAL_ID_PATTERN } from '../vocabulary';
import { permissionsSchema } from './directory';

/** One year: the longest assignment a package may allow. */
export const MAX_ASSIGNMENT_SECONDS = 31_536_000;
export const REQUESTORS = ['sponsor', 'agent', 'admin'] as const;

const principalId = { type: 'string', maxLength: 128, pattern: PRINCIPAL_ID_PATTERN } as const;

export const accessPackageSchema = {
  $id: 'https://agent-pdp.dev/schemas/access-package.json',
  type: 'object',
  required: ['display_name', 'resources', 'max_duration_seconds', 'requestors', 'approvers'],
  additionalProperties: false,
  properties: {
    display_name: { type: 'string', minLength: 1, maxLength: 256 },
    resources: { ...permissionsSchema, minProperties: 1 },
    max_duration_seconds: { type: 'integer', minimum: 60, maximum: MAX_ASSIGNMENT_SECONDS },
    requestors: {
      type: 'array',
      minItems: 1,
      maxItems: REQUESTORS.length,
      uniqueItems: true,
      items: { enum: REQUESTORS },
    },
    approvers: {
      type: 'object',
      required: ['sponsors', 'users'],
      additionalProperties: false,
      properties: {
        sponsors: { type: 'boolean' },
        users: {
          type: 'array',
          maxItems: 64,
          uniqueItems: true,
          items: { type: 'string', minLength: 1, maxLength: 256 },
        },
      },
    },
    justification_required: { type: 'boolean' },
  },
} as const;

export const assignmentRequestSchema = {
  $id: 'https://agent-pdp.dev/schemas/assignment-request.json',
  type: 'object',
  required: ['target', 'duration_seconds'],
  additionalProperties: false,
  properties: {
    target: {
      oneOf: [
        {
          type: 'object',
          required: ['agent_id'],
          additionalProperties: false,
          properties: { agent_id: principalId },
        },
        {
          type: 'object',
          required: ['blueprint_id'],
          additionalProperties: false,
          properties: { blueprint_id: principalId },
        },
        {
          type: 'object',
          required: ['all_agents'],
          additionalProperties: false,
          properties: { all_agents: { const: true } },
        },
      ],
    },
    duration_seconds: { type: 'integer', minimum: 60, maximum: MAX_ASSIGNMENT_SECONDS },
    justification: { type: 'string', maxLength: 1024 },
  },
} as const;

/** approve / deny / revoke: an optional reason, recorded in the governance trail. */
export const assignmentActionSchema = {
  $id: 'https://agent-pdp.dev/schemas/assignment-action.json',
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: 1024 } },
} as const;
