/**
 * Microsoft Graph's Conditional Access types (beta), declared once, property by property, as
 * Graph documents them (learn.microsoft.com/graph/api/resources/<type>?view=graph-rest-beta).
 * The JSON schemas the loader validates with are generated from this model (graphSchema below):
 * a property Graph does not have is rejected with its pointer, everything Graph writes is
 * accepted — `@odata.*` annotations anywhere (also `prop@odata.type`), `null` where Graph allows
 * it, empty collections, read-only fields, flags enums as Graph's comma-separated string.
 *
 * The PDP's extensions are marked `extension: true`; they are few (DESIGN §4):
 * `agentControls`, `conditions.flows`, `clientApplications.includeAgentIdBlueprints`.
 */
import { DOCUMENT_ID_PATTERN, FLOWS } from '../../vocabulary';

export type Kind =
  | { k: 'string'; pattern?: string; minLength?: number; maxLength?: number; format?: string }
  | { k: 'boolean' }
  | { k: 'integer'; minimum?: number; maximum?: number }
  | { k: 'dateTime' }
  | { k: 'enum'; values: readonly string[] }
  /** A Graph flags enum: `"a,b"` as Graph writes it; an array of the members is accepted too. */
  | { k: 'flags'; values: readonly string[] }
  | { k: 'collection'; of: Kind; minItems?: number }
  /** A nested Graph type, by its name in GRAPH_TYPES (the generated schema refers to it). */
  | { k: 'object'; type: string }
  /** Graph's shape is not modelled further (conditions the PDP never evaluates). */
  | { k: 'opaque' };

export interface Prop {
  kind: Kind;
  /** Graph allows `null` (default true: Graph's schemas make almost every property nullable). */
  nullable?: boolean;
  required?: boolean;
  /** Graph sets it; a document may carry it (exports do) and the PDP ignores it. */
  readOnly?: boolean;
  /** The PDP's, not Graph's (DESIGN §4, "Extensions"). */
  extension?: boolean;
}

const str: Kind = { k: 'string' };
const strings: Kind = { k: 'collection', of: { k: 'string', minLength: 1 } };
const enumOf = (...values: string[]): Kind => ({ k: 'enum', values });
const flagsOf = (...values: string[]): Kind => ({ k: 'flags', values });
const collectionOf = (of: Kind): Kind => ({ k: 'collection', of });
const obj = (type: string): Kind => ({ k: 'object', type });
const p = (kind: Kind, extra: Omit<Prop, 'kind'> = {}): Prop => ({ kind, ...extra });
const ro = (kind: Kind): Prop => ({ kind, readOnly: true });

/** Ids of documents: a Graph GUID, or the file name the PDP gives one. */
const DOCUMENT_ID: Kind = { k: 'string', pattern: DOCUMENT_ID_PATTERN };

/** Graph sets no limit; the PDP does (names appear in every decision's policy report). */
const DISPLAY_NAME: Kind = { k: 'string', minLength: 1, maxLength: 256 };

/** Graph's riskLevel enum; the PDP's own levels are RISK_LEVELS (src/vocabulary.ts), the rest is unsupported. */
const GRAPH_RISK_LEVELS = ['low', 'medium', 'high', 'hidden', 'none', 'unknownFutureValue'] as const;
const filterMode = enumOf('include', 'exclude');

