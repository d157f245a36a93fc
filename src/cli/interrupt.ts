/**
 * Ctrl-C for long-running commands: the first SIGINT aborts the work's signal (it stops after its current
 * `unit` and records 'interrupted'), a second exits at once. An error the work throws because it was
 * interrupted (`interrupted(err)`) is printed as one line and exits 130.
 */
export async function withInterrupt<T>(unit: string, interrupted: (err: unknown) => boolean, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: stop now
    process.stderr.write(`\nclusterkv: stopping after the current ${unit} (Ctrl-C again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } catch (err) {
    if (interrupted(err)) {
      process.stderr.write(`clusterkv: ${(err as Error).message}\n`);
      process.exit(130);
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
