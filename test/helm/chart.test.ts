import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig } from '../../src/config';
import { TenantDataCompiler } from '../../src/engine/tenant-data';

/** Renders the chart with the pinned helm (`helm template`, no cluster) and checks the objects. */

const ROOT = path.resolve(__dirname, '../..');
const CHART = path.join(ROOT, 'helm/agent-pdp');
const HELM = path.join(ROOT, '.tools/bin/helm');
// A go-installed helm defaults to Kubernetes v1.20, below the chart's kubeVersion.
const KUBE_VERSION = '1.31.0';
const CI = (name: string): string => path.join(CHART, 'ci', `${name}-values.yaml`);

/** DESIGN §6 (which includes PDP_TRUSTED_ISSUERS and PDP_DECISION_LOG): the only names the chart sets. */
const DESIGN_ENV = [
  'PDP_PORT',
  'PDP_ADMIN_PORT',
  'PDP_HOST',
  'PDP_WORKERS',
  'PDP_BUNDLE',
  'PDP_DATA_DIR',
  'PDP_BUNDLE_POLL_SECONDS',
  'PDP_BUNDLE_VERIFY_KEY',
  'REDIS_URL',
  'PDP_CACHE_TTL_MS',
  'PDP_STALE_IF_ERROR_SECONDS',
  'PDP_API_KEYS',
  'PDP_CALLER_ISSUER',
  'PDP_CALLER_JWKS_URL',
  'PDP_CALLER_AUDIENCE',
  'PDP_TRUSTED_ISSUERS',
  'PDP_DECISION_LOG',
  'PDP_MAX_TTL_SECONDS',
  'PDP_DEFAULT_TTL_SECONDS',
  'LOG_LEVEL',
];

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: any;
  data?: Record<string, string>;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

interface Rendered {
  objects: K8sObject[];
  one: (kind: string, nameSuffix?: string) => K8sObject;
  all: (kind: string) => K8sObject[];
}

function helm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(HELM, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function templateArgs(valuesFiles: string[], set: string[]): string[] {
  return [
    'template',
    'pdp',
    CHART,
    '--namespace',
    'security',
    '--kube-version',
    KUBE_VERSION,
    ...valuesFiles.flatMap((f) => ['-f', f]),
    ...set.flatMap((s) => ['--set', s]),
  ];
}

function render(valuesFiles: string[], set: string[] = []): Rendered {
  const { status, stdout, stderr } = helm(templateArgs(valuesFiles, set));
  if (status !== 0) throw new Error(`helm template failed (${status}):\n${stderr}`);
  const objects = YAML.parseAllDocuments(stdout)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`unparsable helm output: ${doc.errors[0]!.message}`);
      return doc.toJSON() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
  const all = (kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);
  const one = (kind: string, nameSuffix = ''): K8sObject => {
    const found = all(kind).filter((o) => o.metadata.name.endsWith(nameSuffix));
    if (found.length !== 1) throw new Error(`expected one ${kind}${nameSuffix}, got ${found.length}`);
    return found[0]!;
  };
  return { objects, one, all };
}

