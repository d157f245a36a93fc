/** Entry point of the `clusterkv` command (bin/clusterkv.js loads this through tsx). */
import { runCli } from './program.js';

// A closed pipe (`clusterkv info F | head`) ends the command quietly instead of crashing it.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
