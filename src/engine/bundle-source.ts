import { readBundleFiles } from './bundle';

/**
 * Where a bundle comes from: a local directory or .tar.gz (watched by the engine), or an http(s) URL
 * (polled with ETags). A source only fetches bytes; verification and parsing are the engine's.
 */
export type BundleRead =
  /** The source knows nothing changed since the last committed read (HTTP 304, or identical bytes). */
  | { readonly status: 'unchanged' }
  /** Raw files (names without a leading slash), to verify and parse. */
  | {
      readonly status: 'files';
      readonly files: Map<string, Buffer>;
      readonly source: string;
      /** Call once the engine has accepted these files: a remote source then advances its ETag. */
      readonly commit: () => void;
    };

export interface BundleSource {
  readonly kind: 'local' | 'remote';
  /** The configured location (path or URL), as logged. */
  readonly location: string;
  read(): Promise<BundleRead>;
  /** Remote sources: the delay before the next poll, grown by backoff after failed fetches. */
  nextPollDelayMs?(pollMs: number): number;
  /** Forgets cached validators (ETag), so the next read fetches the whole bundle. */
  reset?(): void;
}

/** A bundle directory or .tar.gz on disk. */
export class LocalBundleSource implements BundleSource {
  readonly kind = 'local';

  /** `allFiles`: read every file of a directory bundle (needed when signatures are checked). */
  constructor(
    readonly location: string,
    private readonly opts: { allFiles: boolean },
  ) {}

  async read(): Promise<BundleRead> {
    const files = await readBundleFiles(this.location, { allFiles: this.opts.allFiles });
    return { status: 'files', files, source: this.location, commit: () => undefined };
  }
}

export function isBundleUrl(location: string): boolean {
  return /^https?:\/\//i.test(location);
}
