import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

/** Static checks of the Dockerfile: no Docker engine needed. */

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  image: string;
  name: string | null;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: Instruction | null = null;
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === null)) continue;
    const continued = line.endsWith('\\');
    const body = continued ? line.slice(0, -1).trim() : line;
    if (pending === null) {
      const match = /^([A-Za-z]+)\s+(.*)$/.exec(body);
      if (match === null) throw new Error(`Dockerfile line ${i + 1}: cannot parse "${line}"`);
      pending = { keyword: match[1]!.toUpperCase(), args: match[2]!, line: i + 1 };
    } else if (body !== '') {
      pending.args += ` ${body}`;
    }
    if (!continued) {
      out.push(pending);
      pending = null;
    }
  }
  if (pending !== null) throw new Error('Dockerfile ends with a line continuation');
  return out;
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (match === null) throw new Error(`line ${ins.line}: unexpected FROM ${ins.args}`);
      stages.push({ image: match[1]!, name: match[2]?.toLowerCase() ?? null, instructions: [] });
    } else {
      const current = stages[stages.length - 1];
      if (current === undefined) throw new Error(`line ${ins.line}: ${ins.keyword} before FROM`);
      current.instructions.push(ins);
    }
  }
  return stages;
}

/** `repo[:tag][@sha256:...]`, with a registry port not mistaken for a tag. */
function parseImage(ref: string): { repository: string; tag: string | null; digest: string | null } {
  const [nameTag, digest] = ref.split('@') as [string, string | undefined];
  const slash = nameTag.lastIndexOf('/');
  const colon = nameTag.lastIndexOf(':');
  const hasTag = colon > slash;
  return {
    repository: hasTag ? nameTag.slice(0, colon) : nameTag,
    tag: hasTag ? nameTag.slice(colon + 1) : null,
    digest: digest ?? null,
  };
}