export const GRAPH_TYPES = {
  conditionalAccessPolicy: {
    id: p(DOCUMENT_ID, { nullable: false }),
    displayName: p(DISPLAY_NAME, { nullable: false, required: true }),
    description: p(str),
    state: p(enumOf('enabled', 'disabled', 'enabledForReportingButNotEnforced'), {
      nullable: false,
      required: true,
    }),
    conditions: p(obj('conditionalAccessConditionSet')),
    grantControls: p(obj('conditionalAccessGrantControls')),
    sessionControls: p(obj('conditionalAccessSessionControls')),
    createdDateTime: ro({ k: 'dateTime' }),
    modifiedDateTime: ro({ k: 'dateTime' }),
    deletedDateTime: ro({ k: 'dateTime' }),
    templateId: ro(str),
    partialEnablementStrategy: ro(enumOf('none', 'unknownFutureValue')),
    agentControls: p(obj('agentControls'), { extension: true }),
  },
  conditionalAccessConditionSet: {
    applications: p(obj('conditionalAccessApplications')),
    authenticationFlows: p(obj('conditionalAccessAuthenticationFlows')),
    clientApplications: p(obj('conditionalAccessClientApplications')),
    clientAppTypes: p(
      collectionOf(
        enumOf(
          'all',
          'browser',
          'mobileAppsAndDesktopClients',
          'exchangeActiveSync',
          'easSupported',
          'other',
          'unknownFutureValue',
        ),
      ),
    ),
    devices: p(obj('conditionalAccessDevices')),
    deviceStates: p(obj('conditionalAccessDeviceStates')),
    insiderRiskLevels: p(flagsOf('minor', 'moderate', 'elevated', 'unknownFutureValue')),
    locations: p(obj('conditionalAccessLocations')),
    platforms: p(obj('conditionalAccessPlatforms')),
    servicePrincipalRiskLevels: p(collectionOf(enumOf(...GRAPH_RISK_LEVELS))),
    signInRiskLevels: p(collectionOf(enumOf(...GRAPH_RISK_LEVELS))),
    userRiskLevels: p(collectionOf(enumOf(...GRAPH_RISK_LEVELS))),
    agentIdRiskLevels: p(flagsOf('low', 'medium', 'high', 'unknownFutureValue')),
    users: p(obj('conditionalAccessUsers')),
    times: p({ k: 'opaque' }),
    /** Not on Learn's property table, but Graph returns them (null) in policies and templates. */
    clients: p({ k: 'opaque' }),
    signInRiskDetections: p({ k: 'opaque' }),
    agents: p({ k: 'opaque' }),
    flows: p(collectionOf(enumOf(...FLOWS)), { extension: true }),
  },
  conditionalAccessUsers: {
    includeUsers: p(strings),
    excludeUsers: p(strings),
    includeGroups: p(strings),
    excludeGroups: p(strings),
    includeRoles: p(strings),
    excludeRoles: p(strings),
    includeGuestsOrExternalUsers: p(obj('conditionalAccessGuestsOrExternalUsers')),
    excludeGuestsOrExternalUsers: p(obj('conditionalAccessGuestsOrExternalUsers')),
  },
  conditionalAccessGuestsOrExternalUsers: {
    guestOrExternalUserTypes: p(
      flagsOf(
        'none',
        'internalGuest',
        'b2bCollaborationGuest',
        'b2bCollaborationMember',
        'b2bDirectConnectUser',
        'otherExternalUser',
        'serviceProvider',
        'unknownFutureValue',
      ),
    ),
    externalTenants: p(obj('conditionalAccessExternalTenants')),
  },
  /** conditionalAccessAllExternalTenants / conditionalAccessEnumeratedExternalTenants */
  conditionalAccessExternalTenants: {
    membershipKind: p(enumOf('all', 'enumerated', 'unknownFutureValue')),
    members: p(strings),
  },
  conditionalAccessApplications: {
    includeApplications: p(strings),
    excludeApplications: p(strings),
    includeUserActions: p(strings),
    includeAuthenticationContextClassReferences: p(strings),
    applicationFilter: p(obj('conditionalAccessFilter')),
    globalSecureAccess: p({ k: 'opaque' }),
    networkAccess: p({ k: 'opaque' }),
  },
  conditionalAccessClientApplications: {
    includeServicePrincipals: p(strings),
    excludeServicePrincipals: p(strings),
    servicePrincipalFilter: p(obj('conditionalAccessFilter')),
    includeAgentIdServicePrincipals: p(strings),
    excludeAgentIdServicePrincipals: p(strings),
    agentIdServicePrincipalFilter: p(obj('conditionalAccessFilter')),
    includeAgentIdBlueprints: p(strings, { extension: true }),
  },
  conditionalAccessFilter: {
    mode: p(filterMode, { nullable: false, required: true }),
    rule: p({ k: 'string', minLength: 1 }, { nullable: false, required: true }),
  },
  conditionalAccessAuthenticationFlows: {
    transferMethods: p(flagsOf('none', 'deviceCodeFlow', 'authenticationTransfer', 'unknownFutureValue')),
  },
  conditionalAccessLocations: {
    includeLocations: p(strings),
    excludeLocations: p(strings),
  },
  conditionalAccessPlatforms: {
    includePlatforms: p(
      collectionOf(
        enumOf('android', 'iOS', 'windows', 'windowsPhone', 'macOS', 'all', 'unknownFutureValue', 'linux'),
      ),
    ),
    excludePlatforms: p(
      collectionOf(
        enumOf('android', 'iOS', 'windows', 'windowsPhone', 'macOS', 'all', 'unknownFutureValue', 'linux'),
      ),
    ),
  },
  conditionalAccessDevices: {
    includeDevices: p(strings),
    excludeDevices: p(strings),
    includeDeviceStates: p(strings),
    excludeDeviceStates: p(strings),
    deviceFilter: p(obj('conditionalAccessFilter')),
  },
  conditionalAccessDeviceStates: {
    includeStates: p(strings),
    excludeStates: p(strings),
  },
  conditionalAccessGrantControls: {
    operator: p(enumOf('AND', 'OR')),
    builtInControls: p(
      collectionOf(
        enumOf(
          'block',
          'mfa',
          'compliantDevice',
          'domainJoinedDevice',
          'approvedApplication',
          'compliantApplication',
          'passwordChange',
          'riskRemediation',
          'unknownFutureValue',
        ),
      ),
    ),
    customAuthenticationFactors: p(strings),
    termsOfUse: p(strings),
    authenticationStrength: p(obj('authenticationStrengthPolicy')),
  },
  authenticationStrengthPolicy: {
    id: p(str),
    displayName: p(str),
    description: p(str),
    policyType: ro(enumOf('builtIn', 'custom', 'unknownFutureValue')),
    requirementsSatisfied: ro(flagsOf('none', 'mfa', 'unknownFutureValue')),
    allowedCombinations: ro(collectionOf(str)),
    combinationConfigurations: ro(collectionOf({ k: 'opaque' })),
    createdDateTime: ro({ k: 'dateTime' }),
    modifiedDateTime: ro({ k: 'dateTime' }),
  },
  conditionalAccessSessionControls: {
    applicationEnforcedRestrictions: p(obj('conditionalAccessSessionControl')),
    cloudAppSecurity: p(obj('cloudAppSecuritySessionControl')),
    continuousAccessEvaluation: p(obj('continuousAccessEvaluationSessionControl')),
    disableResilienceDefaults: p({ k: 'boolean' }),
    globalSecureAccessFilteringProfile: p(obj('globalSecureAccessFilteringProfileSessionControl')),
    networkAccessSecurity: p(obj('conditionalAccessSessionControl')),
    persistentBrowser: p(obj('persistentBrowserSessionControl')),
    secureSignInSession: p(obj('conditionalAccessSessionControl')),
    signInFrequency: p(obj('signInFrequencySessionControl')),
  },
  /** The base type: applicationEnforcedRestrictions, secureSignInSession, networkAccessSecurity. */
  conditionalAccessSessionControl: {
    isEnabled: p({ k: 'boolean' }),
  },
  cloudAppSecuritySessionControl: {
    isEnabled: p({ k: 'boolean' }),
    cloudAppSecurityType: p(enumOf('mcasConfigured', 'monitorOnly', 'blockDownloads', 'unknownFutureValue')),
  },
  continuousAccessEvaluationSessionControl: {
    mode: p(enumOf('strictEnforcement', 'disabled', 'unknownFutureValue', 'strictLocation')),
  },
  globalSecureAccessFilteringProfileSessionControl: {
    isEnabled: p({ k: 'boolean' }),
    profileId: p(str),
  },
  persistentBrowserSessionControl: {
    isEnabled: p({ k: 'boolean' }),
    mode: p(enumOf('always', 'never')),
  },
  signInFrequencySessionControl: {
    isEnabled: p({ k: 'boolean' }),
    type: p(enumOf('days', 'hours')),
    value: p({ k: 'integer', minimum: 1, maximum: 365 }),
    frequencyInterval: p(enumOf('timeBased', 'everyTime', 'unknownFutureValue')),
    authenticationType: p(
      enumOf('primaryAndSecondaryAuthentication', 'secondaryAuthentication', 'unknownFutureValue'),
    ),
  },
  agentControls: {
    allowedScopes: p(strings, { extension: true }),
    maxTokenTtlSeconds: p({ k: 'integer', minimum: 1 }, { extension: true }),
  },
  ipNamedLocation: {
    id: p(DOCUMENT_ID, { nullable: false, required: true }),
    displayName: p(DISPLAY_NAME, { nullable: false, required: true }),
    createdDateTime: ro({ k: 'dateTime' }),
    modifiedDateTime: ro({ k: 'dateTime' }),
    isTrusted: p({ k: 'boolean' }),
    ipRanges: p(collectionOf(obj('ipRange'))),
  },
  /** iPv4CidrRange / iPv6CidrRange */
  ipRange: {
    cidrAddress: p({ k: 'string', format: 'cidr' }, { nullable: false, required: true }),
  },
  countryNamedLocation: {
    id: p(DOCUMENT_ID, { nullable: false, required: true }),
    displayName: p(DISPLAY_NAME, { nullable: false, required: true }),
    createdDateTime: ro({ k: 'dateTime' }),
    modifiedDateTime: ro({ k: 'dateTime' }),
    countriesAndRegions: p(collectionOf({ k: 'string', pattern: '^[A-Za-z]{2}$' })),
    includeUnknownCountriesAndRegions: p({ k: 'boolean' }),
    countryLookupMethod: p(enumOf('clientIpAddress', 'authenticatorAppGps', 'unknownFutureValue')),
  },
} as const satisfies Record<string, Record<string, Prop>>;

