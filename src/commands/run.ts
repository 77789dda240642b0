/**
 * `firehose-redis run`: the service, until a signal or a fatal error.
 */
import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { Service } from '../service.js';

export async function runService(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const config = loadConfig(env);
  const log = createLogger(config.logLevel, config.logFormat);
  const service = new Service(config, log);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn(`second ${signal}: exiting at once`);
      process.exit(1);
    }
    void service.stop(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await service.start();
  return service.done;
}