/** The `-e` entrypoints of an `opa build` command line. */
function entrypointsOf(command: string): string[] {
  return [...command.matchAll(/(?:^|\s)-e\s+(\S+)/g)].map((m) => m[1]!.replace(/^['"]|['"]$/g, '')).sort();
}

const dockerfile = read('Dockerfile');
const instructions = parseDockerfile(dockerfile);
const stages = stagesOf(instructions);
const finalStage = stages[stages.length - 1]!;
const buildPoliciesScript = read('scripts/build-policies.sh');
const pinnedOpa = /^OPA_VERSION="\$\{OPA_VERSION:-([^}]+)\}"$/m.exec(read('scripts/install-tools.sh'))?.[1];

const all = (stage: Stage, keyword: string): Instruction[] =>
  stage.instructions.filter((i) => i.keyword === keyword);

/** Reads a JSON exec-form array, or null for the shell form. */
function execForm(args: string): string[] | null {
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) ? parsed.map(String) : null;
  } catch {
    return null;
  }
}

describe('Dockerfile', () => {
  it('is multi-stage, with a separate policy build, TypeScript build and runtime', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    const names = stages.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['opa', 'policies', 'build', 'runtime']));
    expect(new Set(names.filter((n) => n !== null)).size).toBe(names.filter((n) => n !== null).length);
  });

  it('pins every base image by a tag that is not latest, and digests are well-formed', () => {
    const stageNames = new Set<string>();
    for (const stage of stages) {
      if (!stageNames.has(stage.image.toLowerCase())) {
        const { tag, digest } = parseImage(stage.image);
        expect({ image: stage.image, tag }).toEqual({ image: stage.image, tag: expect.any(String) });
        expect(tag).not.toBe('latest');
        expect(tag).not.toMatch(/^\$/);
        if (digest !== null) expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      }
      if (stage.name !== null) stageNames.add(stage.name);
    }
    // The final stage is an image, not a reference to an earlier stage.
    expect(stageNames.has(finalStage.image.toLowerCase())).toBe(false);
  });

  it('builds policies with the official OPA image at the version pinned in scripts/install-tools.sh', () => {
    expect(pinnedOpa).toMatch(/^\d+\.\d+\.\d+$/);
    const opaStages = stages.filter((s) => parseImage(s.image).repository === 'openpolicyagent/opa');
    expect(opaStages).toHaveLength(1);
    const { tag } = parseImage(opaStages[0]!.image);
    expect(tag).toMatch(
      new RegExp(`^${pinnedOpa!.replace(/\./g, '\\.')}(-static|-rootless|-debug|-static-debug)?$`),
    );
  });

  it('compiles the bundle with the command and entrypoints of scripts/build-policies.sh, without Go', () => {
    const scriptEntrypoints = entrypointsOf(buildPoliciesScript);
    expect(scriptEntrypoints.length).toBeGreaterThan(0);
    // Every entrypoint the service evaluates is compiled into the bundle.
    const evaluated = new Set<string>();
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const file = path.join(dir, name);
        if (statSync(file).isDirectory()) walk(file);
        else if (file.endsWith('.ts'))
          for (const m of readFileSync(file, 'utf8').matchAll(/'(agent\/[a-z_]+\/result)'/g))
            evaluated.add(m[1]!);
      }
    };
    walk(path.join(ROOT, 'src'));
    expect(evaluated.size).toBeGreaterThan(0);
    expect(scriptEntrypoints).toEqual(expect.arrayContaining([...evaluated]));

    const runs = stages.flatMap((s) => all(s, 'RUN')).map((r) => r.args);
    const inlineBuild = runs.find((r) => /\bopa\s+build\b/.test(r));
    const viaScript = runs.find((r) => r.includes('scripts/build-policies.sh'));
    expect(inlineBuild ?? viaScript).toBeDefined();
    if (inlineBuild !== undefined) {
      expect(entrypointsOf(inlineBuild)).toEqual(scriptEntrypoints);
      expect(inlineBuild).toContain('--capabilities policies/capabilities.json');
      expect(inlineBuild).toContain("--ignore '*_test.rego'");
    } else {
      // Shared command: the script runs with the OPA image's binary instead of installing one.
      const opaBin = /\bOPA_BIN=(\S+)/.exec(viaScript!)?.[1];
      expect(opaBin).toBeDefined();
      const copied = stages
        .flatMap((s) => all(s, 'COPY'))
        .map((c) => /^--from=opa\s+(\S+)\s+(\S+)$/.exec(c.args))
        .find((m) => m !== null);
      expect(copied?.[2]).toBe(opaBin);
      expect(buildPoliciesScript).toMatch(/OPA_BIN/);
    }
    expect(dockerfile).not.toMatch(/\bgo (install|build)\b|golang:/);
    expect(runs.join('\n')).not.toMatch(/install-tools\.sh/);
  });

  it('builds TypeScript in a Node 20 stage with npm ci, build:ts and a production prune', () => {
    const build = stages.find((s) => s.name === 'build')!;
    const runs = all(build, 'RUN').map((r) => r.args);
    const text = runs.join('\n');
    expect(text).toMatch(/npm ci\b/);
    expect(text).toMatch(/npm run build:ts/);
    expect(text).toMatch(/npm prune --omit=dev/);
    const base = stages.find((s) => s.name === build.image.toLowerCase()) ?? build;
    expect(parseImage(base.image).repository).toBe('node');
    expect(parseImage(base.image).tag).toMatch(/^20[.-]/);
  });

  it('runs on a pinned Node 20 that satisfies package.json engines', () => {
    const { repository, tag } = parseImage(finalStage.image);
    expect(repository).toMatch(/^(node|gcr\.io\/distroless\/nodejs20-debian\d+)$/);
    const version = /^(\d+)\.(\d+)\.(\d+)/.exec(tag ?? '');
    if (repository === 'node') {
      expect(version).not.toBeNull();
      const [major, minor] = [Number(version![1]), Number(version![2])];
      const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
      const [, wantMajor, wantMinor] = /^>=(\d+)\.(\d+)/.exec(engines)!.map(Number) as [
        number,
        number,
        number,
      ];
      expect(major).toBe(20);
      expect(major > wantMajor || (major === wantMajor && minor >= wantMinor)).toBe(true);
    }
  });

  it('runs the final stage as a numeric non-root user', () => {
    const users = all(finalStage, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1]!.args.trim();
    expect(user).toMatch(/^\d+(:\d+)?$/);
    const [uid, gid] = user.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    if (gid !== undefined) expect(gid).toBeGreaterThan(0);
  });

  it('is the user the Helm chart runs as by default', () => {
    const user = all(finalStage, 'USER').pop()!.args.trim();
    const values = YAML.parse(read('helm/agent-pdp/values.yaml')) as {
      podSecurityContext: { runAsUser: number; runAsGroup: number };
      securityContext: { runAsUser: number; runAsGroup: number };
    };
    const [uid, gid] = user.split(':').map(Number);
    expect(values.podSecurityContext.runAsUser).toBe(uid);
    expect(values.securityContext.runAsUser).toBe(uid);
    if (gid !== undefined) expect(values.securityContext.runAsGroup).toBe(gid);
  });

  it('configures the bundle and data paths, ports and an exec-form node entrypoint', () => {
    const env = all(finalStage, 'ENV')
      .map((e) => e.args)
      .join(' ');
    expect(env).toContain('PDP_BUNDLE=/opt/agent-pdp/build/policies/bundle.tar.gz');
    expect(env).toContain('PDP_DATA_DIR=/etc/agent-pdp/data');
    expect(env).toContain('PDP_HOST=0.0.0.0');
    const workdir = all(finalStage, 'WORKDIR').pop()!.args;
    expect(workdir).toBe('/opt/agent-pdp');
    const bundleCopy = all(finalStage, 'COPY').find((c) => c.args.includes('bundle.tar.gz'));
    expect(bundleCopy?.args).toMatch(/\sbuild\/policies\/bundle\.tar\.gz$/);

    const exposed = all(finalStage, 'EXPOSE').flatMap((e) => e.args.split(/\s+/));
    expect(exposed).toEqual(expect.arrayContaining(['8181', '9191']));

    // node itself is PID 1: exec form, no shell, npm or wrapper between it and SIGTERM.
    const entrypoint = execForm(all(finalStage, 'ENTRYPOINT').pop()?.args ?? '');
    const cmd = execForm(all(finalStage, 'CMD').pop()?.args ?? '');
    expect(entrypoint).not.toBeNull();
    expect(cmd).not.toBeNull();
    expect([...entrypoint!, ...cmd!]).toEqual(['node', 'dist/src/server.js']);
  });

  it('has no healthcheck that needs curl or wget', () => {
    for (const hc of all(finalStage, 'HEALTHCHECK')) {
      expect(hc.args).not.toMatch(/\b(curl|wget)\b/);
      expect(hc.args).toMatch(/CMD \["node"/);
    }
  });

  it('copies only what .dockerignore lets into the build context', () => {
    const patterns = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(patterns[0]).toBe('*');
    const allowed = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1).replace(/\/$/, ''));
    const sources = stages
      .flatMap((s) => all(s, 'COPY'))
      .filter((c) => !c.args.startsWith('--from='))
      .flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      const clean = source.replace(/\/$/, '');
      const ok = allowed.some((a) => clean === a || clean.startsWith(`${a}/`));
      expect({ source, ok }).toEqual({ source, ok: true });
    }
    for (const secret of ['.env', 'node_modules', '.git', '.tools', 'dist', 'build']) {
      expect(allowed).not.toContain(secret);
    }
  });
});