export type TypeName = keyof typeof GRAPH_TYPES;

/** Any member name holding `@odata.` is an annotation (`@odata.type`, `ipRanges@odata.type`). */
const ODATA_ANNOTATION = '@odata\\.';

function kindSchema(kind: Kind): Record<string, unknown> {
  switch (kind.k) {
    case 'string':
      return {
        type: 'string',
        ...(kind.pattern !== undefined && { pattern: kind.pattern }),
        ...(kind.minLength !== undefined && { minLength: kind.minLength }),
        ...(kind.maxLength !== undefined && { maxLength: kind.maxLength }),
        ...(kind.format !== undefined && { format: kind.format }),
      };
    case 'boolean':
      return { type: 'boolean' };
    case 'integer':
      return {
        type: 'integer',
        ...(kind.minimum !== undefined && { minimum: kind.minimum }),
        ...(kind.maximum !== undefined && { maximum: kind.maximum }),
      };
    case 'dateTime':
      // Graph writes seven fractional digits ("2026-11-01T09:00:00.0000000Z"): a string is enough.
      return { type: 'string' };
    case 'enum':
      return { type: 'string', enum: [...kind.values] };
    case 'flags': {
      // One schema, not anyOf: `pattern` applies only to a string and `items` only to an array,
      // so a bad value gets one message.
      const member = kind.values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
      return {
        type: ['string', 'array'],
        pattern: `^\\s*(${member})\\s*(,\\s*(${member})\\s*)*$`,
        items: { type: 'string', enum: [...kind.values] },
      };
    }
    case 'collection':
      return {
        type: 'array',
        items: kindSchema(kind.of),
        ...(kind.minItems !== undefined && { minItems: kind.minItems }),
      };
    case 'object':
      return { $ref: `#/$defs/${kind.type}` };
    case 'opaque':
      return {};
  }
}

