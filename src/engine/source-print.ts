import { createHash } from 'node:crypto';
import { readdir, readlink, realpath, stat, statfs } from 'node:fs/promises';
import path from 'node:path';

/**
 * Fingerprints of local policy sources, so a poll can tell "changed" from "unchanged" without
 * reading anything. Two depths:
 *
 * - `rootPrint` is O(1): where a path resolves to (a symlink swapped anywhere above it, as git-sync
 *   does), the root directory's identity and mtime (an entry added, removed or renamed in it), and
 *   the target of a Kubernetes ConfigMap's `..data` link (swapped on every ConfigMap update).
 * - `treePrint` stats every file: the only way to see an in-place edit that no watcher reported
 *   (network filesystems deliver no inotify events for writes made on another host).
 */

/**
 * Linux filesystems whose changes all happen in this kernel, so inotify sees every one (statfs
 * f_type, from linux/magic.h): ext2/3/4, XFS, Btrfs, tmpfs (ConfigMap and Secret volumes),
 * overlayfs (container layers), ramfs, F2FS, SquashFS, ZFS, bcachefs. Not here, on purpose: NFS,
 * SMB/CIFS, FUSE (virtiofs, gcsfuse, s3fs), 9p, Ceph: another host writes, and no event comes.
 */
const LOCAL_FILESYSTEMS = new Set([
  0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x794c7630, 0x858458f6, 0xf2f52010, 0x73717368, 0x2fc12fc1,
  0xca451a4e,
]);

/** True when every change under `target` is reported by fs.watch: a local filesystem, on Linux. */
export async function eventsComplete(target: string): Promise<boolean> {
  if (process.platform !== 'linux') return false;
  const info = await statfs(target).catch(() => null);
  return info !== null && LOCAL_FILESYSTEMS.has(info.type >>> 0);
}

/** Stats in flight at once: overlaps the I/O without filling libuv's pool (DNS and zlib use it too). */
const CONCURRENCY = 4;

interface Stamp {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

const stampOf = (s: Stamp): string => `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

/** The cheap check: identity of a file or directory and, for a directory, of its direct entries. */
export async function rootPrint(target: string): Promise<string> {
  const [real, info, dataLink] = await Promise.all([
    realpath(target).catch(() => null),
    stat(target).catch(() => null),
    readlink(path.join(target, '..data')).catch(() => null),
  ]);
  return `${real ?? '-'}|${info === null ? '-' : stampOf(info)}|${dataLink ?? '-'}`;
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping order irrelevant. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(lanes);
}

/**
 * Every file under `root` (symlinks followed, each linked directory once): path, inode, size,
 * mtime and ctime, hashed. Directories are listed with their entry types, so only files and
 * symlinks cost a stat. `skipDotAtRoot` leaves out hidden entries of the root: a data directory's
 * tenants are its non-hidden entries, and in a ConfigMap volume the hidden `..<timestamp>`
 * directories hold the same files the tenant links point to.
 */
export async function treePrint(root: string, opts: { skipDotAtRoot?: boolean } = {}): Promise<string> {
  const lines: string[] = [];
  const linkedDirs = new Set<string>();
  const visit = async (dir: string, isRoot: boolean): Promise<void> => {
    // Listed itself, so that an empty directory named like a document is a change too.
    lines.push(`${dir}:dir`);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
    if (entries === null) {
      lines.push(`${dir}:unreadable`);
      return;
    }
    const subdirs: string[] = [];
    const others: string[] = [];
    for (const entry of entries) {
      if (isRoot && opts.skipDotAtRoot === true && entry.name.startsWith('.')) continue;
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) subdirs.push(p);
      else others.push(p);
    }
    await eachLimited(others, CONCURRENCY, async (p) => {
      const info = await stat(p).catch(() => null);
      if (info === null) {
        lines.push(`${p}:dangling`);
      } else if (info.isDirectory()) {
        // A link to a directory: followed once per target, so a link cycle ends.
        const id = `${info.dev}:${info.ino}`;
        if (linkedDirs.has(id)) return;
        linkedDirs.add(id);
        subdirs.push(p);
      } else {
        lines.push(`${p}:${stampOf(info)}`);
      }
    });
    for (const sub of subdirs) await visit(sub, false);
  };
  const info = await stat(root).catch(() => null);
  if (info === null) return 'missing';
  if (info.isDirectory()) await visit(root, true);
  else lines.push(`${root}:${stampOf(info)}`);
  // Concurrent stats finish in any order: sort so the same tree always gives the same print.
  lines.sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

/** Fingerprints of the local sources; `files` is null when not taken (a `roots` check). */
export interface SourcePrint {
  roots: string;
  files: string | null;
}

/**
 * The local bundle (null for a remote one, which is checked by its ETag instead) and the data
 * directory: their roots always, every data file with `depth` 'files'.
 */
export async function localPrint(
  bundle: string | null,
  dataDir: string | null,
  depth: 'roots' | 'files',
): Promise<SourcePrint> {
  const [bundleRoot, bundleTree, dataRoot, dataFiles] = await Promise.all([
    bundle === null ? '' : rootPrint(bundle),
    // A bundle is a file or a small directory: all of it is part of the cheap check.
    bundle === null ? '' : treePrint(bundle),
    dataDir === null ? '' : rootPrint(dataDir),
    dataDir === null || depth === 'roots' ? null : treePrint(dataDir, { skipDotAtRoot: true }),
  ]);
  return { roots: `${bundleRoot}|${bundleTree}|${dataRoot}`, files: dataFiles };
}