/** helm template with values that must be refused: the exit status and what helm said. */
function refuse(values: unknown, set: string[] = []): string {
  const file = path.join(scratch, `bad-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, JSON.stringify(values));
  const { status, stderr } = helm(templateArgs([CI('default'), file], set));
  expect(status).not.toBe(0);
  return stderr;
}

const container = (r: Rendered): any => r.one('Deployment').spec.template.spec.containers[0];
const envOf = (r: Rendered): EnvVar[] => container(r).env as EnvVar[];
const envValue = (r: Rendered, name: string): string | undefined =>
  envOf(r).find((e) => e.name === name)?.value;

/**
 * Writes a ConfigMap volume the way the kubelet does: files in a timestamped directory, `..data`
 * pointing at it, and each top-level entry a symlink through `..data`.
 */
function materialize(configMap: K8sObject, items: { key: string; path: string }[] | undefined): string {
  const dir = mkdtempSync(path.join(scratch, 'volume-'));
  const stamp = '..2026_11_27_13_00_00.000000001';
  const files = items ?? Object.keys(configMap.data ?? {}).map((key) => ({ key, path: key }));
  for (const item of files) {
    const target = path.join(dir, stamp, item.path);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, configMap.data![item.key]!);
  }
  mkdirSync(path.join(dir, stamp), { recursive: true });
  symlinkSync(stamp, path.join(dir, '..data'));
  for (const top of new Set(files.map((f) => f.path.split('/')[0]!))) {
    symlinkSync(path.join('..data', top), path.join(dir, top));
  }
  return dir;
}

let scratch: string;

beforeAll(() => {
  if (!existsSync(HELM)) {
    throw new Error(
      `${HELM} is missing: install the pinned helm with "bash scripts/install-tools.sh helm" (or run scripts/check-chart.sh)`,
    );
  }
  const version = helm(['version', '--short']).stdout.trim();
  if (!/^v3\.22(\.|$|\+)/.test(version)) throw new Error(`${HELM} is ${version}, not the pinned v3.22.0`);
  scratch = mkdtempSync(path.join(tmpdir(), 'pdp-helm-'));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('Chart.yaml', () => {
  it('has the appVersion of package.json', () => {
    const chart = YAML.parse(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
  });
});

describe.each(['default', 'production', 'tenants'])('rendered with ci/%s-values.yaml', (name) => {
  let r: Rendered;
  beforeAll(() => {
    r = render([CI(name)]);
  });

  it('labels every object with the standard labels and puts it in the release namespace', () => {
    for (const o of r.objects) {
      expect(o.metadata.labels).toEqual(
        expect.objectContaining({
          'app.kubernetes.io/name': 'agent-pdp',
          'app.kubernetes.io/instance': 'pdp',
          'app.kubernetes.io/version': expect.any(String),
          'app.kubernetes.io/managed-by': 'Helm',
          'helm.sh/chart': 'agent-pdp-0.1.0',
        }),
      );
      if (o.kind !== 'ServiceMonitor') expect(o.metadata.namespace).toBe('security');
    }
  });

  it('runs non-root, read-only, without privileges or capabilities, under RuntimeDefault seccomp', () => {
    const pod = r.one('Deployment').spec.template.spec;
    expect(pod.securityContext).toEqual(
      expect.objectContaining({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }),
    );
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container(r).securityContext).toEqual(
      expect.objectContaining({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      }),
    );
  });

  it('probes /healthz and /readyz on the admin port 9191 and serves the API on 8181', () => {
    const c = container(r);
    expect(c.ports).toEqual([
      { name: 'api', containerPort: 8181, protocol: 'TCP' },
      { name: 'admin', containerPort: 9191, protocol: 'TCP' },
    ]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(envValue(r, 'PDP_PORT')).toBe('8181');
    expect(envValue(r, 'PDP_ADMIN_PORT')).toBe('9191');
    expect(c.resources.requests).toEqual(
      expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }),
    );
    expect(c.resources.limits.memory).toBeDefined();
  });

  it('writes only to an emptyDir at /tmp and mounts the tenant data read-only at PDP_DATA_DIR', () => {
    const pod = r.one('Deployment').spec.template.spec;
    const mounts = container(r).volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[];
    const tmp = mounts.find((m) => m.mountPath === '/tmp')!;
    expect(pod.volumes.find((v: { name: string }) => v.name === tmp.name).emptyDir).toEqual(
      expect.objectContaining({ sizeLimit: expect.any(String) }),
    );
    const data = mounts.find((m) => m.mountPath === '/etc/agent-pdp/data')!;
    expect(data.readOnly).toBe(true);
    expect(pod.volumes.find((v: { name: string }) => v.name === data.name).configMap.name).toBe(
      r.one('ConfigMap', '-data').metadata.name,
    );
    expect(mounts.filter((m) => m.mountPath !== '/tmp').every((m) => m.readOnly === true)).toBe(true);
    expect(envValue(r, 'PDP_DATA_DIR')).toBe('/etc/agent-pdp/data');
    expect(envValue(r, 'PDP_BUNDLE')).toBe('/opt/agent-pdp/build/policies/bundle.tar.gz');
  });

  it('sets only DESIGN §6 variables (plus extraEnv) and takes PDP_API_KEYS from a Secret', () => {
    const extra = new Set(
      ((YAML.parse(readFileSync(CI(name), 'utf8')) as { extraEnv?: EnvVar[] }).extraEnv ?? []).map(
        (e) => e.name,
      ),
    );
    const names = envOf(r).map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names.filter((x) => !extra.has(x))) expect(DESIGN_ENV).toContain(n);
    const apiKeys = envOf(r).find((e) => e.name === 'PDP_API_KEYS')!;
    expect(apiKeys.value).toBeUndefined();
    expect(apiKeys.valueFrom?.secretKeyRef).toEqual({ name: 'agent-pdp-api-keys', key: 'api-keys' });
  });

  it('rolls the pods when the configuration changes (checksum annotation)', () => {
    const annotations = r.one('Deployment').spec.template.metadata.annotations as Record<string, string>;
    expect(annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('exposes the api (8181) and admin (9191) ports on the Service', () => {
    const svc = r.one('Service');
    expect(svc.spec.ports).toEqual([
      expect.objectContaining({ name: 'api', port: 8181, targetPort: 'api' }),
      expect.objectContaining({ name: 'admin', port: 9191, targetPort: 'admin' }),
    ]);
    expect(svc.spec.selector).toEqual(r.one('Deployment').spec.selector.matchLabels);
  });

  it('renders an environment the service accepts (src/config.ts loadConfig)', () => {
    const jwks = r.all('ConfigMap').find((c) => c.metadata.name.endsWith('-jwks'));
    const jwksDir = jwks === undefined ? '/nonexistent' : materialize(jwks, undefined);
    const env: NodeJS.ProcessEnv = {};
    for (const e of envOf(r)) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref?.key === 'api-keys') env[e.name] = `issuer:${'ab'.repeat(32)}:decide`;
      else if (e.name === 'REDIS_URL') env[e.name] = 'redis://redis:6379';
      else env[e.name] = e.value?.replaceAll('/etc/agent-pdp/jwks', jwksDir);
    }
    const config = loadConfig(env);
    expect(config).toEqual(
      expect.objectContaining({
        host: '0.0.0.0',
        port: 8181,
        adminPort: 9191,
        dataDir: '/etc/agent-pdp/data',
        bundle: '/opt/agent-pdp/build/policies/bundle.tar.gz',
      }),
    );
    expect(config.apiKeys).toHaveLength(1);
  });
});

describe('optional objects', () => {
  it('probes and scrapes the admin port over HTTPS when the service has a certificate (PDP_TLS_CERT)', () => {
    const r = render(
      [CI('production')],
      [
        'extraEnv[0].name=PDP_TLS_CERT',
        'extraEnv[0].value=/etc/tls/tls.crt',
        'extraEnv[1].name=PDP_TLS_KEY',
        'extraEnv[1].value=/etc/tls/tls.key',
        'serviceMonitor.tlsConfig.insecureSkipVerify=false',
      ],
    );
    const c = container(r);
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
      expect(probe.httpGet).toEqual(expect.objectContaining({ port: 'admin', scheme: 'HTTPS' }));
    }
    const [endpoint] = r.one('ServiceMonitor').spec.endpoints;
    expect(endpoint).toEqual(
      expect.objectContaining({ scheme: 'https', tlsConfig: { insecureSkipVerify: false } }),
    );
    expect(render([CI('production')]).one('ServiceMonitor').spec.endpoints[0].scheme).toBe('http');
  });

  it('the default values render no HPA, PDB, ServiceMonitor or NetworkPolicy, and two replicas', () => {
    const r = render([CI('default')]);
    expect(r.objects.map((o) => o.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'Service',
      'ServiceAccount',
    ]);
    expect(r.one('Deployment').spec.replicas).toBe(2);
    expect(envOf(r).find((e) => e.name === 'REDIS_URL')).toBeUndefined();
  });

  it('production values render HPA, PDB, ServiceMonitor and NetworkPolicy, and Redis from a Secret', () => {
    const r = render([CI('production')]);
    const deployment = r.one('Deployment');
    const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
    const selects = (selector: Record<string, string>): boolean =>
      Object.entries(selector).every(([k, v]) => podLabels[k] === v);

    // The HPA owns the replica count.
    expect(deployment.spec.replicas).toBeUndefined();
    const hpa = r.one('HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toEqual(
      expect.objectContaining({
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name },
        minReplicas: 3,
        maxReplicas: 12,
      }),
    );
    expect(hpa.spec.metrics[0].resource).toEqual({
      name: 'cpu',
      target: { type: 'Utilization', averageUtilization: 60 },
    });

    const pdb = r.one('PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.minAvailable).toBe(2);
    expect(pdb.spec.maxUnavailable).toBeUndefined();
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true);

    const sm = r.one('ServiceMonitor');
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.metadata.namespace).toBe('monitoring');
    expect(sm.metadata.labels!['release']).toBe('kube-prometheus-stack');
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: ['security'] });
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'admin', path: '/metrics' })]);
    expect(sm.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);

    const np = r.one('NetworkPolicy');
    expect(selects(np.spec.podSelector.matchLabels)).toBe(true);
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.ingress.map((rule: { ports: { port: string }[] }) => rule.ports[0]!.port)).toEqual([
      'api',
      'admin',
    ]);
    expect(np.spec.ingress[0].from).toHaveLength(2);
    expect(np.spec.egress[0].ports).toEqual(expect.arrayContaining([{ port: 53, protocol: 'UDP' }]));

    const redis = envOf(r).find((e) => e.name === 'REDIS_URL')!;
    expect(redis.value).toBeUndefined();
    expect(redis.valueFrom?.secretKeyRef).toEqual({ name: 'agent-pdp-redis', key: 'url' });
    expect(container(r).image).toBe(`registry.example.com/security/agent-pdp:0.1.0@sha256:${'0'.repeat(64)}`);
    expect(container(r).lifecycle.preStop).toEqual({ sleep: { seconds: 5 } });
    expect(deployment.spec.template.spec.topologySpreadConstraints[0].labelSelector.matchLabels).toEqual(
      deployment.spec.selector.matchLabels,
    );
  });

  it('production values mount the JWKS a trusted issuer names and pass the issuers as inline JSON', () => {
    const r = render([CI('production')]);
    const issuers = JSON.parse(envValue(r, 'PDP_TRUSTED_ISSUERS')!) as { jwks_file?: string }[];
    expect(issuers.map((i) => i.jwks_file).filter(Boolean)).toEqual(['/etc/agent-pdp/jwks/partner-idp.json']);
    expect(Object.keys(r.one('ConfigMap', '-jwks').data!)).toEqual(['partner-idp.json']);
    expect(container(r).volumeMounts).toEqual(
      expect.arrayContaining([{ name: 'jwks', mountPath: '/etc/agent-pdp/jwks', readOnly: true }]),
    );
  });

  it('can render every DESIGN §6 variable, and nothing else', () => {
    const r = render(
      [CI('production')],
      [
        'config.bundleVerifyKey=-----BEGIN PUBLIC KEY-----',
        'config.callerAuth.issuer=https://issuer.example',
        'config.callerAuth.jwksUrl=https://issuer.example/keys',
        'config.callerAuth.audience=agent-pdp',
        'extraEnv=null',
      ],
    );
    expect(
      envOf(r)
        .map((e) => e.name)
        .sort(),
    ).toEqual([...DESIGN_ENV].sort());
  });
});

describe('tenant data', () => {
  const values = YAML.parse(readFileSync(CI('tenants'), 'utf8')) as {
    tenants: Record<
      string,
      { conditionalAccess?: Record<string, unknown>; namedLocations?: unknown; gatewayRoutes?: unknown }
    >;
  };
  let r: Rendered;
  let items: { key: string; path: string }[];
  beforeAll(() => {
    r = render([CI('tenants')]);
    const volume = r
      .one('Deployment')
      .spec.template.spec.volumes.find((v: { name: string }) => v.name === 'data');
    items = volume.configMap.items;
  });

  it('maps each flat ConfigMap key to <tenant>/conditional-access/<id>.json and the per-tenant files', () => {
    const expected: string[] = [];
    for (const [tenant, t] of Object.entries(values.tenants)) {
      for (const id of Object.keys(t.conditionalAccess ?? {}))
        expected.push(`${tenant}/conditional-access/${id}.json`);
      if (t.namedLocations !== undefined) expected.push(`${tenant}/named-locations.json`);
      if (t.gatewayRoutes !== undefined) expected.push(`${tenant}/gateway-routes.json`);
    }
    expect(items.map((i) => i.path).sort()).toEqual(expected.sort());
    expect(expected).toEqual(
      expect.arrayContaining(['contoso.eu/conditional-access/ca-block-high-risk-agents.json']),
    );
    const data = r.one('ConfigMap', '-data').data!;
    expect(items.map((i) => i.key).sort()).toEqual(Object.keys(data).sort());
    for (const key of Object.keys(data)) expect(key).toMatch(/^[-._a-zA-Z0-9]{1,253}$/);
  });

  it('gives every document the id of its file name', () => {
    const data = r.one('ConfigMap', '-data').data!;
    for (const item of items.filter((i) => i.path.includes('/conditional-access/'))) {
      const doc = JSON.parse(data[item.key]!) as { id: string };
      expect(`${doc.id}.json`).toBe(path.basename(item.path));
    }
  });

  it('is a data directory the service loads, identical to the repository example it was made from', async () => {
    const dir = materialize(r.one('ConfigMap', '-data'), items);
    const compiler = new TenantDataCompiler();
    const tenants = await compiler.compile({}, dir);
    expect(Object.keys(tenants).sort()).toEqual(Object.keys(values.tenants).sort());
    expect(tenants['contoso.eu']!.policies.map((p) => p.id)).toEqual([
      'ca-block-high-risk-agents',
      'ca-report-only-medium-risk',
    ]);
    const example = await compiler.compile({}, path.join(ROOT, 'policies/data'));
    expect(tenants['default']).toEqual(example['default']);
  });

  it('changes the checksum annotation when a document changes, and only then', () => {
    const checksum = (x: Rendered): string =>
      x.one('Deployment').spec.template.metadata.annotations['checksum/config'] as string;
    const again = render([CI('tenants')]);
    const changed = render(
      [CI('tenants')],
      ['tenants.default.conditionalAccess.ca-block-high-risk-agents.state=disabled'],
    );
    expect(checksum(again)).toBe(checksum(r));
    expect(checksum(changed)).not.toBe(checksum(r));
    const hotReload = render([CI('tenants')], ['rolloutOnConfigChange=false']);
    expect(hotReload.one('Deployment').spec.template.metadata.annotations).toBeUndefined();
  });
});

describe('refused values', () => {
  it.each<[string, unknown, RegExp]>([
    ['an unknown top-level key', { replicas: 3 }, /additional properties 'replicas' not allowed|replicas/],
    ['an unknown log level', { config: { logLevel: 'verbose' } }, /logLevel/],
    [
      'a writable root filesystem',
      { securityContext: { readOnlyRootFilesystem: false } },
      /readOnlyRootFilesystem/,
    ],
    [
      'privilege escalation',
      { securityContext: { allowPrivilegeEscalation: true } },
      /allowPrivilegeEscalation/,
    ],
    ['root', { podSecurityContext: { runAsUser: 0 } }, /runAsUser/],
    ['a string replica count', { replicaCount: 'two' }, /replicaCount/],
    ['an invalid tenant name', { tenants: { 'bad/name': {} } }, /bad\/name/],
    [
      'an invalid policy id',
      { tenants: { t: { conditionalAccess: { 'bad id': {} } } } },
      // helm reports propertyNames errors at a wrong location: match the name it names.
      /'bad id'/,
    ],
    ['an unknown tenant file', { tenants: { t: { policies: {} } } }, /policies/],
    ['a decision log outside /tmp', { config: { decisionLog: 'file:/var/log/decisions' } }, /decisionLog/],
    [
      'a symmetric token algorithm',
      {
        config: {
          trustedIssuers: [{ issuer: 'i', jwks_uri: 'https://k', audiences: ['a'], algorithms: ['HS256'] }],
        },
      },
      /trustedIssuers/,
    ],
    ['a bad image digest', { image: { digest: 'latest' } }, /digest/],
  ])('schema: %s', (_what, values, message) => {
    expect(refuse(values)).toMatch(message);
  });

  it.each<[string, unknown, RegExp]>([
    [
      'no caller authentication on a non-loopback host',
      { apiKeys: { existingSecret: '' } },
      /no caller authentication/,
    ],
    [
      'a document id that differs from its key',
      { tenants: { t: { conditionalAccess: { a: { id: 'b' } } } } },
      /must equal its key/,
    ],
    [
      'a default TTL above the maximum',
      { config: { defaultTtlSeconds: 7200, maxTtlSeconds: 3600 } },
      /defaultTtlSeconds/,
    ],
    [
      'both PDB fields',
      { podDisruptionBudget: { enabled: true, minAvailable: 1, maxUnavailable: 1 } },
      /not both/,
    ],
    [
      'extraEnv repeating a managed variable',
      { extraEnv: [{ name: 'PDP_API_KEYS', value: 'x' }] },
      /PDP_API_KEYS is set by the chart/,
    ],
    [
      'a jwks_file with no jwks entry',
      {
        config: {
          trustedIssuers: [
            {
              issuer: 'i',
              jwks_file: '/etc/agent-pdp/jwks/none.json',
              audiences: ['a'],
              algorithms: ['RS256'],
            },
          ],
        },
      },
      /no jwks\.none/,
    ],
    [
      'two files on one ConfigMap key',
      { tenants: { a_ca_b: { namedLocations: [] }, a: { conditionalAccess: { 'b_named-locations': {} } } } },
      /two files map/,
    ],
    ['more than one worker without Redis', { config: { workers: 2 } }, /needs a shared Redis/],
  ])('template: %s', (_what, values, message) => {
    expect(refuse(values)).toMatch(message);
  });
});
