/** Entry point of the `clusterkv` command (bin/clusterkv.js loads this through tsx). */
import { runCli } from './program.js';

runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
