import type { Check } from './report';
import type { Settings } from './settings';

export interface ScenarioContext {
  settings: Settings;
  /** A private temporary directory for the scenario's files. */
  tmp: string;
  /** Progress lines while the scenario runs. */
  log: (message: string) => void;
}

export interface ScenarioOutcome {
  figures: Record<string, unknown>;
  checks: Check[];
}

export interface Scenario {
  name: string;
  title: string;
  /** Upper bound for the whole scenario, start-up and clean-up included. */
  deadlineSeconds: (settings: Settings) => number;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
