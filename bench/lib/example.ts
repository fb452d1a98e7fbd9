import pino from 'pino';
import { loadConfig, type Config } from '../../src/config';
import { Metrics } from '../../src/metrics';
import { buildServices, type ServiceOverrides, type Services } from '../../src/services';

/** The service's defaults (an empty environment) with no decision log, as a benchmark changes them. */
export function benchConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), decisionLog: 'off', ...overrides };
}

/**
 * The embedded default as the service wires it (buildServices): compiled example policies and
 * the example directory in memory, a silent logger, no process metrics.
 */
export async function exampleServices(
  config: Partial<Config> = {},
  overrides: ServiceOverrides = {},
): Promise<Services> {
  const services = await buildServices(benchConfig(config), {
    logger: pino({ level: 'silent' }),
    metrics: new Metrics({ defaultMetrics: false }),
    ...overrides,
  });
  if (!services.engine.ready) throw new Error(`no policy bundle loaded from ${services.config.bundle}`);
  return services;
}
