/**
 * `firehose-redis run`: the service, until a signal or a fatal error.
 */
import { loadConfig, unknownSettings } from '../config.js';
import { createLogger } from '../log.js';
import { Service } from '../service.js';

/**
 * Under `npm start`, Ctrl-C reaches us twice at once: from the terminal and
 * forwarded by npm. A repeat this soon is the same request, not impatience.
 */
const SAME_SIGNAL_MS = 250;

export async function runService(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const config = loadConfig(env);
  const log = createLogger(config.logLevel, config.logFormat);
  for (const u of unknownSettings(env)) log.warn({ variable: u.name, didYouMean: u.suggestions }, u.message);
  const service = new Service(config, log);
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstSignalAt === undefined) {
      firstSignalAt = Date.now();
      void service.stop(signal);
    } else if (Date.now() - firstSignalAt >= SAME_SIGNAL_MS) {
      log.warn(`second ${signal}: exiting at once`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await service.start();
  return service.done;
}