/**
 * `null` joins the property's own `type` (and `enum`) rather than an `anyOf`, so a wrong value gets
 * one message, not one per branch. Object types accept `null` in their definition.
 */
function propSchema(prop: Prop): Record<string, unknown> {
  const schema = kindSchema(prop.kind);
  if (prop.nullable === false || prop.kind.k === 'opaque' || prop.kind.k === 'object') return schema;
  const type = schema['type'] as string | string[];
  const out: Record<string, unknown> = {
    ...schema,
    type: [...(Array.isArray(type) ? type : [type]), 'null'],
  };
  if (Array.isArray(schema['enum'])) out['enum'] = [...(schema['enum'] as unknown[]), null];
  return out;
}

function typeSchema(props: Record<string, Prop>): Record<string, unknown> {
  const required = Object.entries(props)
    .filter(([, v]) => v.required === true)
    .map(([k]) => k);
  return {
    type: ['object', 'null'],
    additionalProperties: false,
    patternProperties: { [ODATA_ANNOTATION]: {} },
    properties: Object.fromEntries(Object.entries(props).map(([k, v]) => [k, propSchema(v)])),
    ...(required.length > 0 && { required }),
  };
}

/** The JSON schema of a Graph type (all types in `$defs`, so references resolve). */
export function graphSchema(root: TypeName, $id: string): Record<string, unknown> {
  const types = GRAPH_TYPES as Record<TypeName, Record<string, Prop>>;
  return {
    $id,
    $defs: Object.fromEntries(Object.entries(types).map(([name, props]) => [name, typeSchema(props)])),
    // The definitions accept null (a nullable property); a document itself must be an object.
    allOf: [{ type: 'object' }, { $ref: `#/$defs/${root}` }],
  };
}

/** The PDP's extensions, as `type.property`, for documentation and tests. */
export function extensionProperties(): string[] {
  const types = GRAPH_TYPES as Record<string, Record<string, Prop>>;
  return Object.entries(types).flatMap(([type, props]) =>
    Object.entries(props)
      .filter(([, v]) => v.extension === true)
      .map(([name]) => `${type}.${name}`),
  );
}
